"""readv, writev and the socket message calls: recvfrom, sendto, recvmsg, sendmsg, recvmmsg,
sendmmsg.

Each scenario of io_msg prints one line per check (return values, errno names, byte counts,
checksums, flags); the expected text below is what the kernel gives a blocking program
natively, and a greened run must print exactly the same. Lines that would vary between runs
(elapsed time, how much a non-blocking write queued) are printed as bound checks.

What the scenarios pin down:
  * blocking writev, sendto, sendmsg and sendmmsg on streams return only when every byte is
    queued, however slowly the reader drains (8 MiB; the reader checks every byte, and an fd
    passed with sendmsg arrives exactly once); the caller's iovec array is left as it was;
  * readv fills its buffers in order, and after a short read the next one waits for data;
  * datagrams keep their boundaries, source addresses, MSG_TRUNC and MSG_CTRUNC; SCM_RIGHTS
    passes a working fd, and the read after a message that carried one is not lost;
  * blocking calls wait for data sent later by another thread (this is what deadlocks if a
    hook blocks the one OS thread greened programs run on);
  * recvmmsg: MSG_WAITFORONE, a timeout checked only after each message (as the kernel
    does), the time left written back, invalid timeouts; sendmmsg stops at a bad message;
  * MSG_WAITALL on stream sockets, up to EOF and up to a message carrying an fd;
  * MSG_PEEK, then read;
  * MSG_DONTWAIT, MSG_ERRQUEUE, MSG_OOB and O_NONBLOCK fail at once;
  * sockets and pipes made with syscall(2) stand for descriptors a program inherits: the
    library must wait on them without ever making them non-blocking;
  * EBADF, ENOTSOCK, EFAULT and EINVAL come from the kernel, as natively (a bad pointer must
    never crash the library before the kernel can refuse it).
"""

import pytest

from conftest import assert_ok, run_prog

