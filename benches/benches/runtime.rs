//! Runtime benchmarks: coroutine switch, spawn+join, a non-blocking msleep
//! and many timers firing, each beside the raw corosensei floor measured in
//! the same run.
//!
//! Run with `cargo bench --bench runtime`.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod baselines;
use baselines::{on_may, tokio_rt};

use dill::{bundle, go, go_with_stack_size, msleep, now, yield_now};

/// `iters` yields between two dill coroutines (one suspending and the
/// other resuming each), timed from the first one's start.
fn dill_yields(iters: u64) -> Duration {
    let half = iters.div_ceil(2);
    let start = Rc::new(Cell::new(None::<Instant>));
    let s2 = start.clone();
    let ping = go(move || {
        s2.set(Some(Instant::now()));
        for _ in 0..half {
            yield_now().unwrap();
        }
    })
    .unwrap();
    let pong = go(move || {
        for _ in 0..half {
            yield_now().unwrap();
        }
    })
    .unwrap();
    ping.join(-1).unwrap();
    pong.join(-1).unwrap();
    let elapsed = start.get().unwrap().elapsed();
    elapsed.mul_f64(iters as f64 / (2 * half) as f64)
}

/// Two dill coroutines yielding to each other; the time is per yield (one
/// coroutine suspending and the other resuming).
fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch");
    g.bench_function("dill_yield", |b| b.iter_custom(dill_yields));
    g.bench_function("tokio_yield_now", |b| {
        let rt = tokio_rt();
        b.iter_custom(|iters| {
            let half = iters.div_ceil(2);
            let elapsed = rt.block_on(async move {
                let start = Instant::now();
                let ping = tokio::spawn(async move {
                    for _ in 0..half {
                        tokio::task::yield_now().await;
                    }
                });
                let pong = tokio::spawn(async move {
                    for _ in 0..half {
                        tokio::task::yield_now().await;
                    }
                });
                ping.await.unwrap();
                pong.await.unwrap();
                start.elapsed()
            });
            elapsed.mul_f64(iters as f64 / (2 * half) as f64)
        })
    });
    g.bench_function("may_yield_now", |b| {
        b.iter_custom(|iters| {
            let half = iters.div_ceil(2);
            let elapsed = on_may(move || {
                let start = Instant::now();
                let ping = may::go!(move || {
                    for _ in 0..half {
                        may::coroutine::yield_now();
                    }
                });
                let pong = may::go!(move || {
                    for _ in 0..half {
                        may::coroutine::yield_now();
                    }
                });
                ping.join().unwrap();
                pong.join().unwrap();
                start.elapsed()
            });
            elapsed.mul_f64(iters as f64 / (2 * half) as f64)
        })
    });
    g.bench_function("corosensei_resume_suspend", |b| {
        let mut co: Coroutine<(), (), (), DefaultStack> = Coroutine::new(|y, ()| loop {
            y.suspend(());
        });
        b.iter(|| black_box(co.resume(())));
    });
    g.finish();
}

/// `go(|| ())` then `join(-1)`, beside creating and running a corosensei
/// coroutine to completion on a reused stack.
fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    g.bench_function("dill_go_join", |b| {
        b.iter(|| go(|| black_box(())).unwrap().join(-1).unwrap());
    });
    g.bench_function("dill_go_join_small_stack", |b| {
        b.iter(|| {
            go_with_stack_size(16 * 1024, || black_box(()))
                .unwrap()
                .join(-1)
                .unwrap()
        });
    });
    g.bench_function("tokio_spawn_await", |b| {
        let rt = tokio_rt();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    tokio::spawn(async { black_box(()) }).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("may_go_join", |b| {
        b.iter_custom(|iters| {
            on_may(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    may::go!(|| black_box(())).join().unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("corosensei_create_run", |b| {
        let mut stack = Some(DefaultStack::new(256 * 1024).unwrap());
        b.iter(|| {
            let mut co: Coroutine<(), (), (), DefaultStack> =
                Coroutine::with_stack(stack.take().unwrap(), |_, ()| black_box(()));
            match co.resume(()) {
                CoroutineResult::Return(()) => {}
                CoroutineResult::Yield(()) => unreachable!(),
            }
            stack = Some(co.into_stack());
        });
    });
    g.finish();
}

/// `msleep` with a deadline that has passed already (returns at once),
/// beside the clock read every deadline check needs.
fn msleep_past(c: &mut Criterion) {
    let mut g = c.benchmark_group("msleep_past");
    let past = now() - 1;
    g.bench_function("dill_msleep_past", |b| {
        b.iter(|| msleep(black_box(past)).unwrap());
    });
    g.bench_function("dill_now", |b| b.iter(|| black_box(now())));
    g.bench_function("clock_gettime_monotonic", |b| {
        b.iter(|| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid timespec.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
            black_box(ts)
        })
    });
    g.finish();
}

/// 10,000 coroutines in a bundle sleeping to staggered deadlines 1..=8 ms
/// ahead, then `wait`. The time is per timer and includes spawning each
/// coroutine; the floor set by the deadlines themselves is 8 ms / 10,000.
fn timers(c: &mut Criterion) {
    const N: u64 = 10_000;
    let mut g = c.benchmark_group("timers_10k");
    g.throughput(Throughput::Elements(N));
    for (name, stack) in [
        ("default_stack", dill::DEFAULT_STACK_SIZE),
        ("16k_stack", 16 * 1024),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t0 = Instant::now();
                    let base = now();
                    let bu = bundle().unwrap();
                    for i in 0..N {
                        let d = base + 1 + (i % 8) as i64;
                        bu.go_with_stack_size(stack, move || msleep(d).unwrap())
                            .unwrap();
                    }
                    bu.wait(-1).unwrap();
                    total += t0.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

/// Yield and spawn+join again with the stall detector on (threshold 1 s,
/// so it never reports here). Runs last: the detector cannot be compiled
/// out, only turned off again, and its monitor thread stays. Compare with
/// `switch/dill_yield` and `spawn_join/dill_go_join` of the same run (the
/// inspection features compiled in, detector off) and of the commit before
/// them (`scripts/bench-inspect`).
fn stall_detector_on(c: &mut Criterion) {
    dill::stall_detector(1000).unwrap();
    let mut g = c.benchmark_group("stall_detector_on");
    g.bench_function("dill_yield", |b| b.iter_custom(dill_yields));
    g.bench_function("dill_go_join", |b| {
        b.iter(|| go(|| black_box(())).unwrap().join(-1).unwrap());
    });
    g.finish();
    dill::stall_detector(0).unwrap();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = switch, spawn_join, msleep_past, timers, stall_detector_on
}
criterion_main!(benches);
