"""Runtimes that cannot be greened are detected at start and run natively, with one line on
stderr (src/runtime/detect.rs). The suite needs no JDK or Go: shim-tests/detect/detect_marker.c
stands in for them, carrying exactly what the detection reads (the Go linker's build-ID note;
an exported JNI_CreateJavaVM). The real `java` and a cgo binary were checked by hand (README.md,
"Compatibility")."""

import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, TEST_BIN, assert_ok, run_prog

SOURCE = REPO_ROOT / "shim-tests" / "detect" / "detect_marker.c"
VARIANTS = {
    "detect_go": ["-DGO_NOTE"],
    "detect_jvm": ["-DJVM_SYMBOL", "-rdynamic"],
    "detect_plain": [],
}
LINES = {
    "detect_go": "libgreen: a Go program or library (cgo) detected (",
    "detect_jvm": "libgreen: the JVM (libjvm) detected (",
}
SILENCE = "running natively; GREEN_DISABLE=1 silences this"


@pytest.fixture(scope="module")
def programs():
    for name, flags in VARIANTS.items():
        target = Path(TEST_BIN) / name
        if target.exists() and target.stat().st_mtime >= SOURCE.stat().st_mtime:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cc", "-O2", "-g", "-Wall", "-pthread", *flags, "-o", str(target), str(SOURCE)], check=True)
    return VARIANTS


@pytest.mark.parametrize("name", ["detect_go", "detect_jvm"])
def test_detected_runs_natively_with_one_line(programs, name):
    greened = assert_ok(run_prog(name, mode="greened"))
    assert greened.stdout == "kernel_threads=yes\n", greened.describe()
    lines = greened.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(LINES[name]) and lines[0].endswith(SILENCE), greened.describe()


@pytest.mark.parametrize("name", ["detect_go", "detect_jvm"])
def test_disable_silences_it(programs, name):
    quiet = assert_ok(run_prog(name, mode="greened", env={"GREEN_DISABLE": "1"}))
    assert quiet.stdout == "kernel_threads=yes\n" and quiet.stderr == "", quiet.describe()


def test_plain_program_is_greened(programs):
    native = assert_ok(run_prog("detect_plain", mode="native"))
    assert native.stdout == "kernel_threads=yes\n", native.describe()
    greened = assert_ok(run_prog("detect_plain", mode="greened"))
    assert greened.stdout == "kernel_threads=no\n" and greened.stderr == "", greened.describe()
