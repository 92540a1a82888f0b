#!/usr/bin/env python3
"""glibc's own NPTL tests, built against the installed glibc, run natively and greened,
compared test by test.

The source is that of the installed glibc: Debian's glibc-source package ships it as a
tarball under /usr/src/glibc (installed with apt-get when missing), unpacked once into
build/glibc/src. From it are built, with gcc against the installed headers and libraries
(not a glibc build):

* glibc's test-support library (support/*.c: the test driver, the x* wrappers, check,
  timespec helpers), as libsupport.a;
* every test of nptl/, sysdeps/pthread/ and the nptl part of sysdeps/unix/sysv/linux/,
  and the sleeping and waiting tests of posix/, time/, misc/, rt/ and signal/, as the
  Makefiles of those directories list them (`tests`, `tests-internal`), with their
  per-test CFLAGS, ARGS, ENV and the modules they load.

A test that includes a glibc-internal header, or needs a symbol the installed libc does
not export, does not build that way: it is counted as "not buildable outside glibc" with
its first error, never hidden. Static tests (LD_PRELOAD cannot reach them), container
tests, xtests (glibc runs those only under `make xcheck`) and the time64 twins (the same
test on a 64-bit target) are counted and not built.

Each test runs twice, natively and with LD_PRELOAD=libgreen.so, under glibc's own test
driver (TIMEOUT from the test, default 20 s, times TIMEOUTFACTOR) inside a hard outer
timeout. A run is classified as the driver reports it: PASS (exit 0), UNSUPPORTED (exit
77), FAIL (any other status), plus TIMEOUT (the driver killed its child, or the outer
timeout struck) and CRASH (a signal the test did not expect). A test that passes natively
and does not pass greened is a difference; those listed in compat-glibc-expected.txt are
expected, any other fails the run, and so does an expected one that now passes.
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

# The expected-differences file has one format for both suites: CPython's runner reads it.
from compat import expected_reason, load_expected

ROOT = Path(__file__).resolve().parent.parent
LIBGREEN = Path(os.environ.get("LIBGREEN") or ROOT / "target/release/libgreen.so").resolve()
HERE = ROOT / "scripts/glibc"
SOURCES = Path("/usr/src/glibc")

MODES = ("native", "greened")
PASS, FAIL, UNSUPPORTED, TIMEOUT, CRASH = "PASS", "FAIL", "UNSUPPORTED", "TIMEOUT", "CRASH"

# Makefiles read, each with the glibc subdirectory its tests belong to when no
# `ifeq ($(subdir),X)` says otherwise, and a filter on test names (None: every test).
WAITING = re.compile(r"sleep|wait|pause|alarm|select|poll|clock|timer|sigsuspend|timed")
MAKEFILES = [
    ("nptl/Makefile", "nptl", None),
    ("sysdeps/pthread/Makefile", "nptl", None),
    ("sysdeps/unix/sysv/linux/Makefile", None, None),
    ("posix/Makefile", "posix", WAITING),
    ("time/Makefile", "time", WAITING),
    ("misc/Makefile", "misc", WAITING),
    ("rt/Makefile", "rt", WAITING),
    ("signal/Makefile", "signal", WAITING),
]
SUBDIRS = {"nptl": None, "posix": WAITING, "time": WAITING, "misc": WAITING,
           "rt": WAITING, "signal": WAITING}
# Where glibc looks for a test's source, most specific first (x86_64 Linux), then the
# subdirectory itself; also the directories `#include "..."` searches.
SYSDEPS = ["sysdeps/unix/sysv/linux/x86_64/64", "sysdeps/unix/sysv/linux/x86_64",
           "sysdeps/unix/sysv/linux/x86", "sysdeps/x86/nptl", "sysdeps/x86_64/nptl",
           "sysdeps/unix/sysv/linux", "sysdeps/nptl", "sysdeps/pthread", "sysdeps/unix",
           "sysdeps/posix", "sysdeps/x86_64", "sysdeps/x86", "sysdeps/generic"]
# Header-only pieces of glibc's internal include/ the test-support library needs; they
# declare nothing of libc's internals (macros and gnulib helpers).
SHIM_HEADERS = {"intprops.h": "include/intprops.h", "array_length.h": "include/array_length.h",
                "libc-diag.h": "include/libc-diag.h",
                "libc-pointer-arith.h": "include/libc-pointer-arith.h",
                "stackinfo.h": "sysdeps/x86_64/stackinfo.h"}

CFLAGS = ["-std=gnu11", "-O2", "-g", "-pthread", "-D_GNU_SOURCE", "-fno-strict-aliasing",
          "-fmerge-all-constants", "-frounding-math", "-fno-common", "-w"]
CXXFLAGS = ["-O2", "-g", "-pthread", "-D_GNU_SOURCE", "-w"]
LIBS = ["-lpthread", "-lrt", "-ldl", "-lm", "-lresolv"]
LINK_DEPS = {"$(shared-thread-library)": "-lpthread", "$(librt)": "-lrt", "$(libdl)": "-ldl",
             "$(libm)": "-lm", "$(libsupport)": "", "$(static-thread-library)": "-lpthread"}

# The quick subset for CI (see --fast): threads, mutexes, conditions, rwlocks,
# semaphores, barriers, once, keys, join, sleeps.
FAST = [
    "nptl/tst-basic1", "nptl/tst-basic2", "nptl/tst-basic3", "nptl/tst-basic4",
    "nptl/tst-basic5", "nptl/tst-basic6", "nptl/tst-basic7", "nptl/tst-detach1",
    "nptl/tst-attr1", "nptl/tst-attr2", "nptl/tst-exit1", "nptl/tst-exit2",
    "nptl/tst-kill1", "nptl/tst-kill5", "nptl/tst-signal1", "nptl/tst-signal2",
    "nptl/tst-mutex1", "nptl/tst-mutex2", "nptl/tst-mutex3", "nptl/tst-mutex4",
    "nptl/tst-mutex5", "nptl/tst-mutex6", "nptl/tst-mutex7", "nptl/tst-mutex9",
    "nptl/tst-mutex11", "nptl/tst-mutex-errorcheck", "nptl/tst-spin1", "nptl/tst-spin2",
    "nptl/tst-spin3", "nptl/tst-cond1", "nptl/tst-cond2", "nptl/tst-cond3", "nptl/tst-cond4",
    "nptl/tst-cond5", "nptl/tst-cond6", "nptl/tst-cond9", "nptl/tst-cond10", "nptl/tst-cond11",
    "nptl/tst-cond12", "nptl/tst-cond13", "nptl/tst-cond14", "nptl/tst-cond15",
    "nptl/tst-cond19", "nptl/tst-cond20", "nptl/tst-cond21", "nptl/tst-cond23",
    "nptl/tst-cond24", "nptl/tst-cond27", "nptl/tst-cnd-basic", "nptl/tst-cnd-broadcast",
    "nptl/tst-cnd-timedwait", "nptl/tst-mtx-basic", "nptl/tst-mtx-recursive",
    "nptl/tst-mtx-timedlock", "nptl/tst-thrd-detach", "nptl/tst-thrd-sleep",
    "nptl/tst-tss-basic", "nptl/tst-call-once", "nptl/tst-rwlock1", "nptl/tst-rwlock2",
    "nptl/tst-rwlock3", "nptl/tst-rwlock4", "nptl/tst-rwlock5", "nptl/tst-rwlock6",
    "nptl/tst-rwlock7", "nptl/tst-rwlock9", "nptl/tst-rwlock12", "nptl/tst-rwlock13",
    "nptl/tst-rwlock14", "nptl/tst-sem1", "nptl/tst-sem2", "nptl/tst-sem3", "nptl/tst-sem4",
    "nptl/tst-sem5", "nptl/tst-sem6", "nptl/tst-sem7", "nptl/tst-sem8", "nptl/tst-sem9",
    "nptl/tst-sem10", "nptl/tst-sem14", "nptl/tst-barrier1", "nptl/tst-barrier2",
    "nptl/tst-barrier3", "nptl/tst-barrier4", "nptl/tst-once1", "nptl/tst-once2",
    "nptl/tst-key1", "nptl/tst-key2", "nptl/tst-key4", "nptl/tst-tsd1", "nptl/tst-tsd2",
    "nptl/tst-tsd3", "nptl/tst-tsd4", "nptl/tst-tsd6", "nptl/tst-join1", "nptl/tst-join4",
    "nptl/tst-join15", "posix/tst-nanosleep", "posix/tst-wait3",
    # Cancellation, cleanup handlers, the join variants, signals per green thread and
    # preemption: each of these failed greened before those were built.
    "nptl/tst-cleanup1", "nptl/tst-cleanup3", "nptl/tst-cancel6", "nptl/tst-cancel10",
    "nptl/tst-cancel11", "nptl/tst-cancel13", "nptl/tst-join2", "nptl/tst-join3",
    "nptl/tst-kill6", "nptl/tst-pt-tls2", "nptl/tst-key3", "nptl/tst-sem16",
    "nptl/tst-cond7", "nptl/tst-cond8", "nptl/tst-exec5", "nptl/tst-rwlock16",
    "posix/tst-wait4", "posix/tst-waitid", "time/tst-clock_nanosleep", "time/tst-clock2",
    "time/tst-cpuclock1", "misc/tst-select", "misc/tst-pselect", "signal/tst-sigwait-eintr",
]


# ---------------------------------------------------------------------------------------
# Source


def installed_version() -> str:
    return os.confstr("CS_GNU_LIBC_VERSION").split()[-1]


def tarball() -> Path:
    """The glibc-source tarball, installed with apt-get when it is not there yet."""
    found = sorted(SOURCES.glob("glibc-*.tar.xz"))
    if not found:
        print("installing Debian's glibc-source (apt-get)", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "glibc-source"], check=True, env=env)
        found = sorted(SOURCES.glob("glibc-*.tar.xz"))
    if not found:
        sys.exit(f"no glibc-*.tar.xz in {SOURCES} after installing glibc-source")
    version = installed_version()
    exact = [t for t in found if t.name == f"glibc-{version}.tar.xz"]
    if not exact:
        print(f"warning: installed glibc is {version}, source is {found[-1].name}")
    return (exact or found)[-1]


def unpack(build: Path) -> Path:
    """Unpacks the tarball into build/src once; a stamp names the tarball it came from."""
    tar = tarball()
    src, stamp = build / "src", build / "src.stamp"
    ident = f"{tar} {tar.stat().st_size} {tar.stat().st_mtime_ns}"
    if stamp.exists() and stamp.read_text() == ident and (src / "nptl").is_dir():
        return src
    print(f"unpacking {tar} into {src}", flush=True)
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    subprocess.run(["tar", "-xJf", str(tar), "-C", str(src), "--strip-components=1"],
                   check=True)
    stamp.write_text(ident)
    return src


# ---------------------------------------------------------------------------------------
# What the Makefiles say


@dataclass
class Makefile:
    """The parts of one glibc Makefile this script uses. Conditionals other than the
    subdirectory ones are not evaluated: both branches count (this is a shared-library,
    C++-capable x86_64 build, which is what the branches mostly test)."""
    lists: dict = field(default_factory=dict)   # (subdir, variable) -> [names]
    values: dict = field(default_factory=dict)  # variable -> raw value (all += joined)
    deps: dict = field(default_factory=dict)    # target -> [prerequisites]


LISTS = ("tests", "tests-internal", "tests-container", "xtests", "tests-static",
         "tests-time64", "modules-names", "test-extras")
SUBDIR_COND = [re.compile(r"^ifeq\s+\(\$\(subdir\),\s*([\w-]+)\)"),
               re.compile(r"^ifneq\s+\(,\s*\$\(filter\s+\$\(subdir\),\s*([\w -]+)\)\)")]


def logical_lines(text: str) -> list[str]:
    return text.replace("\\\n", " ").splitlines()


def parse_makefile(path: Path, default_subdir: str | None) -> Makefile:
    mk = Makefile()
    stack: list[str | None | bool] = []  # subdir of each open conditional, or True
    for line in logical_lines(path.read_text()):
        if line.startswith("\t"):
            continue
        line = line.split("#", 1)[0].rstrip()
        word = line.split(None, 1)[0] if line.strip() else ""
        if word in ("ifeq", "ifneq", "ifdef", "ifndef"):
            subdir = None
            for cond in SUBDIR_COND:
                m = cond.match(line)
                if m:
                    subdir = "nptl" if "nptl" in m.group(1).split() else m.group(1)
            stack.append(subdir if subdir else True)
            continue
        if word == "else":
            if stack and stack[-1] is not True:
                stack[-1] = "(other)"
            continue
        if word == "endif":
            if stack:
                stack.pop()
            continue
        subdirs = [s for s in stack if s is not True]
        subdir = subdirs[-1] if subdirs else default_subdir
        m = re.match(r"^([\w.$()<@%+-]+?)\s*(\+=|:=|\?=|=)\s*(.*)$", line)
        if m:
            var, op, value = m.groups()
            if var in LISTS:
                mk.lists.setdefault((subdir, var), []).extend(value.split())
            old = mk.values.get(var, "")
            mk.values[var] = f"{old} {value}".strip() if op == "+=" else value
            continue
        m = re.match(r"^\$\(objpfx\)([\w.+-]+)\s*:(?!=)\s*(.*)$", line)
        if m:
            mk.deps.setdefault(m.group(1), []).extend(m.group(2).split())
    return mk


def expand(value: str, mk: Makefile, ctx: dict, depth: int = 0) -> str:
    """Expands $(VAR), $(addprefix), $(addsuffix) and $(patsubst) as make would, with the
    variables of this Makefile and ctx; anything else expands to nothing."""
    if depth > 10 or "$" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        if value.startswith("$(", i):
            level, j = 0, i + 1
            while j < len(value):
                level += {"(": 1, ")": -1}.get(value[j], 0)
                if level == 0:
                    break
                j += 1
            inner = value[i + 2:j]
            out.append(expand_ref(inner, mk, ctx, depth))
            i = j + 1
        elif value.startswith("$<", i):
            out.append(ctx.get("<", ""))
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def expand_ref(inner: str, mk: Makefile, ctx: dict, depth: int) -> str:
    fn, _, args = inner.partition(" ")
    if fn in ("addprefix", "addsuffix", "patsubst"):
        parts = [expand(a, mk, ctx, depth + 1) for a in split_args(args)]
        if fn == "addprefix":
            return " ".join(parts[0].strip() + w for w in parts[1].split())
        if fn == "addsuffix":
            return " ".join(w + parts[0].strip() for w in parts[1].split())
        pat, rep = parts[0].strip(), parts[1].strip()
        pre, _, post = pat.partition("%")
        words = []
        for w in parts[2].split():
            if w.startswith(pre) and w.endswith(post) and len(w) >= len(pre) + len(post):
                w = rep.replace("%", w[len(pre):len(w) - len(post)])
            words.append(w)
        return " ".join(words)
    if inner in ctx:
        return ctx[inner]
    return expand(mk.values.get(inner, ""), mk, ctx, depth + 1)


def split_args(args: str) -> list[str]:
    parts, level, cur = [], 0, []
    for ch in args:
        if ch == "," and level == 0:
            parts.append("".join(cur))
            cur = []
            continue
        level += {"(": 1, ")": -1}.get(ch, 0)
        cur.append(ch)
    parts.append("".join(cur))
    return parts


@dataclass
class Test:
    tid: str                  # subdir/name
    subdir: str
    name: str
    mk: Makefile
    mkdir: Path               # directory of the Makefile that lists it
    kind: str = "tests"       # the Makefile list it came from
    source: Path | None = None
    timeout: int = 20
    cflags: list = field(default_factory=list)
    ldflags: list = field(default_factory=list)
    objs: list = field(default_factory=list)       # aux objects (name of .c)
    link_mods: list = field(default_factory=list)  # modules linked in
    run_mods: list = field(default_factory=list)   # modules loaded at run time
    args: str = ""
    env: str = ""


def find_source(src: Path, mkdir: Path, subdir: str, name: str) -> Path | None:
    for d in [mkdir] + [src / s for s in SYSDEPS] + [src / subdir]:
        for ext in (".c", ".cc"):
            if (d / f"{name}{ext}").is_file():
                return d / f"{name}{ext}"
    return None


def declared_timeout(source: Path) -> int:
    """TIMEOUT as the test defines it for the driver (default 20 s)."""
    m = re.search(r"^#\s*define\s+TIMEOUT\s+(.+?)\s*(?:/\*.*)?$", source.read_text(errors="replace"),
                  re.M)
    if m and re.fullmatch(r"[\d\s()*+]+", m.group(1)):
        try:
            return int(eval(m.group(1)))  # digits and arithmetic only
        except (SyntaxError, ValueError):
            pass
    return 20


def discover(src: Path) -> tuple[list[Test], dict[str, list[str]], dict]:
    """The tests to build, the ones set aside by kind, and the modules by subdir."""
    found: dict[str, Test] = {}
    aside: dict[str, list[str]] = {}
    modules: dict[str, dict[str, tuple[Path, Makefile]]] = {}
    for rel, default, _ in MAKEFILES:
        path = src / rel
        mk = parse_makefile(path, default)
        skip: dict[str, str] = {}
        for (subdir, var), names in mk.lists.items():
            if subdir not in SUBDIRS:
                continue
            names = expand(" ".join(names), mk, {}).split()
            for name in names:
                if var == "modules-names" or var == "test-extras":
                    modules.setdefault(subdir, {})[name] = (path.parent, mk)
                elif var in ("tests-container", "xtests", "tests-static", "tests-time64"):
                    skip[f"{subdir}/{name}"] = var
        for (subdir, var), names in mk.lists.items():
            if subdir not in SUBDIRS or var not in ("tests", "tests-internal"):
                continue
            wanted = SUBDIRS[subdir]
            for name in expand(" ".join(names), mk, {}).split():
                tid = f"{subdir}/{name}"
                if "$" in name or (wanted and not wanted.search(name)) or tid in found:
                    continue
                if tid in skip or name.endswith("-static"):
                    aside.setdefault(skip.get(tid, "tests-static"), []).append(tid)
                    continue
                found[tid] = Test(tid, subdir, name, mk, path.parent, var)
        for tid, var in skip.items():
            sub, name = tid.split("/", 1)
            if (SUBDIRS.get(sub) is None or SUBDIRS[sub].search(name)) and \
                    tid not in aside.get(var, []) and tid not in found:
                aside.setdefault(var, []).append(tid)
    for test in found.values():
        describe(src, test)
    return sorted(found.values(), key=lambda t: t.tid), aside, modules


def describe(src: Path, test: Test) -> None:
    """Per-test flags, arguments, environment and prerequisites from its Makefile."""
    mk, name = test.mk, test.name
    test.source = find_source(src, test.mkdir, test.subdir, name)
    if test.source is None:
        return
    test.timeout = declared_timeout(test.source)
    ctx = {"<": test.source.name}
    for var in (f"CFLAGS-{name}.c", f"CPPFLAGS-{name}.c", f"CFLAGS-{name}.cc"):
        test.cflags += expand(mk.values.get(var, ""), mk, ctx).split()
    test.ldflags = expand(mk.values.get(f"LDFLAGS-{name}", ""), mk, ctx).split()
    for target, runtime in ((name, False), (f"{name}.out", True)):
        for dep in mk.deps.get(target, []):
            if dep in LINK_DEPS:
                if LINK_DEPS[dep]:
                    test.ldflags.append(LINK_DEPS[dep])
                continue
            m = re.fullmatch(r"\$\(objpfx\)([\w.+-]+)\.(so|o)", dep)
            if not m:
                continue
            if m.group(2) == "o":
                test.objs.append(m.group(1))
            elif runtime:
                test.run_mods.append(m.group(1))
            else:
                test.link_mods.append(m.group(1))
    test.args = mk.values.get(f"{name}-ARGS", "")
    test.env = mk.values.get(f"{name}-ENV", "")


# ---------------------------------------------------------------------------------------
# Building


@dataclass
class Built:
    ok: bool
    error: str = ""


def run_cached(cmd: list[str], output: Path, inputs: list[Path]) -> Built:
    """Runs a compiler command unless its output (or its recorded failure) is newer than
    every input and was made by the same command."""
    key = hashlib.sha1("\0".join(cmd).encode()).hexdigest()
    stamp, fail = output.with_name(output.name + ".cmd"), output.with_name(output.name + ".fail")
    newest = max((p.stat().st_mtime for p in inputs if p.exists()), default=0)
    if stamp.exists() and stamp.read_text() == key:
        if output.exists() and output.stat().st_mtime >= newest:
            return Built(True)
        if fail.exists() and fail.stat().st_mtime >= newest:
            return Built(False, fail.read_text())
    output.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    stamp.write_text(key)
    if out.returncode == 0:
        fail.unlink(missing_ok=True)
        return Built(True)
    output.unlink(missing_ok=True)
    error = first_error(out.stderr)
    fail.write_text(error)
    return Built(False, error)


def first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if re.search(r"error|undefined reference", line):
            line = re.sub(r"^/[^:]*/(glibc/src|tmp)/", "", line)
            return re.sub(r"^/usr/bin/ld: [^:]*: ", "ld: ", line).strip()[:200]
    return (stderr.strip().splitlines() or ["failed"])[-1][:200]


class Builder:
    def __init__(self, src: Path, build: Path, jobs: int) -> None:
        self.src, self.build, self.jobs = src, build, jobs
        self.inc = build / "include"
        self.obj = build / "obj"

    def includes(self, test_dir: Path | None, subdir: str) -> list[str]:
        flags = ["-I", str(HERE / "include"), "-I", str(self.inc)]
        # After the installed headers, as glibc's build searches them: the test's own
        # directory, its subdirectory, the sysdeps directories and the top (for
        # `<test-skeleton.c>`, `<sysdeps/pthread/tst-join5.c>`). A system header always
        # wins, so glibc's internal bits/ never replace the installed ones.
        after = ([test_dir] if test_dir else []) + [self.src / subdir] + \
            [self.src / s for s in SYSDEPS] + [self.src / "nptl", self.src]
        for d in after:
            flags += ["-idirafter", str(d)]
        return flags

    def shim(self) -> None:
        """build/include: support/ and a few header-only internal headers, by symlink."""
        self.inc.mkdir(parents=True, exist_ok=True)
        links = dict(SHIM_HEADERS, support="support")
        links["glibc-internal"] = "include"
        for name, rel in links.items():
            link = self.inc / name
            if link.is_symlink() and os.readlink(link) == str(self.src / rel):
                continue
            link.unlink(missing_ok=True)
            link.symlink_to(self.src / rel)

    def support(self) -> tuple[Path, list[str]]:
        """libsupport.a from every routine that builds; returns it and the ones that do not."""
        text = (self.src / "support/Makefile").read_text()
        m = re.search(r"^libsupport-routines\s*=(.*?)\n\s*\n", text.replace("\\\n", " ") + "\n\n",
                      re.M | re.S)
        routines = m.group(1).split() if m else []
        out = self.obj / "support"
        paths = {
            "SRCDIR_PATH": self.src, "OBJDIR_PATH": self.obj,
            "OBJDIR_ELF_LDSO_PATH": "/lib64/ld-linux-x86-64.so.2", "INSTDIR_PATH": "/",
            "LIBDIR_PATH": "/usr/lib/x86_64-linux-gnu", "BINDIR_PATH": "/usr/bin",
            "SBINDIR_PATH": "/usr/sbin", "SLIBDIR_PATH": "/lib/x86_64-linux-gnu",
            "ROOTSBINDIR_PATH": "/sbin", "COMPLOCALEDIR_PATH": "/usr/lib/locale"}
        extra = {"support_paths": [f"-D{k}=\"{v}\"" for k, v in paths.items()],
                 "support_test_main": ["-DTIMEOUTFACTOR=1"],
                 "temp_file": ["-include", "limits.h"]}

        def one(routine: str) -> tuple[str, Built]:
            source = self.src / "support" / f"{routine}.c"
            obj = out / f"{routine}.o"
            cmd = ["gcc", "-c", *CFLAGS, *extra.get(routine, []),
                   *self.includes(None, "support"), "-I", str(self.src / "support"),
                   str(source), "-o", str(obj)]
            return routine, run_cached(cmd, obj, [source])

        with ThreadPoolExecutor(self.jobs) as pool:
            results = list(pool.map(one, routines))
        objs = [str(out / f"{r}.o") for r, b in results if b.ok]
        lib = out / "libsupport.a"
        if not lib.exists() or any(Path(o).stat().st_mtime > lib.stat().st_mtime for o in objs):
            lib.unlink(missing_ok=True)
            subprocess.run(["ar", "rcs", str(lib), *objs], check=True)
        return lib, [f"{r}: {b.error}" for r, b in results if not b.ok]

    def module(self, subdir: str, name: str, mkdir: Path, mk: Makefile) -> Built:
        """A shared object a test links with or loads, or an aux object (name.o)."""
        source = find_source(self.src, mkdir, subdir, name)
        if source is None:
            return Built(False, f"no source for {name}")
        out = self.obj / subdir
        cxx = source.suffix == ".cc"
        ctx = {"<": source.name}
        flags = expand(mk.values.get(f"CFLAGS-{name}.c", ""), mk, ctx).split()
        so_deps = [f"{out}/{m.group(1)}.so" for d in mk.deps.get(f"{name}.so", [])
                   for m in [re.fullmatch(r"\$\(objpfx\)([\w.+-]+)\.so", d)] if m]
        ldflags = expand(mk.values.get(f"LDFLAGS-{name}.so", ""), mk, ctx).split()
        base = ["g++" if cxx else "gcc", *(CXXFLAGS if cxx else CFLAGS), *flags,
                *self.includes(source.parent, subdir)]
        if name in (mk.values.get("test-extras", "").split()):
            target = out / f"{name}.o"
            cmd = [*base, "-c", str(source), "-o", str(target)]
        else:
            target = out / f"{name}.so"
            cmd = [*base, "-fPIC", "-shared", str(source), "-o", str(target), *ldflags,
                   *so_deps, f"-Wl,-rpath,{out}", *LIBS]
        return run_cached(cmd, target, [source])

    def test(self, test: Test, libsupport: Path) -> Built:
        if test.source is None:
            return Built(False, "no source file")
        out = self.obj / test.subdir
        cxx = test.source.suffix == ".cc"
        binary = out / test.name
        objs = [str(out / f"{o}.o") for o in test.objs]
        mods = [str(out / f"{m}.so") for m in test.link_mods]
        cmd = ["g++" if cxx else "gcc", *(CXXFLAGS if cxx else CFLAGS), *test.cflags,
               *self.includes(test.source.parent, test.subdir), str(test.source), *objs,
               "-o", str(binary), *test.ldflags, *mods, f"-Wl,-rpath,{out}",
               str(libsupport), *LIBS]
        loaded = [str(out / f"{m}.so") for m in test.run_mods]
        missing = [p for p in objs + mods + loaded if not Path(p).exists()]
        if missing:
            return Built(False, f"needs {Path(missing[0]).name}, which does not build")
        return run_cached(cmd, binary, [test.source, libsupport, *map(Path, objs + mods)])


# ---------------------------------------------------------------------------------------
# Running


@dataclass
class Result:
    outcome: str
    detail: str = ""
    wall: float = 0.0
    log: str = ""


def test_env(test: Test, mode: str, out: Path, work: str, factor: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "TIMEOUTFACTOR")}
    env.update(TIMEOUTFACTOR=str(factor), TMPDIR=work, LD_LIBRARY_PATH=str(out))
    preload = [str(LIBGREEN)] if mode == "greened" else []
    debug = sorted(glob.glob("/lib/*/libc_malloc_debug.so*") +
                   glob.glob("/usr/lib/*/libc_malloc_debug.so*"))
    ctx = {"objpfx": f"{out}/", "common-objpfx": f"{out}/"}
    for assign in shlex.split(expand(test.env, test.mk, ctx)):
        key, _, value = assign.partition("=")
        if key == "LD_PRELOAD":
            if "libc_malloc_debug" in value and debug:
                value = debug[0]
            preload.append(value)
        elif key:
            env[key] = value
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    return env


def classify(rc: int, output: str, hard_timeout: bool) -> tuple[str, str]:
    if hard_timeout:
        return TIMEOUT, "outer timeout"
    if "Timed out: " in output:
        return TIMEOUT, "test driver timeout"
    if rc < 0:
        return CRASH, signal.Signals(-rc).name
    m = re.search(r"Didn't expect signal from child: got `([^']*)'", output)
    if m:
        return CRASH, m.group(1)
    if rc == 0:
        return PASS, ""
    if rc == 77:
        return UNSUPPORTED, ""
    return FAIL, f"exit {rc}" + (f": {local(why)[:120]}" if (why := telling_line(output)) else "")


def telling_line(output: str) -> str:
    """The line of a failed run that says most: ours, then the driver's `error:`, then the
    first the test printed."""
    lines = [ln.strip() for ln in output.splitlines()
             if ln.strip() and not ln.startswith(("$ ", "[compat-glibc]"))]
    for prefix in ("libgreen:", "error:"):
        for ln in lines:
            if ln.startswith(prefix) or f" {prefix}" in ln:
                return ln
    return lines[0] if lines else ""


def local(text: str) -> str:
    """Paths in a test's output, relative to the glibc source or to the repository."""
    return text.replace(f"{ROOT}/build/glibc/src/", "").replace(f"{ROOT}/", "")


