"""Regular-file reads (page cache first, the disk on an offload worker) and fsync keep the
native results."""

import re

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


DIRECT_EXPECTED = """\
direct: read 3145851 bytes in 4 calls, in order 1, position 3145851
direct, misaligned buffer: -1 EINVAL
O_DIRECT cleared, misaligned pread: 100 right 1
"""


def test_o_direct_reads_go_to_a_worker(mode):
    """Reads through an O_DIRECT descriptor (which RWF_NOWAIT would make inline, waiting for
    the device on the hub) run on an offload worker: the same bytes, file position and
    EINVAL for a misaligned buffer as natively, and greened every one of them offloaded;
    once F_SETFL clears O_DIRECT, reads take the page-cache path again."""
    r = assert_ok(run_prog("file_reads", ["direct"], mode, env={"GREEN_STATS": "1"}))
    assert r.stdout == DIRECT_EXPECTED, r.describe()
    if mode == "greened":
        offloaded = int(re.search(r"offloaded=(\d+)", r.stderr).group(1))
        # Five reads (the last at end of file) and the misaligned pread.
        assert offloaded >= 6, r.describe()
