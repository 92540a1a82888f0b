#!/usr/bin/env python3
"""Real programs natively and greened, each driven by its own load tool, every reply verified.

For each program: start it natively on a private port with its data under
build/compat-programs/, run its load tool for a few seconds, check the replies, sample the
OS threads of the server's processes (/proc/PID/task) during the load, stop it; then the
same with libgreen.so preloaded into the server (the load tool always runs natively). The
table goes to scripts/COMPAT_PROGRAMS.md: OS threads, throughput, p99 and errors in both
modes, and a status.

| program | load | verification |
|---|---|---|
| redis-server | redis-benchmark SET and GET, 50 connections | a SET/GET round of our own over a socket, every value compared |
| memcached -t 4 | a client of our own (memtier_benchmark is not packaged): 50 connections, pipelined set+get | every reply compared byte for byte |
| nginx (Debian's configuration) | wrk, 50 connections, a Lua script that checks each reply | status 200 and the whole body |
| PostgreSQL | pgbench TPC-B, 8 clients | what the run added to accounts, branches and tellers equals its history (pgbench truncates the history first), one history row per transaction |
| MariaDB, default InnoDB settings | sysbench oltp_read_write, 8 threads | row counts, CHECK TABLE, a table of known rows read back |
| Python, 50 threads, psycopg2 | the program itself, against a native PostgreSQL | every query's result compared |

Missing programs are installed with apt-get. PostgreSQL refuses to run as root: it runs as
the `postgres` user (runuser). The machine's noise shows in absolute figures: compare the
ratio of one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBGREEN = Path(os.environ.get("LIBGREEN") or ROOT / "target/release/libgreen.so").resolve()
WORK = ROOT / "build/compat-programs"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SYSTEM_PYTHON = "/usr/bin/python3"   # where python3-psycopg2 is installed
MODES = ("native", "greened")
# command -> Debian package providing it
PACKAGES = {
    "redis-server": "redis-server", "redis-benchmark": "redis-tools",
    "memcached": "memcached", "nginx": "nginx-light", "wrk": "wrk",
    str(PG_BIN / "postgres"): "postgresql-15", "pgbench": "postgresql-client-15",
    "mariadbd": "mariadb-server", "mariadb": "mariadb-client", "sysbench": "sysbench",
    "lighttpd": "lighttpd",
}
# Python module -> Debian package, for the system interpreter
PY_PACKAGES = {"psycopg2": "python3-psycopg2", "pymysql": "python3-pymysql",
               "MySQLdb": "python3-mysqldb"}


class Failed(Exception):
    """The program could not be run or served wrongly; the message says how."""


@dataclass
class Result:
    program: str
    mode: str
    throughput: float = 0.0
    unit: str = "req/s"
    p99_ms: float | None = None
    errors: int = 0
    threads: int = 0          # peak OS threads of the largest process
    procs: int = 0            # peak number of processes
    greened: bool = False     # libgreen.so was mapped in the server
    failure: str | None = None
    notes: list = field(default_factory=list)

    def threads_text(self) -> str:
        if self.procs > 1:
            return f"{self.threads} ×{self.procs} procs"
        return str(self.threads)


# ---------------------------------------------------------------- processes and sampling

def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                text = Path(f"/proc/{p}/task/{task}/children").read_text()
                todo += [int(c) for c in text.split()]
        except OSError:
            pass
    return out


class Sampler:
    """Peak OS threads per process and number of processes under `root` (a launcher such as
    runuser is left out by `comm`), and whether libgreen.so is mapped in them."""

    def __init__(self, root: int, comm: str | None = None):
        self.root, self.comm = root, comm
        self.threads = self.procs = 0
        self.mapped = False
        self.names: list[str] = []   # the threads of the largest process, at its peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.1)

    def sample(self) -> None:
        procs = 0
        for pid in tree(self.root):
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                if self.comm and not comm.startswith(self.comm):
                    continue
                tasks = os.listdir(f"/proc/{pid}/task")
                n = len(tasks)
                if n > self.threads:
                    self.names = [Path(f"/proc/{pid}/task/{t}/comm").read_text().strip()
                                  for t in tasks]
                if not self.mapped:
                    self.mapped = "libgreen.so" in Path(f"/proc/{pid}/maps").read_text()
            except OSError:
                continue
            procs += 1
            self.threads = max(self.threads, n)
        self.procs = max(self.procs, procs)

    def stop(self, result: Result) -> None:
        self._stop.set()
        self._thread.join()
        result.threads, result.procs, result.greened = self.threads, self.procs, self.mapped
        if result.mode == "greened" and self.threads > 1:
            names = {n: self.names.count(n) for n in self.names}
            result.notes.append("OS threads: " + ", ".join(
                f"{n}{f' ×{c}' if c > 1 else ''}" for n, c in names.items()))


def env_for(mode: str) -> list[str]:
    """Command prefix: `env` execs the program, so it keeps the pid it was started with."""
    if mode == "greened":
        return ["env", f"LD_PRELOAD={LIBGREEN}", "GREEN_STATS=1"]
    return ["env", "-u", "LD_PRELOAD"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> float:
    """Seconds until something accepts on `port`; Failed if `proc` exits first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise Failed(f"exited with status {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return time.monotonic() - start
        except OSError:
            time.sleep(0.05)
    raise Failed(f"not listening on port {port} after {timeout:.0f} s")


def run(cmd: list[str], timeout: float = 120, check: bool = True, **kw) -> str:
    """Runs a tool natively and returns its stdout (stderr joined)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout, env=env, **kw)
    except subprocess.TimeoutExpired:
        raise Failed(f"`{Path(cmd[0]).name}` hung: not done after {timeout:.0f} s") from None
    if check and p.returncode != 0:
        raise Failed(f"`{' '.join(map(str, cmd[:3]))}` exited {p.returncode}: "
                     f"{' | '.join(p.stdout.strip().splitlines()[-3:])}")
    return p.stdout


class Server:
    """A server process, its log, and the sampler watching it."""

    def __init__(self, argv: list[str], log: Path, mode: str, comm: str | None = None,
                 user: str | None = None):
        cmd = env_for(mode) + argv
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        self.log_path = log
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.sampler = Sampler(self.proc.pid, comm)

    def stop(self, result: Result, how=None, timeout: float = 60, ended: bool = False) -> None:
        """Stops the server (`how()`, else SIGTERM), notes an unclean exit. `ended`: a
        program that was expected to exit by itself."""
        self.sampler.stop(result)
        if ended:
            pass
        elif self.proc.poll() is not None:
            result.notes.append(f"server exited on its own, status {self.proc.returncode}")
        else:
            try:
                how() if how else self.proc.terminate()
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, Failed, subprocess.CalledProcessError) as e:
                result.notes.append(f"did not stop within {timeout:.0f} s ({e}); killed")
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
            if self.proc.returncode not in (0, -15):
                result.notes.append(f"exit status {self.proc.returncode} when stopped")
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass
        self.log.close()
        text = self.log_path.read_text(errors="replace")
        detected = [ln for ln in text.splitlines() if "running natively" in ln]
        if detected:
            result.notes.append(detected[0])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


# ---------------------------------------------------------------- redis

def resp(*args: str) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode()
        out += f"${len(b)}\r\n".encode() + b + b"\r\n"
    return out


def redis_verify(port: int, n: int = 20000) -> int:
    """SETs n random values (pipelined, 100 at a time), GETs them back; the wrong replies."""
    values = {f"verify:{i}": hashlib.sha1(os.urandom(8)).hexdigest() * 2 for i in range(n)}
    bad = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")
        keys = list(values)
        for i in range(0, n, 100):
            chunk = keys[i:i + 100]
            s.sendall(b"".join(resp("SET", k, values[k]) for k in chunk))
            bad += sum(f.readline() != b"+OK\r\n" for _ in chunk)
            s.sendall(b"".join(resp("GET", k) for k in chunk))
            for k in chunk:
                head, body = f.readline(), None
                if head.startswith(b"$") and int(head[1:]) >= 0:
                    body = f.read(int(head[1:]) + 2)[:-2].decode()
                bad += body != values[k]
    return bad


def redis(mode: str, res: Result) -> None:
    port, d = free_port(), WORK / "redis"
    d.mkdir(parents=True, exist_ok=True)
    srv = Server(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
                  "--save", "", "--appendonly", "no"], d / f"{mode}.log", mode)
    try:
        wait_port(port, srv.proc)
        out = run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", "150000", "-d", "64",
                   "-r", "100000", "-t", "set,get", "--csv"], timeout=300)
        srv.sampler.sample()
        rows = [ln.replace('"', "").split(",") for ln in out.splitlines() if ln.startswith('"')]
        rows = [r for r in rows if r[0] in ("SET", "GET")]
        if len(rows) != 2:
            raise Failed(f"redis-benchmark printed no results: {out[-300:]!r}")
        res.throughput = 2 * 150000 / sum(150000 / float(r[1]) for r in rows)
        res.p99_ms = max(float(r[6]) for r in rows)
        res.errors = redis_verify(port)
        res.notes.append("SET/GET rps " + ", ".join(f"{r[0]} {float(r[1]):.0f}" for r in rows))
    finally:
        srv.stop(res, lambda: run(["redis-cli", "-p", str(port), "shutdown", "nosave"],
                                  check=False))


# ---------------------------------------------------------------- memcached

def memcached_client(port: int, conns: int, seconds: float, depth: int) -> dict:
    """`conns` connections, each sending `depth` set+get pairs at a time and checking every
    byte of the replies. Latency is that of a batch (send to last reply)."""
    sel = selectors.DefaultSelector()
    state = {}
    for c in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        state[s] = {"id": c, "n": 0, "buf": b"", "want": b"", "t0": 0.0}
        sel.register(s, selectors.EVENT_READ)
    lat, ops, bad = [], 0, 0
    end = time.monotonic() + seconds

    def send(s, st):
        req, want = [], []
        for _ in range(depth):
            key = f"k{st['id']}:{st['n'] % 1000}"
            val = f"{st['id']}-{st['n']}-{random.getrandbits(64):x}".encode() * 4
            st["n"] += 1
            req.append(f"set {key} 0 0 {len(val)}\r\n".encode() + val + b"\r\n"
                       + f"get {key}\r\n".encode())
            want.append(b"STORED\r\n" + f"VALUE {key} 0 {len(val)}\r\n".encode() + val
                        + b"\r\nEND\r\n")
        st["want"], st["buf"], st["t0"] = b"".join(want), b"", time.monotonic()
        s.sendall(b"".join(req))

    for s, st in state.items():
        send(s, st)
    open_conns = len(state)
    while open_conns:
        for key, _ in sel.select(timeout=10):
            s, st = key.fileobj, state[key.fileobj]
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit(json.dumps({"error": "connection closed by the server"}))
            st["buf"] += chunk
            if len(st["buf"]) < len(st["want"]):
                continue
            lat.append(time.monotonic() - st["t0"])
            ops += 2 * depth
            bad += st["buf"] != st["want"]
            if time.monotonic() < end:
                send(s, st)
            else:
                sel.unregister(s)
                s.close()
                open_conns -= 1
    elapsed = seconds + max(0.0, time.monotonic() - end)
    return {"ops_s": ops / elapsed, "p99_ms": percentile(lat, 0.99) * 1000, "errors": bad}


def memcached(mode: str, res: Result) -> None:
    port, d = free_port(), WORK / "memcached"
    d.mkdir(parents=True, exist_ok=True)
    user = ["-u", "root"] if os.geteuid() == 0 else []
    srv = Server(["memcached", "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-t", "4"] + user,
                 d / f"{mode}.log", mode)
    try:
        wait_port(port, srv.proc)
        out = run([sys.executable, __file__, "--client", "memcached", str(port)], timeout=120)
        srv.sampler.sample()
        r = json.loads(out.strip().splitlines()[-1])
        if "error" in r:
            raise Failed(r["error"])
        res.throughput, res.unit, res.p99_ms = r["ops_s"], "ops/s", r["p99_ms"]
        res.errors = r["errors"]
    finally:
        srv.stop(res)


# ---------------------------------------------------------------- nginx

WRK_VERIFY = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0; expected = io.open("%s"):read("*a") end
function response(status, headers, body)
  if status == 200 and body == expected then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("VERIFY ok=%%d bad=%%d\\n", o, b))
end
"""


def nginx_conf(d: Path, port: int, location: str = "") -> Path:
    """Debian's /etc/nginx/nginx.conf with its paths and port made private (and a location
    block of the caller's inside the server)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = d / "nginx.conf"
    conf.write_text(f"""{user}worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log;
daemon off;
events {{ worker_connections 768; }}
http {{
    sendfile on; tcp_nopush on; types_hash_max_size 2048;
    include /etc/nginx/mime.types; default_type application/octet-stream;
    access_log {d}/access.log; gzip on;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    server {{ listen 127.0.0.1:{port}; root {d}/html; index index.html; {location} }}
}}
""")
    return conf


def web_root(d: Path) -> Path:
    """A 4 KiB index.html of known content under d/html, and wrk's script checking it."""
    (d / "html").mkdir(parents=True, exist_ok=True)
    (d / "tmp").mkdir(exist_ok=True)
    page = d / "html/index.html"
    page.write_bytes(b"".join(hashlib.sha256(str(i).encode()).hexdigest().encode() + b"\n"
                              for i in range(64)))
    (d / "verify.lua").write_text(WRK_VERIFY % page)
    return page


def nginx(mode: str, res: Result) -> None:
    port, d = free_port(), WORK / "nginx"
    web_root(d)
    srv = Server(["nginx", "-e", str(d / "error.log"), "-c", str(nginx_conf(d, port))],
                 d / f"{mode}.log", mode, comm="nginx")
    try:
        wait_port(port, srv.proc)
        wrk_load(port, d, res)
        srv.sampler.sample()
    finally:
        srv.stop(res, lambda: os.kill(srv.proc.pid, 3))   # SIGQUIT: graceful shutdown


# nginx serving large files the way its documentation suggests for them: read with O_DIRECT
# (`directio`) on its thread pool (`aio threads`), so that a read from the device blocks a
# pool thread, never the event loop. Greened, the pool threads are green threads and the
# O_DIRECT reads go to libgreen's offload workers whole (RWF_NOWAIT cannot make them wait
# less). Each reply is a 4 MiB file of known content, checked by wrk.
DIRECTIO_LOCATION = ("location /big/ { aio threads; directio 512k; output_buffers 2 1m; "
                     "sendfile off; }")
DIRECTIO_FILE_MIB = 4


def nginx_directio(mode: str, res: Result) -> None:
    port, d = free_port(), WORK / "nginx-directio"
    web_root(d)
    (d / "html/big").mkdir(exist_ok=True)
    big = d / "html/big/file.bin"
    block = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(32768))
    big.write_bytes(block[:DIRECTIO_FILE_MIB << 20].ljust(DIRECTIO_FILE_MIB << 20, b"x"))
    (d / "verify.lua").write_text(WRK_VERIFY % big)
    srv = Server(["nginx", "-e", str(d / "error.log"), "-c",
                  str(nginx_conf(d, port, DIRECTIO_LOCATION))], d / f"{mode}.log", mode,
                 comm="nginx")
    try:
        wait_port(port, srv.proc)
        wrk_load(port, d, res, path="/big/file.bin", conns=10)
        srv.sampler.sample()
    finally:
        srv.stop(res, lambda: os.kill(srv.proc.pid, 3))   # SIGQUIT: graceful shutdown