def run_one(test: Test, mode: str, build: Path, factor: float) -> Result:
    out = build / "obj" / test.subdir
    log = build / "logs" / test.subdir / f"{test.name}.{mode}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    binary = out / test.name
    limit = test.timeout * factor + 30
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compat-glibc-") as work:
        ctx = {"objpfx": f"{work}/", "common-objpfx": f"{out}/",
               "host-test-program-cmd": str(binary), "test-program-prefix": ""}
        args = shlex.split(expand(test.args, test.mk, ctx))
        env = test_env(test, mode, out, work, factor)
        with open(log, "wb") as f:
            f.write(f"$ {binary} {shlex.join(args)}  ({mode})\n".encode())
            f.flush()
            # In the test's source directory, as glibc runs it (tst-cancel4 reads its
            # Makefile); temporary files go to TMPDIR, a directory of this run's own.
            proc = subprocess.Popen([str(binary), *args], cwd=build / "src" / test.subdir, env=env,
                                    stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            hard = False
            try:
                rc = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                hard = True
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
            try:  # whatever the test left running in its group goes too
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            f.write(f"\n[compat-glibc] exit status {rc}\n".encode())
    wall = time.monotonic() - start
    outcome, detail = classify(rc, log.read_text(errors="replace"), hard)
    shown = log.relative_to(ROOT) if log.is_relative_to(ROOT) else log  # --out may lie elsewhere
    return Result(outcome, detail, wall, str(shown))


def preflight(build: Path) -> None:
    """Refuses to compare anything if the greened mode is not really greened."""
    binary = build / "obj" / "preflight"
    built = run_cached(["gcc", "-O2", "-pthread", str(HERE / "preflight.c"), "-o", str(binary)],
                       binary, [HERE / "preflight.c"])
    if not built.ok:
        sys.exit(f"cannot build the preflight check: {built.error}")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["LD_PRELOAD"] = str(LIBGREEN)
    out = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=60)
    if out.stdout.strip() != "greened":
        sys.exit(f"greened mode is not greened ({LIBGREEN}): {out.stdout!r} {out.stderr!r}")