# "E<n>" is an errno common.h has no name for: E89 is EDESTADDRREQ.
EXPECTED = {
    "writev_socketpair": """\
writev_socketpair ret=8388608 read=8388608 ok=1
""",
    "writev_tcp": """\
writev_tcp ret=8388608 read=8388608 ok=1
""",
    "writev_pipe": """\
writev_pipe ret=8388608 read=8388608 ok=1
""",
    "writev_rawpipe": """\
writev_rawpipe ret=8388608 read=8388608 ok=1
""",
    "writev_rawsocketpair": """\
writev_rawsocketpair ret=8388608 read=8388608 ok=1
""",
    "readv": """\
readv_queued ret=40 b0="0123456789" b1="abcdefghijklmnopqrst" b2="uvwxyzABCD"
readv_short ret=15 b0="EFGHIJKLMN" b1="OPQRS" b2=""
readv_waits ret=5 b0="later" b1="" b2=""
readv_waits waited=1
readv_rawpipe ret=18 b0="through a " b1="raw pipe" b2=""
readv_zero_length ret=0
readv_no_iovecs ret=0
readv_after_zero ret=3 b0="xyz" b1="" b2=""
readv_udp_cut ret=60 b0="uuuuuuuuuu" b1="uuuuuuuuuuuuuuuuuuuu" b2="uuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
readv_udp_small ret=4 b0="tiny" b1="" b2=""
""",
    "udp": """\
sendto_0 ret=10
sendto_1 ret=200
sendto_2 ret=1
recvfrom_0 ret=10 sum=41993c80 addrlen=16 src_ok=1
recvfrom_0 same=1
recvfrom_1 ret=200 sum=31116c39 addrlen=16 src_ok=1
recvfrom_1 same=1
recvfrom_2 ret=1 sum=0b0c6691 addrlen=16 src_ok=1
recvfrom_2 same=1
recvfrom_cut ret=50 sum=22f87b28 addrlen=16 src_ok=1
recvfrom_msg_trunc ret=200 sum=22f87b28 addrlen=16 src_ok=1
recvfrom_short_addr ret=1 addrlen=16 family=2
recvfrom_no_addr ret=2
sendto_bad_addrlen ret=-1 errno=EINVAL
sendto_unconnected_no_addr ret=-1 errno=E89
""",
    "recvfrom_wait": """\
recvfrom_wait ret=9 sum=ac10c930 addrlen=16 src_ok=1
recvfrom_wait waited=1 data="late news"
""",
    "scm_rights": """\
scm_rights_recvmsg ret=5 data="hello" flags=0x0 controllen=24 level_ok=1 type_ok=1 fd_ok=1
scm_rights_no_room ret=5 data="again" ctrunc=1 controllen=0
scm_rights_after ret=4 data="tail" flags=0x0
scm_rights_tiny_control ret=5 ctrunc=1 controllen=0
recvmsg_trunc ret=10 flags=0x20 trunc=1 namelen=0 sum=41993c80
recvmsg_flag_trunc ret=100 trunc=1
recvmsg_dgram_wait ret=11 data="dgram later" flags=0x0
""",
    "mmsg": """\
sendmmsg_5 ret=5
recvmmsg_waitforone_queued ret=5 [2 "m0" namelen=16] [2 "m1" namelen=16] [2 "m2" namelen=16] [2 "m3" namelen=16] [2 "m4" namelen=16]
recvmmsg_blocking_3 ret=3 [2 "p0" namelen=16] [2 "p1" namelen=16] [2 "p2" namelen=16]
recvmmsg_blocking_3 waited=1
recvmmsg_waitforone_waits ret_ok=1 total=2 first="t0" waited=1
recvmmsg_zero_timeout ret=1 [2 "z0" namelen=16]
recvmmsg_zero_timeout left=0.000000000
recvmmsg_dontwait_rest ret=2 [2 "z1" namelen=16] [2 "z2" namelen=16]
recvmmsg_timeout_left ret=4 [2 "q0" namelen=16] [2 "q1" namelen=16] [2 "q2" namelen=16] [2 "q3" namelen=16]
recvmmsg_timeout_left left_ok=1
recvmmsg_timeout_late ret=2 [2 "p0" namelen=16] [2 "s0" namelen=16]
recvmmsg_timeout_late waited=1 left=0.000000000
recvmmsg_timeout_late_rest ret=3 [2 "s1" namelen=16] [2 "l0" namelen=16] [2 "l1" namelen=16]
recvmmsg_bad_timeout ret=-1 errno=EINVAL
recvmmsg_negative_timeout ret=-1 errno=EINVAL
recvmmsg_still_queued ret=1 [2 "i0" namelen=16]
recvmmsg_vlen_0 ret=0
sendmmsg_bad_second ret=1
sendmmsg_bad_first ret=-1 errno=EINVAL
sendmmsg_vlen_0 ret=0
recvmmsg_after_bad ret=1 [1 "a" namelen=16]
""",
    "sendmmsg_stream": """\
sendmmsg_stream ret=2 lens=4194304,4194304 read=8388608 ok=1
""",
    "sendmmsg_tcp": """\
sendmmsg_tcp ret=2 lens=4194304,4194304 read=8388608 ok=1
""",
    "sendto_stream": """\
sendto_stream ret=4194304 read=4194304 ok=1 fds=0
""",
    "sendto_tcp": """\
sendto_tcp ret=4194304 read=4194304 ok=1 fds=0
""",
    "sendmsg_stream": """\
sendmsg_stream ret=8388608 read=8388608 ok=1 fds=1
""",
    "waitall": """\
waitall_recvfrom ret=1000 ok=1 addrlen=0
waitall_recvmsg ret=1000 ok=1 flags=0x0
waitall_eof ret=500 ok=1
waitall_after_eof ret=0
waitall_fd_midway ret=200 ok=1 fds=1
waitall_rest ret=200 total=400 ok=1
waitall_tcp ret=1000 ok=1 addrlen=0
""",
    "peek": """\
peek_stream ret=4 data="abcd"
read_after_peek ret=6 data="abcdef"
peek_waits ret=4 data="ghij" read=6 data="ghijkl"
recvmsg_peek ret=3 data="mno"
recvmsg_after_peek ret=6 data="mnopqr"
peek_udp ret=4 data="data"
recvfrom_after_peek ret=8 data="datagram"
""",
    "dontwait": """\
recvfrom_dontwait_udp ret=-1 errno=EAGAIN at_once=1
recvmsg_dontwait_udp ret=-1 errno=EAGAIN at_once=1
recvmmsg_dontwait_udp ret=-1 errno=EAGAIN at_once=1
recvmsg_errqueue_udp ret=-1 errno=EAGAIN at_once=1
recv_oob_tcp_none ret=-1 errno=EINVAL at_once=1
recvfrom_dontwait_stream ret=-1 errno=EAGAIN at_once=1
sendmsg_dontwait_fill filled=1 errno=EAGAIN
sendto_dontwait_full ret=-1 errno=EAGAIN at_once=1
sendmsg_dontwait_full ret=-1 errno=EAGAIN at_once=1
sendmmsg_dontwait_full ret=-1 errno=EAGAIN at_once=1
readv_nonblock_empty ret=-1 errno=EAGAIN at_once=1
recvmsg_nonblock_empty ret=-1 errno=EAGAIN at_once=1
writev_nonblock_partial partial=1 at_once=1
writev_nonblock_full ret=-1 errno=EAGAIN at_once=1
""",
    "foreign": """\
foreign_readv_waits ret=13 b0="fore" b1="ign bytes"
foreign_readv_waits waited=1
foreign_recvmsg_waits ret=4 b0="more" b1=""
foreign_readv_zero_length ret=0
foreign_readv_after_zero ret=3 b0="xyz" b1=""
foreign_waitall ret=400 ok=1
foreign_dontwait_empty ret=-1 errno=EAGAIN
foreign_stream_0 nonblock=0
foreign_stream_1 nonblock=0
foreign_recvmmsg ret=3 [2 "p0" namelen=16] [2 "p1" namelen=16] [2 "p2" namelen=16]
foreign_recvfrom ret=2 data="p0"
foreign_udp nonblock=0
""",
    "ebadf": """\
closed_writev ret=-1 errno=EBADF
closed_readv ret=-1 errno=EBADF
closed_recvfrom ret=-1 errno=EBADF
closed_recvfrom_waitall ret=-1 errno=EBADF
closed_sendto ret=-1 errno=EBADF
closed_recvmsg ret=-1 errno=EBADF
closed_recvmsg_waitall ret=-1 errno=EBADF
closed_sendmsg ret=-1 errno=EBADF
closed_recvmmsg ret=-1 errno=EBADF
closed_recvmmsg_timeout ret=-1 errno=EBADF
closed_sendmmsg ret=-1 errno=EBADF
negative_writev ret=-1 errno=EBADF
negative_readv ret=-1 errno=EBADF
negative_recvfrom ret=-1 errno=EBADF
negative_recvfrom_waitall ret=-1 errno=EBADF
negative_sendto ret=-1 errno=EBADF
negative_recvmsg ret=-1 errno=EBADF
negative_recvmsg_waitall ret=-1 errno=EBADF
negative_sendmsg ret=-1 errno=EBADF
negative_recvmmsg ret=-1 errno=EBADF
negative_recvmmsg_timeout ret=-1 errno=EBADF
negative_sendmmsg ret=-1 errno=EBADF
""",
    "enotsock": """\
pipe_writev ret=2
pipe_readv ret=2
pipe_recvfrom ret=-1 errno=ENOTSOCK
pipe_recvfrom_waitall ret=-1 errno=ENOTSOCK
pipe_sendto ret=-1 errno=ENOTSOCK
pipe_recvmsg ret=-1 errno=ENOTSOCK
pipe_recvmsg_waitall ret=-1 errno=ENOTSOCK
pipe_sendmsg ret=-1 errno=ENOTSOCK
pipe_recvmmsg ret=-1 errno=ENOTSOCK
pipe_recvmmsg_timeout ret=-1 errno=ENOTSOCK
pipe_sendmmsg ret=-1 errno=ENOTSOCK
rawpipe_recvfrom ret=-1 errno=ENOTSOCK at_once=1
file_writev ret=5
file_sendto ret=-1 errno=ENOTSOCK
file_readv ret=5 b0="ab" b1="cde"
""",
    "efault": """\
readv_bad_iov ret=-1 errno=EFAULT
writev_bad_iov ret=-1 errno=EFAULT
readv_iovcnt_negative ret=-1 errno=EINVAL
readv_iovcnt_too_many ret=-1 errno=EINVAL
writev_iovcnt_too_many ret=-1 errno=EINVAL
recvmsg_bad_msg ret=-1 errno=EFAULT
recvmsg_waitall_bad_msg ret=-1 errno=EFAULT
sendmsg_bad_msg ret=-1 errno=EFAULT
recvmsg_bad_iov ret=-1 errno=EFAULT
sendmsg_bad_iov ret=-1 errno=EFAULT
sendmmsg_bad_vec ret=-1 errno=EFAULT
sendto_bad_buf ret=-1 errno=EFAULT
recvfrom_bad_buf ret=-1 errno=EFAULT
recvmmsg_bad_timeout_ptr ret=-1 errno=EFAULT
recvmmsg_bad_vec ret=-1 errno=EFAULT
""",
}


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_io_msg(scenario, mode):
    r = assert_ok(run_prog("io_msg", [scenario], mode, timeout=60))
    assert r.stdout == EXPECTED[scenario], r.describe()


@pytest.mark.parametrize("call", ["sendmsg", "sendmmsg"])
def test_passed_pipes_arrive_blocking(call, mode):
    """300 pipe ends passed with SCM_RIGHTS to a forked receiver, which looks at each in the
    kernel's record the moment it arrives: none is non-blocking (a description has one
    O_NONBLOCK for all its holders, so greened ours must be gone before the kernel hands
    it over). Both processes share one CPU, so that the receiver often runs the moment the
    message is sent: when the O_NONBLOCK went only after the send, the receiver saw it (a
    forkserver's child read EAGAIN from its pipe). sendmmsg passes them two messages per
    call."""
    r = assert_ok(run_prog("pass_fds", [300, call], mode, timeout=60))
    assert r.stdout == ("received 300: arrived non-blocking=0, EAGAIN at once=0\n"
                        "header longer than its buffer: sendmsg=-1 EINVAL\n"), r.describe()
