//! Channels across threads, beside the baselines, in one run (no criterion:
//! each case runs a fixed number of messages several times and reports the
//! median, in nanoseconds per message or per round trip).
//!
//! Two threads each time (the box has two cores):
//!
//! * `dill_shared_ping_pong`: a coroutine on each thread, a rendezvous
//!   shared channel, one round trip (two messages) per iteration.
//! * `std_mpsc_ping_pong`: two blocking threads, `sync_channel(1)` each way.
//! * `tokio_mt_ping_pong`: two tasks on a two-worker tokio runtime, bounded
//!   mpsc of capacity 1 each way. tokio may run both tasks on one worker
//!   (a woken task goes to the waker's LIFO slot), so this round trip need
//!   not cross threads at all.
//! * `tokio_two_rt_ping_pong`: the same between two current-thread
//!   runtimes on two threads: it always crosses threads, as dill's does.
//! * `*_one_way`: one producer, one consumer, a buffer of 128; per message
//!   (`tokio_two_rt_one_way`: two current-thread runtimes on two threads).
//!
//! One thread, dill's local channels: `dill_local_one_way` unbuffered and
//! `dill_local_buffered_one_way` with capacity 128, per message.
//!
//! Output: `name ns_per_unit` lines, read by `scripts/bench_shared_chan.sh`
//! which adds Go's figures and the ratios.

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use dill::{chmake_buffered, chmake_shared, go};

const PING_PONGS: u64 = 20_000;
const MESSAGES: u64 = 1_000_000;
const RUNS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn report(name: &str, runs: impl FnMut() -> f64) {
    // `cargo bench --bench shared_chan -- <substring>` runs only matching
    // cases (cargo passes `--bench` too, which is skipped).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
        return;
    }
    let v: Vec<f64> = std::iter::repeat_with(runs).take(RUNS).collect();
    println!("{name} {:.1}", median(v));
}

fn dill_shared_ping_pong() -> f64 {
    let (a, b) = chmake_shared::<u64>(0).unwrap();
    let echo = thread::spawn(move || {
        let h = go(move || {
            while let Ok(v) = b.recv(-1) {
                if b.send(v + 1, -1).is_err() {
                    break;
                }
            }
        })
        .unwrap();
        h.join(-1).unwrap();
    });
    a.send(0, -1).unwrap();
    a.recv(-1).unwrap();
    let t = Instant::now();
    let mut v = 0;
    for _ in 0..PING_PONGS {
        a.send(black_box(v), -1).unwrap();
        v = a.recv(-1).unwrap();
    }
    let ns = t.elapsed().as_nanos() as f64 / PING_PONGS as f64;
    drop(a);
    echo.join().unwrap();
    ns
}

fn dill_shared_one_way() -> f64 {
    let (a, b) = chmake_shared::<u64>(128).unwrap();
    let sink = thread::spawn(move || {
        let h = go(move || {
            let mut sum = 0u64;
            while let Ok(v) = b.recv(-1) {
                sum = sum.wrapping_add(v);
            }
            sum
        })
        .unwrap();
        h.join(-1).unwrap()
    });
    let t = Instant::now();
    for i in 0..MESSAGES {
        a.send(black_box(i), -1).unwrap();
    }
    a.done().unwrap();
    black_box(sink.join().unwrap());
    t.elapsed().as_nanos() as f64 / MESSAGES as f64
}

fn std_ping_pong() -> f64 {
    let (to_echo, echo_in) = mpsc::sync_channel::<u64>(1);
    let (echo_out, back) = mpsc::sync_channel::<u64>(1);
    let echo = thread::spawn(move || {
        while let Ok(v) = echo_in.recv() {
            if echo_out.send(v + 1).is_err() {
                break;
            }
        }
    });
    let t = Instant::now();
    let mut v = 0;
    for _ in 0..PING_PONGS {
        to_echo.send(black_box(v)).unwrap();
        v = back.recv().unwrap();
    }
    let ns = t.elapsed().as_nanos() as f64 / PING_PONGS as f64;
    drop(to_echo);
    echo.join().unwrap();
    ns
}