# ---------------------------------------------------------------------------------------
# Comparing and reporting


def compare(results: dict, expected: list) -> tuple[list, list, list]:
    """(differences, unexpected ones, expected entries that now pass)."""
    diffs, unexpected, stale = [], [], []
    for tid, by_mode in sorted(results.items()):
        native, greened = by_mode["native"], by_mode["greened"]
        if native.outcome != PASS:
            continue
        reason = expected_reason(tid, expected)
        if greened.outcome != PASS:
            diffs.append((tid, greened, reason))
            if reason is None:
                unexpected.append(tid)
        elif reason is not None:
            stale.append(tid)
    return diffs, unexpected, stale


def fmt(r: Result) -> str:
    return f"{r.outcome} ({r.detail})" if r.detail else r.outcome


def write_report(path: Path, info: dict, results: dict, expected: list) -> None:
    diffs, unexpected, stale = compare(results, expected)
    native_pass = sum(r["native"].outcome == PASS for r in results.values())
    greened_pass = sum(r["greened"].outcome == PASS for r in results.values())
    both = sum(r["native"].outcome == PASS and r["greened"].outcome == PASS
               for r in results.values())
    uname = os.uname()
    lines = [
        "# glibc's NPTL tests, native vs greened",
        "",
        f"Written by `scripts/compat_glibc.py` on {info['started']}: glibc "
        f"{installed_version()} (tests from {info['tarball']}), {uname.sysname} "
        f"{uname.release} {uname.machine}, {os.cpu_count()} CPUs, TIMEOUTFACTOR="
        f"{info['factor']:g}.",
        "",
        "The tests of nptl/, sysdeps/pthread/ and the nptl part of sysdeps/unix/sysv/linux/, "
        "and the sleeping and waiting tests of posix/, time/, misc/, rt/ and signal/, as "
        "their Makefiles list them, built with gcc against the installed glibc and its "
        "headers with glibc's own test-support library, then each run under glibc's test "
        "driver natively and with `LD_PRELOAD=libgreen.so`. A difference is a test that "
        "passes natively and does not pass greened; the expected ones are listed with "
        "their reasons in `scripts/compat-glibc-expected.txt`.",
        "",
        "| | tests |",
        "|---|---|",
        f"| listed by the Makefiles | {info['listed']} |",
        f"| built | {len(results)} |",
        f"| not buildable outside glibc | {len(info['unbuildable'])} |",
    ]
    for kind, tids in sorted(info["aside"].items()):
        lines.append(f"| not built: {kind} ({ASIDE_WHY.get(kind, '')}) | {len(tids)} |")
    causes: dict[str, int] = {}
    for _, _, reason in diffs:
        causes[reason or "**unexpected**"] = causes.get(reason or "**unexpected**", 0) + 1
    lines += [
        f"| pass natively | {native_pass} |",
        f"| pass greened | {greened_pass} |",
        f"| pass in both modes | {both} |",
        f"| differences, expected | {len(diffs) - len(unexpected)} |",
        f"| differences, unexpected | {len(unexpected)} |",
        f"| expected differences that now pass | {len(stale)} |",
        "",
        "## Differences by cause",
        "",
        "| tests | cause |",
        "|---|---|",
        *[f"| {n} | {why} |" for why, n in sorted(causes.items(), key=lambda c: (-c[1], c[0]))],
        "",
        "## Differences",
        "",
        "| test | greened | reason |",
        "|---|---|---|",
    ]
    for tid, greened, reason in diffs:
        lines.append(f"| {tid} | {fmt(greened)} | {reason or '**unexpected**'} |")
    lines += [f"| {tid} | PASS | **expected, and now passes: remove it** |" for tid in stale]
    lines += ["", "## Not passing natively (not compared)", "",
              "| test | native | greened |", "|---|---|---|"]
    for tid, r in sorted(results.items()):
        if r["native"].outcome != PASS:
            lines.append(f"| {tid} | {fmt(r['native'])} | {fmt(r['greened'])} |")
    lines += ["", "## Not buildable outside glibc", "", "| test | first error |", "|---|---|"]
    for tid, error in sorted(info["unbuildable"].items()):
        lines.append(f"| {tid} | `{error.replace('|', '/')}` |")
    lines += ["", "## Not built", ""]
    for kind, tids in sorted(info["aside"].items()):
        lines.append(f"* {kind}: {', '.join(sorted(tids))}")
    path.write_text("\n".join(lines) + "\n")


