"""SO_RCVTIMEO and SO_SNDTIMEO bound green waits as they bound blocking calls natively; reads
of eventfds, timerfds, signalfds and inotify descriptors wait green."""

import socket
import time

from conftest import assert_ok, run_prog, start_prog

EXPECTED = """\
getsockopt SO_RCVTIMEO: 0.152000
recv after SO_RCVTIMEO 150 ms: -1 EAGAIN, waited about 150 ms: yes, ticker ran: yes
read after SO_RCVTIMEO 150 ms: -1 EAGAIN, waited about 150 ms: yes
recv with data there: 3
recv after SO_RCVTIMEO 0 on a dup, data 300 ms later: 4, waited about 300 ms: yes
recv on the dup after SO_RCVTIMEO 400 ms: -1 EAGAIN, waited about 400 ms: yes
send of 16 MiB after SO_SNDTIMEO 150 ms: partial yes, waited about 150 ms: yes
send to a full socket: -1 EAGAIN, waited about 150 ms: yes
accept after SO_RCVTIMEO 150 ms: -1 EAGAIN, waited about 150 ms: yes
"""


def test_socket_timeouts(mode):
    """recv, read and accept give up with EAGAIN after SO_RCVTIMEO (while a ticker thread
    keeps running: the wait is green), a 16 MiB send nobody reads returns its partial count
    after SO_SNDTIMEO, a send to a full socket EAGAIN; the timeout reads back as the kernel
    rounded it (to its clock tick). A timeout changed after a wait used it, through a dup of
    the socket, is the one the next wait honours (the value is cached per description)."""
    r = assert_ok(run_prog("sock_timeouts", [], mode))
    assert r.stdout == EXPECTED, r.describe()


ANON_EXPECTED = """\
eventfd: read 8 value 3, ticker ran yes
timerfd: read 8 expirations 1, ticker ran yes
signalfd: read 128 signal SIGUSR1, ticker ran yes
inotify: read ok event IN_CREATE name new, ticker ran yes
"""


def test_eventfd_timerfd_signalfd_inotify_reads(mode):
    """Blocking reads of an eventfd, a timerfd, a signalfd and an inotify descriptor wait
    green: each returns what it returns natively, and a ticker thread runs meanwhile."""
    r = assert_ok(run_prog("anon_fds", [], mode))
    assert r.stdout == ANON_EXPECTED, r.describe()


def test_waitall_on_an_inherited_socket(mode):
    """recv(MSG_WAITALL) of 100 bytes on a socket inherited as stdin waits for all 100,
    sent in three pieces 50 ms apart, from its very first call."""
    ours, theirs = socket.socketpair()
    proc = start_prog("waitall_stdin", [], mode, stdin=theirs.fileno())
    theirs.close()
    for piece in (b"a" * 30, b"b" * 30, b"c" * 40):
        time.sleep(0.05)
        ours.sendall(piece)
    assert proc.wait() == 0, proc.describe()
    ours.close()
    assert proc.stdout == "recv(MSG_WAITALL) returned 100\n", proc.describe()
