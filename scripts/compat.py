#!/usr/bin/env python3
"""CPython's own regression tests, run natively and greened, compared test by test.

Each module runs under `python3 -m test -v --junit-xml` twice: natively, and with
libgreen.so preloaded (the same interpreter, so the only difference is the library). Every
test case's outcome is recorded in both modes; a test that passes natively but fails,
hangs or crashes greened is a difference. Differences listed in compat-expected.txt (one
test id and its reason per line) are reported but do not fail the run; any other makes
the exit status 1.

A run that stops printing for --stall seconds, or outlives --timeout, is a hang: the
interpreter is asked for a traceback of every thread (SIGUSR1, which regrtest hands to
faulthandler), then its whole process group is killed. The test that was running is
recorded as hung (or crashed, if the interpreter died of a signal), and the module is
resumed with every test that already has a result left out, so one hang does not cost
the results of the tests after it.

Outcomes come from the junit XML of a run that finished, and from the `-v` lines of any
run (the only source when a run was killed). Subtests count for their test: any failing
subtest fails it. `expected failure` counts as a pass, `unexpected success` as a failure.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBGREEN = Path(os.environ.get("LIBGREEN") or ROOT / "target/release/libgreen.so").resolve()

NETWORK = ["-u", "network"]
# Module -> extra regrtest arguments. VSOCK tests are left out everywhere (see IGNORE).
MODULES = {
    "test_thread": [], "test_threading": [], "test_queue": [],
    "test_socket": NETWORK, "test_select": NETWORK, "test_selectors": NETWORK,
    "test_poll": NETWORK, "test_epoll": NETWORK, "test_socketserver": NETWORK,
    "test_httpservers": NETWORK, "test_urllib2_localnet": NETWORK,
    "test_subprocess": [], "test_os": [], "test_signal": [],
    # Processes, files, time and signals.
    "test_multiprocessing_main_handling": [], "test_fork1": [], "test_threadsignals": [],
    "test_threading_local": [], "test_threadedtempfile": [], "test_io": [], "test_fcntl": [],
    "test_pty": [], "test_mmap": [], "test_posix": [], "test_resource": [], "test_time": [],
    "test_sched": [], "test_faulthandler": [], "test_sys": [], "test_capi": [],
    "test_logging": [],
    # Protocols over sockets, and asyncio.
    "test_ssl": NETWORK, "test_ftplib": NETWORK, "test_smtplib": NETWORK,
    "test_poplib": NETWORK, "test_imaplib": NETWORK, "test_telnetlib": NETWORK,
    "test_asyncore": NETWORK, "test_asynchat": NETWORK, "test_xmlrpc": NETWORK,
    "test_docxmlrpc": NETWORK, "test_wsgiref": NETWORK, "test_asyncio": NETWORK,
}
# Small enough for CI: about four minutes for both modes together. The multiprocessing
# module spawns pools through fork and exec, which once hung greened.
FAST = ["test_thread", "test_queue", "test_select", "test_poll", "test_epoll",
        "test_selectors", "test_multiprocessing_main_handling"]
# VSOCK tests hang on VMs without a vsock transport, natively as much as greened.
IGNORE = ["*VSOCK*"]
MODES = ("native", "greened")
PASS, FAIL, SKIP = "pass", "fail", "skip"
HANG, CRASH = "hang", "crash"
FAILING = (FAIL, HANG, CRASH)
RANK = {SKIP: 0, PASS: 1, FAIL: 2, CRASH: 3, HANG: 4}

START = re.compile(r"^(  )?(\w+) \(([\w.]+)\)(.*?) \.\.\. ?(.*)$")
STATUS = re.compile(r"^(ok|FAIL|ERROR|expected failure|unexpected success|skipped .*)$")
SUBTEST_SUFFIX = re.compile(r" [(\[].*$")


def status_outcome(status: str) -> str:
    if status in ("ok", "expected failure"):
        return PASS
    return SKIP if status.startswith("skipped") else FAIL


def test_id(name: str, dotted: str) -> str:
    """`name (dotted)` of a -v line as a test id. Class and module fixtures
    (`setUpClass (test.test_x.C)`) become `test.test_x.C.setUpClass`."""
    return dotted if dotted.endswith("." + name) else f"{dotted}.{name}"


def merge(results: dict, tid: str, outcome: str, detail: str = "") -> None:
    """Keeps the worst outcome seen for a test; a pass beats a skipped subtest."""
    old = results.get(tid)
    if old is None or RANK[outcome] > RANK[old[0]]:
        results[tid] = (outcome, detail)


class VerboseParser:
    """Outcomes from regrtest's -v lines, fed as they arrive. `pending` is the test that has
    started and not yet reported (the one running when a run is killed)."""

    def __init__(self) -> None:
        self.results: dict[str, tuple[str, str]] = {}
        self.pending: str | None = None
        self.last_started: str | None = None
        self.module_skip: str | None = None

    def line(self, text: str) -> None:
        m = START.match(text)
        if m:
            sub, name, dotted, _, rest = m.groups()
            tid = test_id(name, dotted)
            if not sub:
                self.pending, self.last_started = tid, tid
            if STATUS.match(rest):
                merge(self.results, tid, status_outcome(rest), rest if rest != "ok" else "")
                if not sub:
                    self.pending = None
            return
        if self.pending and STATUS.match(text.strip()):
            status = text.strip()
            merge(self.results, self.pending, status_outcome(status), status)
            self.pending = None
            return
        m = re.match(r"^(test_\w+) skipped -- (.*)$", text)
        if m:
            self.module_skip = m.group(2)


def parse_junit(path: Path) -> dict[str, tuple[str, str]]:
    results: dict[str, tuple[str, str]] = {}
    if not path.exists():
        return results
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return results
    for case in root.iter("testcase"):
        name = case.get("name", "")
        tid = SUBTEST_SUFFIX.sub("", name)
        m = re.match(r"^(\w+) \(([\w.]+)\)$", name)
        if m:  # a class or module fixture
            tid = test_id(m.group(1), m.group(2))
        if case.find("failure") is not None or case.find("error") is not None:
            el = case.find("failure") if case.find("failure") is not None else case.find("error")
            merge(results, tid, FAIL, (el.get("type") or "").rsplit(".", 1)[-1])
        elif case.get("outcome") == "UNEXPECTED_SUCCESS":
            merge(results, tid, FAIL, "unexpected success")
        elif case.find("skipped") is not None:
            merge(results, tid, SKIP, case.find("skipped").text or "")
        else:
            merge(results, tid, PASS)
    return results


@dataclass
class Run:
    """One module in one mode: possibly several attempts (resumed after hangs)."""
    module: str
    mode: str
    results: dict = field(default_factory=dict)
    wall: float = 0.0
    attempts: int = 0
    notes: list = field(default_factory=list)
    logs: list = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = {PASS: 0, FAIL: 0, SKIP: 0, HANG: 0, CRASH: 0}
        for outcome, _ in self.results.values():
            c[outcome] += 1
        return c


def child_env(mode: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if mode == "greened":
        env["LD_PRELOAD"] = str(LIBGREEN)
    return env


def kill_group(proc: subprocess.Popen, log) -> None:
    """Asks for every thread's traceback, then kills the process group."""
    try:
        os.kill(proc.pid, signal.SIGUSR1)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 3
    while proc.poll() is None and time.monotonic() < deadline:
        drain(proc, log, 0.2)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        time.sleep(1)