def wrk_load(port: int, d: Path, res: Result, path: str = "/index.html", conns: int = 50) -> None:
    """wrk for 5 s on `path`, every reply checked by d/verify.lua."""
    out = run(["wrk", "-t", "2", "-c", str(conns), "-d", "5s", "--latency", "-s",
               str(d / "verify.lua"), f"http://127.0.0.1:{port}{path}"], timeout=60)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, re.M)
    ver = re.search(r"VERIFY ok=(\d+) bad=(\d+)", out)
    if not (rps and ver):
        raise Failed(f"wrk printed no results: {out[-300:]!r}")
    res.throughput = float(rps.group(1))
    if p99:
        res.p99_ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     out)
    res.errors = int(ver.group(2)) + (sum(map(int, sock.groups())) if sock else 0)
    if int(ver.group(1)) == 0:
        raise Failed("no reply verified")


def lighttpd(mode: str, res: Result) -> None:
    """Debian's /etc/lighttpd/lighttpd.conf with its paths and port made private, and no
    server.username (lighttpd refuses to stay root)."""
    port, d = free_port(), WORK / "lighttpd"
    page = web_root(d)
    conf = d / "lighttpd.conf"
    conf.write_text(f"""server.modules = ("mod_indexfile", "mod_access", "mod_alias", "mod_redirect")
server.document-root = "{page.parent}"
server.upload-dirs = ("{d}/tmp")
server.errorlog = "{d}/error.log"
server.pid-file = "{d}/lighttpd.pid"
server.bind = "127.0.0.1"
server.port = {port}
server.feature-flags += ("server.h2proto" => "enable")
server.feature-flags += ("server.h2c" => "enable")
server.feature-flags += ("server.graceful-shutdown-timeout" => 5)
index-file.names = ("index.php", "index.html")
url.access-deny = ("~", ".inc")
static-file.exclude-extensions = (".php", ".pl", ".fcgi")
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
server.modules += ("mod_dirlisting", "mod_staticfile")
""")
    srv = Server(["lighttpd", "-D", "-f", str(conf)], d / f"{mode}.log", mode,
                 comm="lighttpd")
    try:
        wait_port(port, srv.proc)
        wrk_load(port, d, res)
        srv.sampler.sample()
    finally:
        srv.stop(res, lambda: os.kill(srv.proc.pid, 2))   # SIGINT: graceful shutdown


