//! A Rust program written for native threads: thread-per-connection TcpListener, Mutex,
//! Condvar, RwLock, Barrier, mpsc, thread::sleep, scoped threads, thread-locals with
//! destructors, named threads, a panicking thread. It prints one deterministic line per
//! check (the same natively and greened) plus `threads_while_sleeping=N`, the OS threads
//! while 100 threads sleep (101 natively, 1 greened).

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads: line")
}

/// 50 clients, each exchanging 20 messages of 100 bytes with a thread-per-connection echo
/// server whose accept loop runs in its own thread.
fn tcp_echo() {
    const CLIENTS: usize = 50;
    const ROUNDS: usize = 20;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..CLIENTS {
            let (mut stream, _) = listener.accept().expect("accept");
            handlers.push(thread::spawn(move || {
                let mut buf = [0u8; 100];
                let mut echoed = 0;
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            stream.write_all(&buf[..n]).expect("server write");
                            echoed += n;
                        }
                        Err(e) => panic!("server read: {e}"),
                    }
                }
                echoed
            }));
        }
        handlers.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let mut stream = TcpStream::connect(address).expect("connect");
                let mut ok = 0;
                for r in 0..ROUNDS {
                    let message: Vec<u8> = (0..100).map(|i| (c * 31 + r * 7 + i) as u8).collect();
                    stream.write_all(&message).expect("client write");
                    let mut reply = vec![0u8; 100];
                    stream.read_exact(&mut reply).expect("client read");
                    if reply == message {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let ok: usize = clients.into_iter().map(|h| h.join().unwrap()).sum();
    let echoed = server.join().unwrap();
    println!("tcp: {ok} of {} replies right, server echoed {echoed} bytes", CLIENTS * ROUNDS);
}

/// 16 threads add 1000 times each under one Mutex, yielding while holding it now and then.
fn mutex_counter() {
    let counter = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let counter = counter.clone();
            thread::spawn(move || {
                for i in 0..1000 {
                    let mut guard = counter.lock().unwrap();
                    let seen = *guard;
                    if i % 10 == 0 {
                        thread::yield_now();
                    }
                    *guard = seen + 1;
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    println!("mutex: counter={}", *counter.lock().unwrap());
}

/// A bounded queue on Mutex + Condvar: 4 producers of 250 items, 2 consumers.
fn condvar_queue() {
    struct Queue {
        items: Mutex<(VecDeque<u64>, usize)>,
        not_empty: Condvar,
        not_full: Condvar,
    }
    let q = Arc::new(Queue { items: Mutex::new((VecDeque::new(), 0)), not_empty: Condvar::new(), not_full: Condvar::new() });
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..250u64 {
                    let mut items = q.not_full.wait_while(q.items.lock().unwrap(), |(d, _)| d.len() >= 8).unwrap();
                    items.0.push_back(p * 1000 + i);
                    q.not_empty.notify_one();
                }
                let mut items = q.items.lock().unwrap();
                items.1 += 1;
                q.not_empty.notify_all();
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let (mut sum, mut count) = (0u64, 0u64);
                loop {
                    let mut items = q.not_empty.wait_while(q.items.lock().unwrap(), |(d, done)| d.is_empty() && *done < 4).unwrap();
                    match items.0.pop_front() {
                        Some(v) => {
                            sum += v;
                            count += 1;
                            q.not_full.notify_one();
                        }
                        None => return (sum, count),
                    }
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|t| t.join().unwrap());
    let (sum, count) = consumers.into_iter().map(|t| t.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    // Each producer p contributes 250 * p * 1000 + (0 + ... + 249).
    let expected: u64 = (0..4u64).map(|p| 250 * p * 1000 + 249 * 250 / 2).sum();
    println!("condvar: items={count} sum matches={}", sum == expected);
    let timeout = Condvar::new().wait_timeout(Mutex::new(()).lock().unwrap(), Duration::from_millis(100)).unwrap().1;
    println!("condvar: wait_timeout timed out={}", timeout.timed_out());
}

/// Writers keep two fields equal; readers must never see them differ.
fn rwlock_pairs() {
    let pair = Arc::new(RwLock::new((0u64, 0u64)));
    let torn = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for w in 0..2 {
        let pair = pair.clone();
        threads.push(thread::spawn(move || {
            for i in 0..500 {
                let mut p = pair.write().unwrap();
                p.0 += 1;
                if (i + w) % 25 == 0 {
                    thread::sleep(Duration::from_micros(100));
                }
                p.1 += 1;
            }
        }));
    }
    for _ in 0..4 {
        let (pair, torn) = (pair.clone(), torn.clone());
        threads.push(thread::spawn(move || {
            for i in 0..500 {
                let p = pair.read().unwrap();
                if p.0 != p.1 {
                    torn.fetch_add(1, Ordering::Relaxed);
                }
                if i % 50 == 0 {
                    thread::yield_now();
                }
            }
        }));
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    let p = *pair.read().unwrap();
    println!("rwlock: final=({}, {}) torn reads={}", p.0, p.1, torn.load(Ordering::Relaxed));
}

/// 8 threads, 3 rounds: one leader per round, nobody leaves a round early.
fn barrier_rounds() {
    let barrier = Arc::new(Barrier::new(8));
    let arrived = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)]);
    let early = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8u64)
        .map(|id| {
            let (barrier, arrived, early) = (barrier.clone(), arrived.clone(), early.clone());
            thread::spawn(move || {
                let mut leaders = 0;
                for round in 0..3 {
                    thread::sleep(Duration::from_millis((id * 3 + round as u64) % 7));
                    arrived[round].fetch_add(1, Ordering::SeqCst);
                    if barrier.wait().is_leader() {
                        leaders += 1;
                    }
                    if arrived[round].load(Ordering::SeqCst) != 8 {
                        early.fetch_add(1, Ordering::SeqCst);
                    }
                }
                leaders
            })
        })
        .collect();
    let leaders: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    println!("barrier: leaders={leaders} left early={}", early.load(Ordering::SeqCst));
}

/// 10 senders of 100 values on a channel, the receiver blocking whenever it is empty; a
/// rendezvous channel and a small bounded one, where senders block too.
fn channels() {
    let (tx, rx) = mpsc::channel::<u64>();
    for s in 0..10u64 {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..100 {
                tx.send(s * 100 + i).unwrap();
                if i % 30 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        });
    }
    drop(tx);
    let values: Vec<u64> = rx.iter().collect();
    println!("mpsc: received={} sum={}", values.len(), values.iter().sum::<u64>());

    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let sender = thread::spawn(move || (0..50).map(|i| tx.send(i).is_ok() as u32).sum::<u32>());
    let got: u32 = rx.iter().sum();
    println!("sync_channel(0): sent ok={} sum={got}", sender.join().unwrap());
    let (tx, rx) = mpsc::sync_channel::<u64>(4);
    let senders: Vec<_> = (0..4u64)
        .map(|s| {
            let tx = tx.clone();
            thread::spawn(move || (0..50u64).for_each(|i| tx.send(s * 50 + i).unwrap()))
        })
        .collect();
    drop(tx);
    let values: Vec<u64> = rx.iter().inspect(|_| thread::yield_now()).collect();
    senders.into_iter().for_each(|t| t.join().unwrap());
    println!("sync_channel(4): received={} sum={}", values.len(), values.iter().sum::<u64>());
    let (_tx, rx) = mpsc::channel::<u32>();
    println!("mpsc: recv_timeout on an empty channel={:?}", rx.recv_timeout(Duration::from_millis(50)));
}

/// 100 threads sleep 200 ms at once: they overlap.
fn sleepers() {
    let asleep = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let asleep = asleep.clone();
            thread::spawn(move || {
                asleep.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(200));
            })
        })
        .collect();
    while asleep.load(Ordering::SeqCst) < 100 {
        thread::sleep(Duration::from_millis(1));
    }
    println!("threads_while_sleeping={}", os_threads());
    threads.into_iter().for_each(|t| t.join().unwrap());
    let elapsed = start.elapsed();
    println!("sleep: 100 x 200 ms overlapped={}", elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(10));
}

