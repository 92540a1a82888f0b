"""Ctrl-C during time.sleep() in the main thread, while another thread runs: natively the
sleep returns EINTR and KeyboardInterrupt is raised at once; greened it must be the same."""
import threading, time, sys
def tick():
    for _ in range(100):
        time.sleep(0.05)
t = threading.Thread(target=tick, daemon=True)
t.start()
print("sleeping", flush=True)
start = time.monotonic()
try:
    time.sleep(30)
except KeyboardInterrupt:
    print("interrupted after %.1f s" % (time.monotonic() - start), flush=True)