ASIDE_WHY = {"tests-static": "statically linked: LD_PRELOAD cannot apply",
             "tests-container": "need glibc's test container",
             "xtests": "glibc runs them only under make xcheck",
             "tests-time64": "the same test as its twin on a 64-bit target"}


def select(tests: list[Test], patterns: list[str]) -> list[Test]:
    chosen = [t for t in tests if any(fnmatch.fnmatchcase(t.tid, p) or
                                       fnmatch.fnmatchcase(t.name, p) for p in patterns)]
    missing = [p for p in patterns if not any(fnmatch.fnmatchcase(t.tid, p) or
                                              fnmatch.fnmatchcase(t.name, p) for t in tests)]
    if missing:
        sys.exit(f"no such test: {', '.join(missing)}")
    return chosen


def build_all(builder: Builder, tests: list[Test], modules: dict) -> tuple[list, dict]:
    """Builds support, the modules the chosen tests need, then the tests."""
    started = time.monotonic()
    builder.shim()
    libsupport, support_failed = builder.support()
    wanted = {(t.subdir, m) for t in tests for m in t.link_mods + t.run_mods + t.objs}
    # Modules a module links with come first.
    for subdir, name in list(wanted):
        _, mk = modules.get(subdir, {}).get(name, (None, None))
        for dep in (mk.deps.get(f"{name}.so", []) if mk else []):
            m = re.fullmatch(r"\$\(objpfx\)([\w.+-]+)\.so", dep)
            if m:
                wanted.add((subdir, m.group(1)))
    jobs = sorted(wanted, key=lambda sm: any(
        d.endswith(".so") for d in modules.get(sm[0], {}).get(sm[1], (None, Makefile()))[1]
        .deps.get(f"{sm[1]}.so", [])))
    for subdir, name in jobs:
        where = modules.get(subdir, {}).get(name)
        if where:
            builder.module(subdir, name, *where)
    with ThreadPoolExecutor(builder.jobs) as pool:
        outcomes = list(pool.map(lambda t: builder.test(t, libsupport), tests))
    built = [t for t, b in zip(tests, outcomes) if b.ok]
    unbuildable = {t.tid: b.error for t, b in zip(tests, outcomes) if not b.ok}
    print(f"built {len(built)} of {len(tests)} tests ({len(unbuildable)} not buildable "
          f"outside glibc; support routines left out: {len(support_failed)}) in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return built, unbuildable


def run_all(args, tests: list[Test], build: Path) -> dict:
    history_path = build / "durations.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else {}
    # Longest first (as last measured), so the slow ones do not finish the run alone.
    jobs = sorted(((t, m) for t in tests for m in MODES),
                  key=lambda tm: -history.get(f"{tm[0].tid}/{tm[1]}", tm[0].timeout / 4))
    results: dict[str, dict[str, Result]] = {}
    started = time.monotonic()

    def one(tm):
        test, mode = tm
        return test, mode, run_one(test, mode, build, args.timeout_factor)

    with ThreadPoolExecutor(args.jobs) as pool:
        for done in as_completed([pool.submit(one, tm) for tm in jobs]):
            test, mode, res = done.result()
            results.setdefault(test.tid, {})[mode] = res
            history[f"{test.tid}/{mode}"] = round(res.wall, 2)
            if args.verbose or res.outcome != PASS:
                print(f"{test.tid:44} {mode:8} {fmt(res)}  {res.wall:.1f} s", flush=True)
    history_path.write_text(json.dumps(history, indent=1, sort_keys=True))
    print(f"ran {len(tests)} tests in both modes in {time.monotonic() - started:.0f} s",
          flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", action="store_true", help=f"only the {len(FAST)} tests of the "
                    "quick subset (threads, mutexes, conditions, rwlocks, semaphores, "
                    "barriers, once, keys, join, sleeps)")
    ap.add_argument("--only", nargs="+", metavar="NAME", default=[],
                    help="only these tests (subdir/name or name; globs allowed)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2,
                    help="parallel compiles and test runs (default: CPUs)")
    ap.add_argument("--timeout-factor", type=float, default=1,
                    help="TIMEOUTFACTOR for glibc's test driver (default 1: 20 s unless the "
                    "test says otherwise); the outer limit is that plus 30 s")
    ap.add_argument("--build-only", action="store_true", help="build, do not run")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    ap.add_argument("--expected", type=Path, default=ROOT / "scripts/compat-glibc-expected.txt")
    ap.add_argument("--report", type=Path, default=None,
                    help="table to write (default scripts/COMPAT_GLIBC.md for a full run, "
                    "none for --fast or --only)")
    ap.add_argument("--out", type=Path, default=ROOT / "build/glibc",
                    help="directory for the source, objects, logs and results.json")
    args = ap.parse_args()

    build = args.out.resolve()
    build.mkdir(parents=True, exist_ok=True)
    src = unpack(build)
    tests, aside, modules = discover(src)
    listed = len(tests) + sum(len(v) for v in aside.values())
    chosen = tests
    if args.fast:
        chosen = select(tests, FAST)
    if args.only:
        chosen = select(chosen, args.only)
    report = args.report or (ROOT / "scripts/COMPAT_GLIBC.md"
                             if not args.fast and not args.only and not args.build_only
                             else None)
    expected = load_expected(args.expected)
    builder = Builder(src, build, args.jobs)
    built, unbuildable = build_all(builder, chosen, modules)
    if args.build_only:
        for tid, error in sorted(unbuildable.items()):
            print(f"  not buildable: {tid}: {error}")
        return 0
    if not LIBGREEN.is_file():
        sys.exit(f"missing {LIBGREEN} (run `make build`)")
    preflight(build)
    # A shell starts background jobs with SIGINT ignored, and an ignored signal stays
    # ignored across exec: tests that raise SIGINT would behave differently.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.strftime("%Y-%m-%d %H:%M")
    results = run_all(args, built, build)
    (build / "results.json").write_text(json.dumps(
        {tid: {m: vars(r) for m, r in by_mode.items()} for tid, by_mode in results.items()},
        indent=1, sort_keys=True))
    diffs, unexpected, stale = compare(results, expected)
    for tid, greened, reason in diffs:
        mark = f"expected: {reason}" if reason else "UNEXPECTED"
        print(f"    {tid}: {fmt(greened)} greened -- {mark}")
    for tid in stale:
        print(f"    {tid}: passes greened -- expected to differ; now passes: remove it")
    if report:
        info = {"started": started, "tarball": tarball().name, "factor": args.timeout_factor,
                "listed": listed, "unbuildable": unbuildable, "aside": aside}
        write_report(report, info, results, expected)
        print(f"wrote {report}")
    native_pass = sum(r["native"].outcome == PASS for r in results.values())
    both = sum(r["native"].outcome == PASS and r["greened"].outcome == PASS
               for r in results.values())
    print(f"{len(results)} built and run; {native_pass} pass natively, {both} greened too; "
          f"{len(diffs) - len(unexpected)} expected differences")
    print(f"compat-glibc: {native_pass - len(unexpected) - len(stale)} passed, "
          f"{len(unexpected) + len(stale)} failed")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())