# ---------------------------------------------------------------- PostgreSQL

class Postgres:
    """A private cluster under build/, owned by the postgres user."""

    def __init__(self):
        self.d = WORK / "postgresql"
        self.data, self.sock = self.d / "data", self.d / "sock"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.d, ignore_errors=True)
            self.sock.mkdir(parents=True)
            if self.user:
                shutil.chown(self.d, self.user)
                shutil.chown(self.sock, self.user)
            cmd = [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
            run((["runuser", "-u", self.user, "--"] if self.user else []) + cmd, timeout=300)
        self.initialised = False

    def start(self, mode: str) -> Server:
        srv = Server([str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
                      "-k", str(self.sock), "-c", "listen_addresses=127.0.0.1"],
                     self.d / f"{mode}.log", mode, comm="postgres", user=self.user)
        wait_port(self.port, srv.proc)
        for _ in range(100):   # accepting connections is not yet accepting queries
            if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        return srv

    def stop(self, srv: Server, res: Result) -> None:
        srv.stop(res, lambda: os.kill(self.postmaster(), 2))   # SIGINT: fast shutdown

    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def psql(self, sql: str) -> str:
        return run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-XAtq",
                    "-c", sql]).strip()


TPCB_SUMS = ("select (select sum(abalance) from pgbench_accounts), "
             "(select sum(bbalance) from pgbench_branches), "
             "(select sum(tbalance) from pgbench_tellers), "
             "(select coalesce(sum(delta), 0) from pgbench_history), "
             "(select count(*) from pgbench_history)")


