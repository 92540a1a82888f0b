"""Name resolution runs on offload workers and answers exactly as natively."""

from conftest import assert_ok, run_prog, green_stats

EXPECTED = """\
getaddrinfo localhost ok=50 of 50
getaddrinfo invalid=EAI_NONAME
getnameinfo=0 host=localhost serv=22
gethostbyname localhost=found
gethostbyname invalid=null h_errno=HOST_NOT_FOUND
gethostbyname_r=0 found=1
"""


def test_resolvers_from_many_threads(mode):
    """50 threads resolve localhost at once, an unresolvable name gives the native error
    code (and h_errno for gethostbyname), reverse lookups match. Greened, the calls were
    really offloaded (the stats line counts them)."""
    r = assert_ok(run_prog("resolve", [], mode, env={"GREEN_STATS": "1"}, timeout=60))
    assert r.stdout == EXPECTED, r.describe()
    if mode == "greened":
        assert int(green_stats(r.stderr)["offloaded"]) >= 50, r.describe()
