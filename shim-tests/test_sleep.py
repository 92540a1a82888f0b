"""Sleeping threads: every libc sleep call must park only the calling green thread."""

from conftest import assert_ok, green_stats, parse_kv, run_prog

SLEEPERS = 200


def test_mixed_sleep_calls(mode):
    """200 threads sleep 200 ms each through usleep, nanosleep and both clock_nanosleep
    forms. None may wake early; greened, they share one OS thread and still overlap, so the
    whole run takes about one sleep rather than 200 of them (40 s)."""
    env = {"GREEN_STATS": "1"} if mode == "greened" else None
    r = assert_ok(run_prog("sleepers", [SLEEPERS, "mixed"], mode, env=env))
    out = parse_kv(r.stdout)
    assert out["short_sleeps"] == 0, r.describe()
    assert out["elapsed_ms"] >= 200, r.describe()
    if mode == "greened":
        assert out["threads_during"] == 1, r.describe()
        assert out["elapsed_ms"] < 3000, r.describe()
        stats = green_stats(r.stderr)
        assert stats is not None, "no libgreen stats line with GREEN_STATS=1" + r.describe()
        assert stats["green_threads"] == SLEEPERS, r.describe()
    else:
        assert out["threads_during"] == SLEEPERS + 1, r.describe()


def test_sleep_seconds(mode):
    """20 threads call sleep(1) at once: about 1 s in total, on one OS thread greened."""
    r = assert_ok(run_prog("sleepers", [20, "sleep"], mode))
    out = parse_kv(r.stdout)
    assert out["short_sleeps"] == 0, r.describe()
    assert out["elapsed_ms"] >= 1000, r.describe()
    assert out["elapsed_ms"] < 4000, r.describe()
    assert out["threads_during"] == (1 if mode == "greened" else 21), r.describe()