def postgresql(mode: str, res: Result, pg: Postgres) -> None:
    srv = pg.start(mode)
    try:
        conn = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "postgres"]
        if not pg.initialised:
            run(["pgbench", "-i", "-q", "-s", "4"] + conn, timeout=300)
            pg.initialised = True
        # pgbench truncates pgbench_history before it runs (its default vacuum step), so the
        # history of this run is all there is afterwards: it must account for exactly what
        # the run added to the accounts, branches and tellers.
        before = [int(x) for x in pg.psql(TPCB_SUMS).split("|")]
        logs = pg.d / "pgbench-log"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
        out = run(["pgbench", "-c", "8", "-j", "2", "-T", "5", "-l",
                   f"--log-prefix={logs}/tx"] + conn, timeout=40)
        srv.sampler.sample()
        tps = re.search(r"^tps = ([\d.]+)", out, re.M)
        done = re.search(r"number of transactions actually processed: (\d+)", out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        if not (tps and done):
            raise Failed(f"pgbench printed no results: {out[-300:]!r}")
        res.throughput, res.unit = float(tps.group(1)), "tps"
        lat = [int(ln.split()[2]) / 1000 for f in logs.iterdir()
               for ln in f.read_text().splitlines() if ln.strip()]
        res.p99_ms = percentile(lat, 0.99)
        res.errors = int(failed.group(1)) if failed else 0
        after = [int(x) for x in pg.psql(TPCB_SUMS).split("|")]
        added = [after[i] - before[i] for i in range(3)] + [after[3]]
        if len(set(added)) != 1:
            res.errors += 1
            res.notes.append(f"TPC-B changes differ (accounts, branches, tellers, history): {added}")
        if after[4] != int(done.group(1)):
            res.errors += 1
            res.notes.append(f"{after[4]} history rows for {done.group(1)} transactions")
    except (Failed, subprocess.SubprocessError):
        res.notes.append("backends waiting when it failed: " + pg_waits(pg))
        raise
    finally:
        pg.stop(srv, res)


def pg_waits(pg: Postgres) -> str:
    """What the client backends wait for (pg_stat_activity), and whether those that wait
    block SIGURG in the kernel (natively they do: a latch's SIGURG is read from a
    signalfd)."""
    try:
        rows = pg.psql("select pid, coalesce(wait_event, 'running') from pg_stat_activity "
                       "where backend_type = 'client backend' and pid <> pg_backend_pid()")
    except (Failed, subprocess.SubprocessError) as e:
        return f"unknown ({e})"
    waits, blocked = {}, 0
    for line in rows.splitlines():
        pid, event = line.split("|")
        waits[event] = waits.get(event, 0) + 1
        try:
            sigblk = re.search(r"^SigBlk:\s+(\w+)", Path(f"/proc/{pid}/status").read_text(),
                               re.M)
            blocked += bool(int(sigblk.group(1), 16) & (1 << (23 - 1)))   # SIGURG
        except (OSError, AttributeError):
            pass
    summary = ", ".join(f"{e} ×{n}" for e, n in waits.items()) or "none"
    return f"{summary}; {blocked} of {sum(waits.values())} block SIGURG in the kernel"


PY_CLIENT = r"""
import hashlib, json, sys, threading, time
driver, where, nthreads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if driver == "psycopg2":
    import psycopg2 as db
    connect = lambda: db.connect(host="127.0.0.1", port=int(where), user="postgres",
                                 dbname="postgres")
else:
    db = __import__({"pymysql": "pymysql", "mysqlclient": "MySQLdb"}[driver])
    connect = lambda: db.connect(unix_socket=where, user="root")
lat, counts, lock = [], {"ok": 0, "bad": 0, "errors": 0}, threading.Lock()
start = threading.Barrier(nthreads + 1)

def worker(n):
    mine, ok, bad, err = [], 0, 0, 0
    try:
        conn = connect()
        conn.autocommit(True) if callable(getattr(conn, "autocommit", None)) else None
        cur = conn.cursor()
    except Exception as e:
        print(f"thread {n}: {e!r}", file=sys.stderr)
        err, conn = 1, None
    start.wait()
    i, end = 0, time.monotonic() + seconds
    while conn and time.monotonic() < end:
        s = f"{n}-{i}"
        t0 = time.monotonic()
        try:
            cur.execute("select %s * 2, md5(%s)", (i, s))
            row = cur.fetchone()
        except Exception as e:
            print(f"thread {n}: {e!r}", file=sys.stderr)
            err += 1
            break
        mine.append(time.monotonic() - t0)
        if int(row[0]) == 2 * i and row[1] == hashlib.md5(s.encode()).hexdigest():
            ok += 1
        else:
            bad += 1
        i += 1
    if conn:
        conn.close()
    with lock:
        lat.extend(mine); counts["ok"] += ok; counts["bad"] += bad; counts["errors"] += err

threads = [threading.Thread(target=worker, args=(n,)) for n in range(nthreads)]
for t in threads: t.start()
start.wait()
t0 = time.monotonic()
for t in threads: t.join()
lat.sort()
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else None
print(json.dumps(dict(counts, seconds=time.monotonic() - t0, p99_ms=p99)))
"""


def python_threads(mode: str, res: Result, driver: str, where: str) -> None:
    """The client program greened or not, 50 threads, one connection each."""
    logs = WORK / f"python-{driver}"
    logs.mkdir(parents=True, exist_ok=True)
    client = Server([SYSTEM_PYTHON, "-c", PY_CLIENT, driver, where, "50", "5"],
                    logs / f"{mode}.log", mode)
    try:
        rc = client.proc.wait(120)
    except subprocess.TimeoutExpired:
        rc = None
    client.stop(res, ended=rc is not None)
    text = client.log_path.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    if rc != 0 or not lines:
        raise Failed(f"exit status {rc}: {' | '.join(text.strip().splitlines()[-3:])}")
    r = json.loads(lines[-1])
    res.throughput, res.unit, res.p99_ms = r["ok"] / r["seconds"], "queries/s", r["p99_ms"]
    res.errors = r["bad"] + r["errors"]


def psycopg2(mode: str, res: Result, pg: Postgres) -> None:
    srv = pg.start("native-for-python")
    try:
        python_threads(mode, res, "psycopg2", str(pg.port))
    finally:
        pg.stop(srv, Result("", ""))


def mysql_python(mode: str, res: Result, db: "MariaDB", driver: str) -> None:
    srv = db.start("native-for-python")
    try:
        python_threads(mode, res, driver, str(db.sock))
    finally:
        srv.stop(Result("", ""))


def pymysql(mode: str, res: Result, db: "MariaDB") -> None:
    mysql_python(mode, res, db, "pymysql")


def mysqlclient(mode: str, res: Result, db: "MariaDB") -> None:
    mysql_python(mode, res, db, "mysqlclient")


# ---------------------------------------------------------------- MariaDB

class MariaDB:
    def __init__(self):
        self.d = WORK / "mariadb"
        self.data, self.sock = self.d / "data", self.d / "mysqld.sock"
        if not (self.data / "mysql").exists():
            shutil.rmtree(self.d, ignore_errors=True)
            self.d.mkdir(parents=True)
            run(["mariadb-install-db", "--no-defaults", f"--datadir={self.data}",
                 "--user=" + os.environ.get("USER", "root"), "--skip-test-db"], timeout=300)
        self.prepared = False

    def start(self, mode: str) -> Server:
        port = free_port()
        user = ["--user=root"] if os.geteuid() == 0 else []
        srv = Server(["mariadbd", "--no-defaults", f"--datadir={self.data}",
                      f"--socket={self.sock}", f"--port={port}", "--bind-address=127.0.0.1",
                      f"--pid-file={self.d}/mysqld.pid", f"--log-error={self.d}/{mode}.err"]
                     + user, self.d / f"{mode}.log", mode)
        wait_port(port, srv.proc, timeout=120)
        return srv

    def sql(self, text: str) -> str:
        return run(["mariadb", f"--socket={self.sock}", "-uroot", "-N", "-B", "-e", text])


def mariadb(mode: str, res: Result, db: MariaDB) -> None:
    srv = db.start(mode)
    bench = ["sysbench", "oltp_read_write", "--db-driver=mysql", f"--mysql-socket={db.sock}",
             "--mysql-user=root", "--mysql-db=sbtest", "--tables=4", "--table-size=10000"]
    try:
        if not db.prepared:
            db.sql("create database if not exists sbtest")
            run(bench + ["cleanup"], check=False)
            run(bench + ["prepare"], timeout=300)
            db.prepared = True
        out = run(bench + ["--threads=8", "--time=5", "--percentile=99", "run"], timeout=120)
        srv.sampler.sample()
        tps = re.search(r"transactions:\s+\d+\s+\(([\d.]+) per sec", out)
        p99 = re.search(r"99th percentile:\s+([\d.]+)", out)
        errs = re.search(r"ignored errors:\s+(\d+)", out)
        if not tps:
            raise Failed(f"sysbench printed no results: {out[-300:]!r}")
        res.throughput, res.unit = float(tps.group(1)), "tps"
        res.p99_ms = float(p99.group(1)) if p99 else None
        res.errors = int(errs.group(1)) if errs else 0
        res.errors += mariadb_verify(db, res)
        log = (db.d / f"{mode}.err").read_text(errors="replace")
        aio = re.search(r"InnoDB: Using (io_uring|Linux native AIO|liburing)", log)
        if aio:
            res.notes.append(f"InnoDB: using {aio.group(1)}")
    finally:
        srv.stop(res)


def mariadb_verify(db: MariaDB, res: Result) -> int:
    """Row counts and CHECK TABLE after the load, and 2000 known rows written and read back."""
    bad = 0
    for t in range(1, 5):
        n = db.sql(f"select count(*) from sbtest.sbtest{t}").strip()
        if n != "10000":
            bad += 1
            res.notes.append(f"sbtest{t} has {n} rows")
        check = db.sql(f"check table sbtest.sbtest{t}").split()
        if check[-1] != "OK":
            bad += 1
            res.notes.append(f"check table sbtest{t}: {' '.join(check)}")
    rows = {i: hashlib.sha1(f"{i}{random.random()}".encode()).hexdigest() for i in range(2000)}
    db.sql("drop table if exists sbtest.known; create table sbtest.known "
           "(id int primary key, v char(40)); insert into sbtest.known values "
           + ",".join(f"({i},'{v}')" for i, v in rows.items()))
    got = dict(ln.split("\t") for ln in db.sql("select id, v from sbtest.known").splitlines())
    bad += sum(got.get(str(i)) != v for i, v in rows.items())
    return bad


# ---------------------------------------------------------------- driver and report

def versions() -> dict[str, str]:
    def first(cmd, pattern):
        try:
            m = re.search(pattern, run(cmd, check=False, timeout=30))
            return m.group(1) if m else "?"
        except (OSError, subprocess.SubprocessError):
            return "?"
    return {
        "redis": first(["redis-server", "--version"], r"v=([\d.]+)"),
        "memcached": first(["memcached", "-V"], r"([\d.]+)"),
        "nginx": first(["nginx", "-v"], r"nginx/([\d.]+)"),
        "nginx_directio": first(["nginx", "-v"], r"nginx/([\d.]+)"),
        "postgresql": first([str(PG_BIN / "postgres"), "--version"], r"([\d.]+)"),
        "mariadb": first(["mariadbd", "--version"], r"Ver ([\d.]+)"),
        "lighttpd": first(["lighttpd", "-v"], r"lighttpd/([\d.]+)"),
    } | {
        driver: first([SYSTEM_PYTHON, "-c", f"import sys, {module} as m; print("
                       "sys.version.split()[0], m.__version__.split()[0])"],
                      r"(\S+ \S+)").replace(" ", f", {driver} ")
        for driver, module in (("psycopg2", "psycopg2"), ("pymysql", "pymysql"),
                               ("mysqlclient", "MySQLdb"))
    }


PROGRAMS = {
    "redis": ("Redis server (redis-benchmark)", "redis-benchmark SET+GET, 50 connections"),
    "memcached": ("memcached `-t 4`", "own client, 50 connections, 8 pipelined set+get "
                  "(p99: of the batch)"),
    "nginx": ("nginx, Debian's configuration (wrk)", "wrk, 50 connections"),
    "nginx_directio": ("nginx, `aio threads` + `directio` for 4 MiB files (wrk)",
                       "wrk, 10 connections, each reply 4 MiB read with O_DIRECT"),
    "lighttpd": ("lighttpd, Debian's configuration (wrk)", "wrk, 50 connections"),
    "postgresql": ("PostgreSQL server (pgbench)", "pgbench TPC-B, 8 clients"),
    "psycopg2": ("Python, 50 threads with psycopg2 (PostgreSQL native)",
                 "50 threads, one query each at a time"),
    "mariadb": ("MariaDB server, default InnoDB settings (sysbench)",
                "sysbench oltp_read_write, 8 threads"),
    "pymysql": ("Python, 50 threads with PyMySQL (MariaDB native)",
                "50 threads, one query each at a time"),
    "mysqlclient": ("Python, 50 threads with mysqlclient (MariaDB native)",
                    "50 threads, one query each at a time"),
}


def ensure_installed() -> None:
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if not shutil.which(cmd)})
    for module, pkg in PY_PACKAGES.items():
        if subprocess.run([SYSTEM_PYTHON, "-c", f"import {module}"],
                          capture_output=True).returncode != 0:
            missing.append(pkg)
    if missing:
        print(f"installing {' '.join(missing)}", flush=True)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                       check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def run_one(name: str, mode: str, ctx: dict) -> Result:
    res = Result(name, mode)
    fn = globals()[name]
    try:
        if name in ("postgresql", "psycopg2"):
            fn(mode, res, ctx.setdefault("pg", Postgres()))
        elif name in ("mariadb", "pymysql", "mysqlclient"):
            fn(mode, res, ctx.setdefault("mariadb", MariaDB()))
        else:
            fn(mode, res)
    except (Failed, subprocess.SubprocessError, OSError, ValueError) as e:
        res.failure = f"{type(e).__name__}: {e}" if not isinstance(e, Failed) else str(e)
    if mode == "greened" and not res.greened and not res.failure:
        res.failure = "libgreen.so was not mapped in the server"
    return res


