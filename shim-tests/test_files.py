"""Regular-file reads (page cache first, the disk on an offload worker) and fsync keep the
native results."""

from conftest import assert_ok, run_prog

EXPECTED = """\
cached: read 3145851 bytes in 49 calls, short reads before EOF 0, in order 1, position 3145851
evicted: read 3145851 bytes in 4 calls, short reads before EOF 0, in order 1, position 3145851
pread at 2 MiB: 100 right 1, position still 5
pread across EOF: 10; at EOF: 0
pread at -1: -1 EINVAL
read of a directory: -1 EISDIR
read of a write-only fd: -1 EBADF
fsync=0 fdatasync=0
dup2(-1, fd)=-1 EBADF, fd still open: 1
"""


def test_regular_file_reads(mode):
    """A 3 MiB file read in a thread (another thread ticking) from the page cache and after
    its pages were evicted: every read full up to end of file, bytes in order, the file
    position where a blocking read leaves it; pread at an offset leaves the position alone;
    EOF, EINVAL, EISDIR and EBADF as natively; fsync and fdatasync succeed; dup2 from -1
    is EBADF (and leaves the target open)."""
    r = assert_ok(run_prog("file_reads", [], mode))
    assert r.stdout == EXPECTED, r.describe()