fn std_one_way() -> f64 {
    let (tx, rx) = mpsc::sync_channel::<u64>(128);
    let sink = thread::spawn(move || {
        let mut sum = 0u64;
        while let Ok(v) = rx.recv() {
            sum = sum.wrapping_add(v);
        }
        sum
    });
    let t = Instant::now();
    for i in 0..MESSAGES {
        tx.send(black_box(i)).unwrap();
    }
    drop(tx);
    black_box(sink.join().unwrap());
    t.elapsed().as_nanos() as f64 / MESSAGES as f64
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn tokio_ping_pong(rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(async {
        let (to_echo, mut echo_in) = tokio::sync::mpsc::channel::<u64>(1);
        let (echo_out, mut back) = tokio::sync::mpsc::channel::<u64>(1);
        tokio::spawn(async move {
            while let Some(v) = echo_in.recv().await {
                if echo_out.send(v + 1).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let t = Instant::now();
            let mut v = 0;
            for _ in 0..PING_PONGS {
                to_echo.send(black_box(v)).await.unwrap();
                v = back.recv().await.unwrap();
            }
            t.elapsed().as_nanos() as f64 / PING_PONGS as f64
        })
        .await
        .unwrap()
    })
}

/// The same round trip between two single-threaded tokio runtimes on two
/// threads, so that the two tasks cannot end up on one worker.
fn tokio_two_rt_ping_pong() -> f64 {
    let (to_echo, mut echo_in) = tokio::sync::mpsc::channel::<u64>(1);
    let (echo_out, mut back) = tokio::sync::mpsc::channel::<u64>(1);
    let echo = thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async move {
                while let Some(v) = echo_in.recv().await {
                    if echo_out.send(v + 1).await.is_err() {
                        break;
                    }
                }
            })
    });
    let ns = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async move {
            let t = Instant::now();
            let mut v = 0;
            for _ in 0..PING_PONGS {
                to_echo.send(black_box(v)).await.unwrap();
                v = back.recv().await.unwrap();
            }
            t.elapsed().as_nanos() as f64 / PING_PONGS as f64
        });
    echo.join().unwrap();
    ns
}

fn tokio_one_way(rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(128);
        let sink = tokio::spawn(async move {
            let mut sum = 0u64;
            while let Some(v) = rx.recv().await {
                sum = sum.wrapping_add(v);
            }
            sum
        });
        tokio::spawn(async move {
            let t = Instant::now();
            for i in 0..MESSAGES {
                tx.send(black_box(i)).await.unwrap();
            }
            drop(tx);
            black_box(sink.await.unwrap());
            t.elapsed().as_nanos() as f64 / MESSAGES as f64
        })
        .await
        .unwrap()
    })
}

/// One way between two current-thread tokio runtimes on two threads.
fn tokio_two_rt_one_way() -> f64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(128);
    let sink = thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async move {
                let mut sum = 0u64;
                while let Some(v) = rx.recv().await {
                    sum = sum.wrapping_add(v);
                }
                sum
            })
    });
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async move {
            let t = Instant::now();
            for i in 0..MESSAGES {
                tx.send(black_box(i)).await.unwrap();
            }
            drop(tx);
            black_box(sink.join().unwrap());
            t.elapsed().as_nanos() as f64 / MESSAGES as f64
        })
}

fn dill_local_one_way(capacity: usize) -> f64 {
    let (a, b) = chmake_buffered::<u64>(capacity).unwrap();
    let sink = go(move || {
        let mut sum = 0u64;
        while let Ok(v) = b.recv(-1) {
            sum = sum.wrapping_add(v);
        }
        sum
    })
    .unwrap();
    let t = Instant::now();
    for i in 0..MESSAGES {
        a.send(black_box(i), -1).unwrap();
    }
    a.done().unwrap();
    black_box(sink.join(-1).unwrap());
    t.elapsed().as_nanos() as f64 / MESSAGES as f64
}

fn main() {
    report("dill_shared_ping_pong", dill_shared_ping_pong);
    report("std_mpsc_ping_pong", std_ping_pong);
    let rt = tokio_rt();
    report("tokio_mt_ping_pong", || tokio_ping_pong(&rt));
    report("tokio_two_rt_ping_pong", tokio_two_rt_ping_pong);
    report("dill_shared_one_way", dill_shared_one_way);
    report("std_mpsc_one_way", std_one_way);
    report("tokio_mt_one_way", || tokio_one_way(&rt));
    report("tokio_two_rt_one_way", tokio_two_rt_one_way);
    drop(rt);
    report("dill_local_one_way", || dill_local_one_way(0));
    report("dill_local_buffered_one_way", || dill_local_one_way(128));
}