def drain(proc: subprocess.Popen, log, wait: float) -> bytes:
    ready, _, _ = select.select([proc.stdout], [], [], wait)
    if not ready:
        return b""
    chunk = os.read(proc.stdout.fileno(), 65536)
    log.write(chunk)
    log.flush()
    return chunk


def attempt(args, module: str, mode: str, skip_ids: set, log_path: Path, xml_path: Path,
            time_left: float):
    """One regrtest run. Returns (parser, junit results, how it ended, wall seconds)."""
    cmd = [args.python, "-m", "test", "-v", "--junit-xml", str(xml_path)]
    if args.test_timeout:
        # As CPython's developers and buildbots run the suite: a per-test timeout, which
        # starts faulthandler's watchdog thread (a thread that blocks every signal).
        cmd += ["--timeout", str(args.test_timeout)]
    cmd += MODULES.get(module, [])
    for pattern in IGNORE:
        cmd += ["--ignore", pattern]
    if skip_ids:
        ignore_file = log_path.with_suffix(".ignore")
        ignore_file.write_text("".join(f"{t}\n" for t in sorted(skip_ids)))
        cmd += ["--ignorefile", str(ignore_file)]
    cmd.append(module)
    parser = VerboseParser()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compat-") as cwd, open(log_path, "wb") as log:
        log.write(f"$ {' '.join(cmd)}  ({mode})\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=child_env(mode), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        buffer, last_output, ended = b"", time.monotonic(), None
        while True:
            chunk = drain(proc, log, 0.5)
            if chunk:
                last_output = time.monotonic()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    parser.line(line.decode(errors="replace").rstrip("\r"))
                continue
            if proc.poll() is not None:
                break
            now = time.monotonic()
            if now - last_output > args.stall or now - start > time_left:
                why = "no output" if now - last_output > args.stall else "module timeout"
                log.write(f"\n[compat] killed: {why}\n".encode())
                kill_group(proc, log)
                ended = HANG
                break
        if buffer:
            parser.line(buffer.decode(errors="replace"))
        rc = proc.wait()
        # Whatever the interpreter left behind in its group (daemon children) goes too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if ended is None:
            ended = CRASH if rc < 0 or rc not in (0, 2, 3, 4, 5) else "done"
        log.write(f"\n[compat] exit status {rc}, {ended}\n".encode())
    junit = parse_junit(xml_path) if ended == "done" else {}
    return parser, junit, ended, time.monotonic() - start, rc


def run_module(args, module: str, mode: str, log_dir: Path) -> Run:
    run = Run(module, mode)
    skip_ids: set[str] = set()
    budget = args.timeout
    while True:
        run.attempts += 1
        stem = f"{module}.{mode}.{run.attempts}"
        log_path, xml_path = log_dir / f"{stem}.log", log_dir / f"{stem}.xml"
        xml_path.unlink(missing_ok=True)
        parser, junit, ended, wall, rc = attempt(args, module, mode, skip_ids, log_path,
                                                 xml_path, budget)
        run.wall += wall
        budget -= wall
        run.logs.append(str(log_path))
        before = len(run.results)
        for source in (parser.results, junit):
            for tid, (outcome, detail) in source.items():
                merge(run.results, tid, outcome, detail)
        if parser.module_skip and not run.results:
            run.notes.append(f"module skipped: {parser.module_skip}")
        if ended == "done":
            return run
        culprit = parser.pending
        if culprit:
            merge(run.results, culprit, ended, f"{ended} (exit status {rc})")
        else:
            after = parser.last_started or "the start"
            run.notes.append(f"{ended} outside any test (after {after}), exit status {rc}")
            merge(run.results, f"{module}.<after {after}>", ended, f"exit status {rc}")
        progressed = len(run.results) > before
        skip_ids |= set(run.results)
        if not progressed or run.attempts > args.max_resumes or budget < 10:
            run.notes.append(f"gave up after {run.attempts} attempts")
            return run


def load_expected(path: Path) -> list[tuple[str, str]]:
    """`test-id-or-glob  reason` lines; `#` starts a comment."""
    entries = []
    if path.exists():
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
            if not line:
                continue
            tid, _, reason = line.partition(" ")
            if not reason.strip():
                sys.exit(f"{path}: entry without a reason: {raw!r}")
            entries.append((tid, reason.strip()))
    return entries


def expected_reason(tid: str, expected: list[tuple[str, str]]) -> str | None:
    for pattern, reason in expected:
        if tid == pattern or fnmatch.fnmatchcase(tid, pattern):
            return reason
    return None


def differences(native: Run, greened: Run) -> list[tuple[str, str, str]]:
    """(test id, greened outcome, detail) for every test that passes natively and does not
    pass greened: fails, hangs, crashes, is skipped, or never ran."""
    diffs = []
    for tid, (outcome, _) in sorted(native.results.items()):
        if outcome != PASS:
            continue
        g_outcome, detail = greened.results.get(tid, ("missing", "no result greened"))
        if g_outcome != PASS:
            diffs.append((tid, g_outcome, detail))
    for tid, (g_outcome, detail) in sorted(greened.results.items()):
        if tid not in native.results and g_outcome in FAILING:
            diffs.append((tid, g_outcome, detail))
    return diffs


def preflight(args) -> None:
    """Refuses to compare anything if the greened mode is not really greened: a thread must
    share the main thread's kernel thread."""
    code = ("import threading as t; r = []; th = t.Thread(target=lambda: r.append("
            "t.get_native_id())); th.start(); th.join(); print(r[0] == t.get_native_id())")
    out = subprocess.run([args.python, "-c", code], env=child_env("greened"),
                         capture_output=True, text=True, timeout=60)
    if out.stdout.strip() != "True":
        sys.exit(f"greened mode is not greened ({LIBGREEN}): {out.stdout!r} {out.stderr!r}")


def fmt_counts(run: Run) -> str:
    c = run.counts()
    extra = "".join(f" +{c[k]} {k}" for k in (HANG, CRASH) if c[k])
    return f"{c[PASS]} / {c[FAIL]}{extra} / {c[SKIP]}"


def write_report(path: Path, args, pairs, expected, started: str) -> None:
    uname = os.uname()
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    lines = [
        "# CPython's regression tests, native vs greened",
        "",
        f"Written by `scripts/compat.py` on {started}: Python {version}, "
        f"{uname.sysname} {uname.release} {uname.machine}, {os.cpu_count()} CPUs.",
        "Each module ran under `python3 -m test -v --junit-xml FILE [-u network] "
        + (f"--timeout {args.test_timeout} " if args.test_timeout else "")
        + "--ignore '*VSOCK*' MODULE`, once natively and once with `LD_PRELOAD=libgreen.so`.",
        "Counts are test cases: pass / fail / skip (a hang or crash counts as a failure and "
        "is named). A difference is a test that passes natively and does not pass greened; "
        "the expected ones are listed with their reasons in `scripts/compat-expected.txt`.",
        "",
        "| module | native pass / fail / skip | greened pass / fail / skip "
        "| native s | greened s | differences |",
        "|---|---|---|---|---|---|",
    ]
    details = []
    for native, greened in pairs:
        diffs = differences(native, greened)
        unexpected = [d for d in diffs if expected_reason(d[0], expected) is None]
        summary = "none" if not diffs else (
            f"{len(diffs)} ({len(diffs) - len(unexpected)} expected)")
        lines.append(f"| {native.module} | {fmt_counts(native)} | {fmt_counts(greened)} "
                     f"| {native.wall:.0f} | {greened.wall:.0f} | {summary} |")
        for tid, outcome, detail in diffs:
            reason = expected_reason(tid, expected)
            why = f"expected: {reason}" if reason else "**unexpected**"
            details.append(f"* `{tid}`: {outcome} greened"
                           f"{' (' + detail + ')' if detail else ''}; {why}")
        for run in (native, greened):
            details += [f"* {run.module} ({run.mode}): {note}" for note in run.notes]
    lines += ["", "## Differences and notes", ""] + (details or ["None."]) + [""]
    path.write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", help=f"modules to run (default: all {len(MODULES)})")
    ap.add_argument("--fast", action="store_true", help=f"only {', '.join(FAST)}")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--timeout", type=float, default=1200,
                    help="hard limit in seconds for one module in one mode (default 1200)")
    ap.add_argument("--test-timeout", type=float, default=900,
                    help="regrtest's own per-test --timeout (default 900, as CPython's "
                    "buildbots; 0 leaves it out)")
    ap.add_argument("--stall", type=float, default=180,
                    help="seconds without output that count as a hang (default 180)")
    ap.add_argument("--max-resumes", type=int, default=8)
    ap.add_argument("--expected", type=Path, default=ROOT / "scripts/compat-expected.txt")
    ap.add_argument("--report", type=Path, default=None,
                    help="table to write (default scripts/COMPAT.md for a full run, "
                    "none for --fast or chosen modules)")
    ap.add_argument("--out", type=Path, default=ROOT / "build/compat",
                    help="directory for logs, XML and results.json")
    args = ap.parse_args()

    modules = args.modules or (FAST if args.fast else list(MODULES))
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        ap.error(f"unknown modules {unknown}; known: {', '.join(MODULES)}")
    if not LIBGREEN.is_file():
        sys.exit(f"missing {LIBGREEN} (run `make build`)")
    report = args.report or (ROOT / "scripts/COMPAT.md" if not args.modules and not args.fast
                             else None)
    expected = load_expected(args.expected)
    preflight(args)
    args.out.mkdir(parents=True, exist_ok=True)
    # A shell starts background jobs with SIGINT ignored, and an ignored signal stays
    # ignored across exec: the tests of Ctrl-C handling would fail in both modes.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.strftime("%Y-%m-%d %H:%M")
    pairs, unexpected_total, dump = [], [], {}
    for module in modules:
        runs = []
        for mode in MODES:
            run = run_module(args, module, mode, args.out)
            runs.append(run)
            print(f"{module:24} {mode:8} {fmt_counts(run):>22}  {run.wall:6.1f} s"
                  + "".join(f"  [{n}]" for n in run.notes), flush=True)
            dump[f"{module}/{mode}"] = {"wall": run.wall, "attempts": run.attempts,
                                        "notes": run.notes, "logs": run.logs,
                                        "results": run.results}
        pairs.append(tuple(runs))
        for tid, outcome, detail in differences(*runs):
            reason = expected_reason(tid, expected)
            mark = f"expected: {reason}" if reason else "UNEXPECTED"
            print(f"    {tid}: {outcome} greened ({detail}) -- {mark}", flush=True)
            if reason is None:
                unexpected_total.append(tid)
    (args.out / "results.json").write_text(json.dumps(dump, indent=1, sort_keys=True))
    if report:
        write_report(report, args, pairs, expected, started)
        print(f"wrote {report}")
    if unexpected_total:
        print(f"{len(unexpected_total)} unexpected difference(s); logs in {args.out}")
        return 1
    print("no unexpected differences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