# Failures whose cause has been found (the report quotes it when the failure recurs).
CAUSES = {
    "postgresql": "PostgreSQL 15 wakes a backend sleeping on its latch with kill(pid, SIGURG) "
                  "and reads that signal from a signalfd, with SIGURG blocked; libgreen never "
                  "blocks SIGURG in the kernel (its preemption signal, even in a process "
                  "without green threads), so the kernel discards it (default action: "
                  "ignore), the signalfd stays empty and the backend sleeps for ever "
                  "(BufferIO, lock waits)",
}


def status(native: Result, green: Result) -> str:
    if native.failure:
        return f"not measured: fails natively ({native.failure})"
    if green.failure:
        cause = CAUSES.get(green.program)
        return f"**fails greened**: {green.failure}" + (f"; cause: {cause}" if cause else "")
    if green.errors > native.errors:
        return f"**wrong replies greened** ({green.errors})"
    return "works"


def fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def write_report(path: Path, pairs: list[tuple[Result, Result]], vers: dict, started: str):
    u = os.uname()
    lines = [
        "# Real programs, native vs greened",
        "",
        f"Written by `scripts/compat_programs.py` on {started}: {u.sysname} {u.release} "
        f"{u.machine}, {os.cpu_count()} CPUs, libgreen from `{LIBGREEN.relative_to(ROOT)}`"
        if LIBGREEN.is_relative_to(ROOT) else f"Written by `scripts/compat_programs.py` on "
        f"{started}: {u.sysname} {u.release} {u.machine}, {os.cpu_count()} CPUs",
        "",
        "Each server ran natively, then with `LD_PRELOAD=libgreen.so`, in its default "
        "configuration on a private port, driven by its own load tool (which always runs "
        "natively) for about 5 s. OS threads: the most `/proc/PID/task` entries seen in one "
        "server process during the load (×N: the number of processes). Throughput and p99 "
        "are the load tool's; errors are failed requests plus replies that did not verify. "
        "On a shared 2-CPU machine the absolute figures are noisy: compare the ratio.",
        "",
        "| program | version | load | OS threads native / greened | throughput native "
        "| throughput greened | greened / native | p99 ms native / greened "
        "| errors native / greened | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for n, g in pairs:
        title, load = PROGRAMS[n.program]
        ratio = f"{g.throughput / n.throughput:.2f}" if n.throughput and g.throughput else "-"
        tput = [f"{fmt(r.throughput)} {r.unit}" if not r.failure else "-" for r in (n, g)]
        lines.append(
            f"| {title} | {vers.get(n.program, '?')} | {load} | {n.threads_text()} / "
            f"{g.threads_text()} | {tput[0]} | {tput[1]} "
            f"| {ratio} | {fmt(n.p99_ms, 2)} / {fmt(g.p99_ms, 2)} | {n.errors} / {g.errors} "
            f"| {status(n, g)} |")
        for r in (n, g):
            notes += [f"* {title}, {r.mode}: {x}" for x in r.notes]
            if r.failure:
                notes.append(f"* {title}, {r.mode}: failed: {r.failure}")
    lines += ["", "## Notes", ""] + (notes or ["None."]) + [""]
    path.write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("programs", nargs="*", help=f"default: all of {', '.join(PROGRAMS)}")
    ap.add_argument("--report", type=Path, default=None,
                    help="default scripts/COMPAT_PROGRAMS.md for a full run, else none")
    ap.add_argument("--client", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        print(json.dumps(memcached_client(int(args.client[1]), 50, 5.0, 8)))
        return 0
    names = args.programs or list(PROGRAMS)
    if unknown := [n for n in names if n not in PROGRAMS]:
        ap.error(f"unknown program(s): {', '.join(unknown)}")
    if not LIBGREEN.exists():
        sys.exit(f"missing {LIBGREEN} (run `make build`)")
    ensure_installed()
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M")
    ctx, pairs = {}, []
    for name in names:
        pair = []
        for mode in MODES:
            r = run_one(name, mode, ctx)
            pair.append(r)
            print(f"{name:10} {mode:8} threads {r.threads_text():>12}  {fmt(r.throughput):>9} "
                  f"{r.unit:9} p99 {fmt(r.p99_ms, 2):>7} ms  errors {r.errors}"
                  f"{'  FAILED: ' + r.failure if r.failure else ''}", flush=True)
        pairs.append(tuple(pair))
    report = args.report or (ROOT / "scripts/COMPAT_PROGRAMS.md" if not args.programs else None)
    if report:
        write_report(report, pairs, versions(), started)
        print(f"wrote {report}")
    return 0 if all(status(n, g) == "works" for n, g in pairs) else 1


if __name__ == "__main__":
    sys.exit(main())
