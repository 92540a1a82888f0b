"""subprocess.run from 20 threads at once, then os.system."""
import os
import subprocess
import threading
import time

results = []


def run(i):
    out = subprocess.run(["sh", "-c", f"sleep 0.3; echo {i}"], capture_output=True, text=True)
    results.append(int(out.stdout))


start = time.monotonic()
threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"results_ok={sorted(results) == list(range(20))}")
print(f"elapsed={time.monotonic() - start:.2f}")
print(f"system_exit={os.waitstatus_to_exitcode(os.system('sleep 0.1; exit 3'))}")
with open("/proc/self/status") as status:
    print("threads=" + status.read().split("Threads:")[1].split()[0])
