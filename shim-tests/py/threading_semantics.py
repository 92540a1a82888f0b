"""The threading module's primitives, queue.Queue and a ThreadPoolExecutor doing socket work,
written as a plain threaded program. Every line it prints is deterministic, so a greened run
must print exactly what a native run prints; the only lines allowed to differ start with
"threads_while_blocked=" (the OS thread count, read from /proc/self/status at a moment when
many threads are blocked).

Timeouts are printed as booleans against generous bounds: a wait of T seconds must take at
least 0.95 T and less than 5 s.
"""

import concurrent.futures
import queue
import re
import socket
import sys
import threading
import time


def os_threads():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def say(*words):
    print(*words, flush=True)


def timed(fn, *args, **kwargs):
    """(result, elapsed seconds) of fn(*args, **kwargs)."""
    t0 = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - t0


def bounded(elapsed, expected):
    """True when a wait of `expected` seconds took a plausible time."""
    return expected * 0.95 <= elapsed < expected + 5


def start_all(threads):
    for t in threads:
        t.start()
    return threads


def join_all(threads):
    for t in threads:
        t.join(timeout=30)
        if t.is_alive():
            say("FAIL: thread", t.name, "still alive after 30 s")
            sys.exit(1)


def wait_until(predicate, timeout=10.0):
    """Polls `predicate` (the caller's own state, not a primitive under test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# ---------------------------------------------------------------------------------------------
def check_lock():
    lock = threading.Lock()
    say("lock: acquire", lock.acquire(), "locked", lock.locked())
    say("lock: try while held", lock.acquire(blocking=False))
    got, elapsed = timed(lock.acquire, timeout=0.2)
    say("lock: timed acquire while held", got, "waited about 0.2 s", bounded(elapsed, 0.2))

    # Another thread releases it (a Lock, unlike an RLock, has no owner).
    def release_later():
        time.sleep(0.05)
        lock.release()
    t = threading.Thread(target=release_later)
    t.start()
    say("lock: acquire after another thread released it", lock.acquire(timeout=10))
    t.join()
    lock.release()
    try:
        lock.release()
        say("lock: release of an unlocked lock: no error")
    except RuntimeError:
        say("lock: release of an unlocked lock: RuntimeError")

    # Mutual exclusion: 10 threads, 2000 increments each, with a yield inside the lock.
    count = [0]
    def bump():
        for i in range(2000):
            with lock:
                v = count[0]
                if i % 250 == 0:
                    time.sleep(0)
                count[0] = v + 1
    join_all(start_all([threading.Thread(target=bump) for _ in range(10)]))
    say("lock: counter", count[0])


def check_rlock():
    rlock = threading.RLock()
    rlock.acquire()
    rlock.acquire()
    rlock.acquire()
    say("rlock: re-entered 3 times, count", re.search(r"count=(\d+)", repr(rlock)).group(1))
    outcome = {}

    def other():
        outcome["try"] = rlock.acquire(blocking=False)
        got, elapsed = timed(rlock.acquire, timeout=0.2)
        outcome["timed"] = (got, bounded(elapsed, 0.2))
        try:
            rlock.release()
            outcome["release"] = "no error"
        except RuntimeError:
            outcome["release"] = "RuntimeError"
    t = threading.Thread(target=other)
    t.start()
    t.join()
    say("rlock: other thread try", outcome["try"], "timed", *outcome["timed"])
    say("rlock: release by a thread that does not own it:", outcome["release"])
    for _ in range(3):
        rlock.release()
    try:
        rlock.release()
        say("rlock: release once too often: no error")
    except RuntimeError:
        say("rlock: release once too often: RuntimeError")

    # Released fully, another thread gets it at once.
    got = []
    t = threading.Thread(target=lambda: got.append(rlock.acquire(timeout=10)) or rlock.release())
    t.start()
    t.join()
    say("rlock: other thread after full release", got)

    # Nested acquisition from 8 threads.
    count = [0]
    def nested():
        for i in range(500):
            with rlock:
                with rlock:
                    count[0] += 1
                    if i % 100 == 0:
                        time.sleep(0.001)
    join_all(start_all([threading.Thread(target=nested) for _ in range(8)]))
    say("rlock: counter", count[0])


def check_condition():
    cond = threading.Condition()
    state = {"ready": 0, "woke": 0, "go": False}
    first_woke = threading.Event()

    def waiter():
        with cond:
            state["ready"] += 1
            cond.wait()
            state["woke"] += 1
        first_woke.set()
    threads = start_all([threading.Thread(target=waiter) for _ in range(3)])
    # Each waiter counts itself and waits in one step under the lock, so once the count is 3
    # (read under the lock) all three are waiting.
    wait_until(lambda: state["ready"] == 3)
    with cond:
        cond.notify(1)
    say("condition: notify(1) woke someone", first_woke.wait(timeout=10))
    time.sleep(0.1)  # the two others must stay asleep: their wait locks are still held
    with cond:
        say("condition: woken after notify(1):", state["woke"])
        cond.notify_all()
    join_all(threads)
    say("condition: woken after notify_all:", state["woke"])

    with cond:
        got, elapsed = timed(cond.wait, timeout=0.2)
        say("condition: wait timeout returns", got, "about 0.2 s", bounded(elapsed, 0.2))
        got, elapsed = timed(cond.wait_for, lambda: state["go"], timeout=0.2)
        say("condition: wait_for timeout returns", got, "about 0.2 s", bounded(elapsed, 0.2))

    def setter():
        time.sleep(0.05)
        with cond:
            state["go"] = True
            cond.notify()
    t = threading.Thread(target=setter)
    t.start()
    with cond:
        say("condition: wait_for satisfied by another thread",
            cond.wait_for(lambda: state["go"], timeout=10))
    t.join()
    try:
        cond.notify()
        say("condition: notify without the lock: no error")
    except RuntimeError:
        say("condition: notify without the lock: RuntimeError")

    # Ping-pong: two threads hand a token back and forth 500 times.
    turn = {"who": 0, "moves": 0}
    def player(me):
        for _ in range(500):
            with cond:
                cond.wait_for(lambda: turn["who"] == me, timeout=10)
                turn["moves"] += 1
                turn["who"] = 1 - me
                cond.notify_all()
    join_all(start_all([threading.Thread(target=player, args=(m,)) for m in (0, 1)]))
    say("condition: ping-pong moves", turn["moves"])


def check_semaphores():
    sem = threading.Semaphore(3)
    lock = threading.Lock()
    inside = {"now": 0, "max": 0}

    def visit():
        with sem:
            with lock:
                inside["now"] += 1
                inside["max"] = max(inside["max"], inside["now"])
            time.sleep(0.02)
            with lock:
                inside["now"] -= 1
    join_all(start_all([threading.Thread(target=visit) for _ in range(12)]))
    say("semaphore(3): at most inside at once", inside["max"])

    empty = threading.Semaphore(0)
    say("semaphore(0): try", empty.acquire(blocking=False))
    got, elapsed = timed(empty.acquire, timeout=0.2)
    say("semaphore(0): timed acquire", got, "about 0.2 s", bounded(elapsed, 0.2))
    # release(n) lets n waiters through, no more.
    passed = []
    def take(i):
        if empty.acquire(timeout=10):
            with lock:
                passed.append(i)
    threads = start_all([threading.Thread(target=take, args=(i,)) for i in range(4)])
    time.sleep(0.05)
    empty.release(2)
    wait_until(lambda: len(passed) == 2)
    time.sleep(0.1)
    say("semaphore: release(2) let through", len(passed))
    empty.release(2)
    join_all(threads)
    say("semaphore: after release(2) again", sorted(passed))

    bounded_sem = threading.BoundedSemaphore(2)
    bounded_sem.acquire()
    bounded_sem.release()
    try:
        bounded_sem.release()
        say("bounded semaphore: over-release: no error")
    except ValueError:
        say("bounded semaphore: over-release: ValueError")
    bounded_sem.acquire()
    bounded_sem.acquire()
    say("bounded semaphore: third acquire", bounded_sem.acquire(timeout=0.05))


def check_event():
    event = threading.Event()
    say("event: initially", event.is_set())
    got, elapsed = timed(event.wait, 0.2)
    say("event: wait timeout returns", got, "about 0.2 s", bounded(elapsed, 0.2))
    lock = threading.Lock()
    seen = []

    def waiter(i):
        if event.wait(timeout=10):
            with lock:
                seen.append(i)
    threads = start_all([threading.Thread(target=waiter, args=(i,)) for i in range(10)])
    time.sleep(0.05)
    say("event: waiters through before set", len(seen))
    event.set()
    join_all(threads)
    say("event: waiters through after set", sorted(seen))
    got, elapsed = timed(event.wait, 5)
    say("event: wait on a set event", got, "at once", elapsed < 1)
    event.clear()
    say("event: after clear", event.is_set(), event.wait(0.01))


def check_barrier():
    actions = []
    barrier = threading.Barrier(4, action=lambda: actions.append(len(actions)))
    say("barrier: parties", barrier.parties, "waiting", barrier.n_waiting)
    lock = threading.Lock()
    indices = []

    def party():
        for _ in range(3):
            i = barrier.wait(timeout=10)
            with lock:
                indices.append(i)
    join_all(start_all([threading.Thread(target=party) for _ in range(4)]))
    say("barrier: 3 generations, indices", sorted(indices), "actions", actions)

    # Abort while two threads wait: both get BrokenBarrierError.
    barrier = threading.Barrier(3)
    outcomes = []
    def blocked():
        try:
            barrier.wait(timeout=10)
            outcomes.append("passed")
        except threading.BrokenBarrierError:
            outcomes.append("BrokenBarrierError")
    threads = start_all([threading.Thread(target=blocked) for _ in range(2)])
    wait_until(lambda: barrier.n_waiting == 2)
    say("barrier: waiting before abort", barrier.n_waiting)
    barrier.abort()
    join_all(threads)
    say("barrier: abort ->", outcomes, "broken", barrier.broken)
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        say("barrier: wait on a broken barrier: BrokenBarrierError")
    barrier.reset()
    say("barrier: after reset broken", barrier.broken)

    # A wait that times out breaks the barrier.
    t0 = time.monotonic()
    try:
        barrier.wait(timeout=0.2)
        say("barrier: lone wait passed")
    except threading.BrokenBarrierError:
        say("barrier: lone wait with timeout: BrokenBarrierError about 0.2 s",
            bounded(time.monotonic() - t0, 0.2), "broken", barrier.broken)

    # An action that raises breaks the barrier for everyone.
    def bad_action():
        raise KeyError("action")
    barrier = threading.Barrier(2, action=bad_action)
    outcomes = []
    def party2():
        try:
            barrier.wait(timeout=10)
            outcomes.append("passed")
        except threading.BrokenBarrierError:
            outcomes.append("BrokenBarrierError")
        except KeyError:
            outcomes.append("KeyError")
    join_all(start_all([threading.Thread(target=party2) for _ in range(2)]))
    say("barrier: raising action ->", sorted(outcomes))


def check_timer():
    fired = []
    t0 = time.monotonic()
    timer = threading.Timer(0.2, lambda *a, **k: fired.append((a, k, time.monotonic() - t0)),
                            args=(1, 2), kwargs={"k": "v"})
    timer.start()
    timer.join(timeout=10)
    time.sleep(0.2)
    say("timer: fired", len(fired), "times with", fired[0][:2], "after about 0.2 s",
        bounded(fired[0][2], 0.2))
    cancelled = []
    timer = threading.Timer(0.2, lambda: cancelled.append(1))
    timer.start()
    time.sleep(0.02)
    timer.cancel()
    timer.join(timeout=10)
    time.sleep(0.3)
    say("timer: cancelled one fired", len(cancelled), "times; alive", timer.is_alive())


def check_local():
    data = threading.local()
    data.value = "main"

    class Counter(threading.local):
        def __init__(self, start):
            self.n = start
    counter = Counter(100)
    counter.n += 1
    lock = threading.Lock()
    mismatches = []
    inits = []
    saw_main = []

    def worker(i):
        saw_main.append(hasattr(data, "value"))
        inits.append(counter.n)
        data.value = i
        counter.n += i
        for _ in range(5):
            time.sleep(0.002)  # every other thread runs and sets its own values meanwhile
            if data.value != i or counter.n != 100 + i:
                with lock:
                    mismatches.append(i)
    join_all(start_all([threading.Thread(target=worker, args=(i,)) for i in range(20)]))
    say("local: a new thread sees the main thread's attribute", any(saw_main))
    say("local: subclass __init__ ran per thread with", sorted(set(inits)))
    say("local: threads that saw another thread's value", mismatches)
    say("local: main keeps", data.value, counter.n)


def check_queue():
    q = queue.Queue(maxsize=8)
    lock = threading.Lock()
    got = []
    PRODUCERS, ITEMS = 4, 500

    def produce(p):
        for i in range(ITEMS):
            q.put((p, i))

    def consume(c):
        while True:
            item = q.get()
            try:
                if item is None:
                    return
                with lock:
                    got.append(item)
            finally:
                q.task_done()
    consumers = start_all([threading.Thread(target=consume, args=(c,)) for c in range(3)])
    producers = start_all([threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)])
    join_all(producers)
    q.join()  # returns only once every item put so far was task_done()
    say("queue: join returned with", len(got), "items consumed, unfinished", q.unfinished_tasks)
    for _ in consumers:
        q.put(None)
    join_all(consumers)
    expected = sorted((p, i) for p in range(PRODUCERS) for i in range(ITEMS))
    say("queue: every item exactly once", sorted(got) == expected,
        "duplicates", len(got) - len(set(got)))
    by_producer_in_order = all(
        [i for p2, i in got if p2 == p] == list(range(ITEMS)) for p in range(PRODUCERS))
    say("queue: each producer's items in order", by_producer_in_order)
    t0 = time.monotonic()
    try:
        q.get(timeout=0.2)
        say("queue: get on empty returned")
    except queue.Empty:
        say("queue: get timeout on empty: Empty about 0.2 s", bounded(time.monotonic() - t0, 0.2))
    small = queue.Queue(maxsize=1)
    small.put(1)
    t0 = time.monotonic()
    try:
        small.put(2, timeout=0.2)
        say("queue: put on full returned")
    except queue.Full:
        say("queue: put timeout on full: Full about 0.2 s", bounded(time.monotonic() - t0, 0.2))
    # A blocked get is woken by a put from another thread.
    late = queue.Queue()
    t = threading.Timer(0.05, late.put, args=("late",))
    t.start()
    say("queue: blocked get woken by put:", late.get(timeout=10))
    t.join()
    pq = queue.PriorityQueue()
    for v in (5, 1, 4, 2, 3):
        pq.put(v)
    say("queue: priority order", [pq.get() for _ in range(5)])


# ---------------------------------------------------------------------------------------------
TASKS = 20
PAYLOAD = 64 * 1024


def payload_for(task):
    return bytes((task * 31 + i * 7) % 251 for i in range(PAYLOAD))


def check_pool_sockets():
    """A thread-per-connection echo server in this process and a ThreadPoolExecutor of 20
    workers, each connecting and echoing 64 KiB. The server holds every echo until all 20
    requests have arrived, so at that moment 20 workers are blocked in recv and 20 handlers
    in Event.wait: that is when the OS thread count is read."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    go = threading.Event()
    arrived = threading.Condition()
    state = {"arrived": 0, "handlers": []}

    def handle(conn):
        with conn:
            header = b""
            while len(header) < 4:
                header += conn.recv(4 - len(header))
            size = int.from_bytes(header, "big")
            data = bytearray()
            while len(data) < size:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            with arrived:
                state["arrived"] += 1
                arrived.notify_all()
            go.wait(timeout=30)
            conn.sendall(bytes(data))

    def accept_loop():
        for _ in range(TASKS):
            conn, _ = listener.accept()
            t = threading.Thread(target=handle, args=(conn,))
            t.start()
            state["handlers"].append(t)

    acceptor = threading.Thread(target=accept_loop)
    acceptor.start()

    def task(i):
        payload = payload_for(i)
        # A numeric address and a plain connect(): socket.create_connection would call
        # getaddrinfo, which greened runs on a helper OS thread (name resolution has no
        # non-blocking form), and this section counts OS threads. No timeout either: these
        # are plain blocking connect/send/recv calls.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.connect(("127.0.0.1", port))
            s.sendall(len(payload).to_bytes(4, "big") + payload)
            echoed = bytearray()
            while len(echoed) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                echoed += chunk
        return i, bytes(echoed) == payload, len(echoed)

    with concurrent.futures.ThreadPoolExecutor(max_workers=TASKS) as pool:
        futures = [pool.submit(task, i) for i in range(TASKS)]
        with arrived:
            all_arrived = arrived.wait_for(lambda: state["arrived"] == TASKS, timeout=30)
        say("pool: all requests arrived before any echo", all_arrived)
        say(f"threads_while_blocked={os_threads()}")
        say("pool: no task done while the server holds the echoes",
            not any(f.done() for f in futures))
        go.set()
        results = [f.result(timeout=30) for f in futures]
    acceptor.join(timeout=30)
    join_all(state["handlers"])
    listener.close()
    say("pool: results", len(results), "all verified", all(ok for _, ok, _ in results),
        "bytes", sum(n for _, _, n in results))
    say("pool: in submission order", [i for i, _, _ in results] == list(range(TASKS)))
    # map() over a pool: the results come back in order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        squares = list(pool.map(lambda x: (time.sleep(0.01 * (x % 3)), x * x)[1], range(10)))
    say("pool: map", squares)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        fut = pool.submit(lambda: 1 / 0)
        try:
            fut.result(timeout=10)
        except ZeroDivisionError:
            say("pool: exception carried to result(): ZeroDivisionError")


def main():
    check_lock()
    check_rlock()
    check_condition()
    check_semaphores()
    check_event()
    check_barrier()
    check_timer()
    check_local()
    check_queue()
    check_pool_sockets()
    say("threads alive at the end", threading.active_count())
    say("done")


if __name__ == "__main__":
    main()
