# libgreen: `make` builds, `make test` runs the test suite, `make lint` checks the code's
# shape (clippy with the lints Cargo.toml declares, layers, sizes), `make test-debug` runs the
# suite against a debug build (its debug_assert!s check the runtime's invariants), `make compat`
# CPython's and glibc's own suites under the shim, `make demo` shows the point, `make bench`
# measures.
# C programs used by tests, the demo and the benchmark are compiled from shim-tests/c/NAME.c
# to build/bin/NAME; C++ ones from shim-tests/cxx/NAME.cc; Rust ones from shim-tests/rust/NAME.rs.

PREFIX   ?= /usr/local
CC       ?= cc
CFLAGS   ?= -O2 -g -Wall -Wextra -pthread
PYTHON   ?= python3
CARGO    ?= cargo

LIB      := target/release/libgreen.so
LAUNCHER := target/release/green
RUSTC    ?= rustc
PROGS    := $(patsubst shim-tests/c/%.c,build/bin/%,$(wildcard shim-tests/c/*.c)) \
            $(patsubst shim-tests/rust/%.rs,build/bin/%,$(wildcard shim-tests/rust/*.rs)) \
            $(patsubst shim-tests/cxx/%.cc,build/bin/%,$(wildcard shim-tests/cxx/*.cc))

export LIBGREEN := $(abspath $(LIB))
export GREEN_LAUNCHER := $(abspath $(LAUNCHER))
export GREEN_TEST_BIN := $(abspath build/bin)

.PHONY: all build progs test unit shim-tests lint test-debug compat compat-fast compat-glibc compat-glibc-fast compat-programs demo bench bench-deps install clean

all: build

build:
	$(CARGO) build --release --locked

progs: $(PROGS)

build/bin/%: shim-tests/c/%.c shim-tests/c/common.h shim-tests/c/diff_common.h
	@mkdir -p build/bin
	$(CC) $(CFLAGS) -o $@ $< -lm

# The watchdog's report names the spinning function: frame pointers, exported symbols.
build/bin/watchdog: CFLAGS += -fno-omit-frame-pointer -rdynamic

build/bin/%: shim-tests/cxx/%.cc
	@mkdir -p build/bin
	$(CXX) $(CFLAGS) -o $@ $<

build/bin/%: shim-tests/rust/%.rs
	@mkdir -p build/bin
	$(RUSTC) -O --edition 2021 -o $@ $<

test: build progs unit shim-tests

unit:
	$(CARGO) test --release --locked

shim-tests: build progs
	$(PYTHON) -m pytest shim-tests -q -ra

lint:
	CLIPPY_CONF_DIR=scripts $(CARGO) clippy --release --locked --all-targets -- -D warnings
	$(PYTHON) scripts/check_structure.py

# The same suite against a debug build: slower, and every debug_assert! is live.
test-debug: progs
	$(CARGO) build --locked
	$(CARGO) test --locked
	LIBGREEN=$(abspath target/debug/libgreen.so) GREEN_LAUNCHER=$(abspath target/debug/green) \
		$(PYTHON) -m pytest shim-tests -q -ra

# CPython's own test suites natively and greened, compared test by test (scripts/compat.py),
# and glibc's own NPTL tests the same way (scripts/compat_glibc.py). `compat` runs all of both
# (writing scripts/COMPAT.md and scripts/COMPAT_GLIBC.md); the -fast targets a quick subset.
compat: build
	$(PYTHON) scripts/compat.py
	$(PYTHON) scripts/compat_glibc.py

compat-fast: build
	$(PYTHON) scripts/compat.py --fast

compat-glibc: build
	$(PYTHON) scripts/compat_glibc.py

compat-glibc-fast: build
	$(PYTHON) scripts/compat_glibc.py --fast

# Real programs (Redis, memcached, nginx, lighttpd, PostgreSQL, MariaDB, Python database
# clients) natively and greened, each driven by its own load tool with every reply verified;
# installs what is missing with apt-get and writes scripts/COMPAT_PROGRAMS.md. By hand, not
# in CI: it takes a few minutes and needs root (or sudo) for apt-get.
compat-programs: build
	$(PYTHON) scripts/compat_programs.py

demo: build progs
	$(PYTHON) scripts/demo.py

# What the benchmark compares against and drives: gevent (the echo table's Python row) and
# stress-ng (scripts/bench_scale.py). Installed if missing; a run without them says so.
bench-deps:
	@$(PYTHON) -c "import gevent" 2>/dev/null || $(PYTHON) -m pip install -q gevent || true
	@command -v stress-ng >/dev/null || (apt-get update -q && apt-get install -y -q stress-ng) || true

bench: build progs bench-deps
	$(PYTHON) scripts/bench.py
	$(PYTHON) scripts/bench_scale.py --pin-stress 1 --append scripts/BENCHMARKS.md
	$(PYTHON) scripts/bench_directio.py --append scripts/BENCHMARKS.md
	$(PYTHON) scripts/bench_python.py
	$(PYTHON) scripts/bench_resolve.py

install: build
	install -D -m 755 $(LAUNCHER) $(DESTDIR)$(PREFIX)/bin/green
	install -D -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libgreen.so

clean:
	$(CARGO) clean
	rm -rf build