struct CountsDrops(&'static AtomicUsize);
impl Drop for CountsDrops {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
static DROPPED: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static OWN: Cell<u64> = const { Cell::new(7) };
    static GUARD: CountsDrops = const { CountsDrops(&DROPPED) };
}

/// Thread identity: thread-locals per thread (initial value, isolation, destructors run at
/// thread exit), unique ThreadIds, names, scoped threads, a panic caught by join.
fn identity() {
    let threads: Vec<_> = (0..8u64)
        .map(|i| {
            thread::spawn(move || {
                let initial = OWN.with(|v| v.get());
                OWN.with(|v| v.set(100 + i));
                GUARD.with(|_| {});
                thread::sleep(Duration::from_millis(20));
                thread::yield_now();
                (initial, OWN.with(|v| v.get()) == 100 + i, thread::current().id())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut ids: Vec<_> = results.iter().map(|r| r.2).collect();
    ids.push(thread::current().id());
    ids.sort_by_key(|id| format!("{id:?}"));
    ids.dedup();
    println!(
        "thread_local: initial values all 7={} kept own value={} destructors run by join={} main's value={} unique ids={}",
        results.iter().all(|r| r.0 == 7),
        results.iter().all(|r| r.1),
        DROPPED.load(Ordering::SeqCst),
        OWN.with(|v| v.get()),
        ids.len()
    );
    let named = thread::Builder::new()
        .name("worker-7".into())
        .spawn(|| thread::current().name().map(str::to_owned))
        .unwrap();
    println!("name: {:?} main={:?}", named.join().unwrap(), thread::current().name());

    let mut data = vec![1u64, 2, 3, 4];
    let total = AtomicUsize::new(0);
    thread::scope(|s| {
        for chunk in data.chunks_mut(2) {
            let total = &total;
            s.spawn(move || {
                for v in chunk.iter_mut() {
                    *v *= 10;
                    thread::sleep(Duration::from_millis(5));
                    total.fetch_add(*v as usize, Ordering::SeqCst);
                }
            });
        }
    });
    println!("scope: data={data:?} total={}", total.load(Ordering::SeqCst));

    std::panic::set_hook(Box::new(|_| {}));
    let result = thread::spawn(|| -> u32 { panic!("boom") }).join();
    let _ = std::panic::take_hook();
    let message = result.as_ref().err().and_then(|e| e.downcast_ref::<&str>()).copied();
    println!("panic: join is_err={} payload={message:?} main still runs=true", result.is_err());
}

fn main() {
    tcp_echo();
    mutex_counter();
    condvar_queue();
    rwlock_pairs();
    barrier_rounds();
    channels();
    sleepers();
    identity();
    println!("done");
}
