//! Channel costs beside the floor they are built on.
//!
//! * `corosensei/resume_suspend`: one raw resume + suspend round trip, the
//!   least a coroutine hand-off can cost.
//! * `sched/yield_round_trip`: main and a coroutine yielding to each other
//!   through the scheduler: the runtime's floor for one round trip.
//! * `chan/ping_pong`: main sends a value to an echoing coroutine and
//!   receives it back; one iteration is two messages and two hand-offs.
//! * `chan/tokio_ping_pong`: the same over tokio's bounded mpsc channels on a
//!   current-thread runtime, measured in the same run.
//! * `chan/may_ping_pong`: the same over may's mpsc channels, one may
//!   worker thread, measured in the same run.
//! * `chan/one_way`: main sends, a coroutine receives; one message per
//!   iteration.
//! * `choose/ping_pong`: as `chan/ping_pong`, with the echoing coroutine
//!   receiving through a two-clause `choose`.
//! * `chan/no_wait_failure`: a `send` with deadline 0 and nobody there: the
//!   bookkeeping of one operation without any switch.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod baselines;
use baselines::on_may;
use dill::{chmake, choose, go, Clause};

fn raw_switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("corosensei");
    g.throughput(Throughput::Elements(1));
    let mut co = corosensei::Coroutine::new(|y: &corosensei::Yielder<u64, u64>, mut v: u64| loop {
        v = y.suspend(v + 1);
    });
    g.bench_function("resume_suspend", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = match co.resume(black_box(i)) {
                corosensei::CoroutineResult::Yield(v) => v,
                corosensei::CoroutineResult::Return(()) => unreachable!(),
            };
        })
    });
    g.finish();

    // The scheduler's own hand-off: main and one coroutine yielding to each
    // other, one round trip per iteration.
    let mut g = c.benchmark_group("sched");
    g.throughput(Throughput::Elements(1));
    let stop = Rc::new(Cell::new(false));
    let flag = stop.clone();
    let spinner = go(move || while !flag.get() && dill::yield_now().is_ok() {}).unwrap();
    g.bench_function("yield_round_trip", |b| {
        b.iter(|| dill::yield_now().unwrap())
    });
    stop.set(true);
    spinner.join(-1).unwrap();
    g.finish();
}

/// Sends a value into `a` and receives the echo: one iteration is two
/// messages. The same driver for the plain channel and the `choose` echo.
fn ping_pong(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    a: &dill::Chan<u64>,
) {
    g.throughput(Throughput::Elements(2));
    g.bench_function("ping_pong", |bn| {
        let mut v = 0u64;
        bn.iter(|| {
            a.send(black_box(v), -1).unwrap();
            v = a.recv(-1).unwrap();
        })
    });
}

fn chan(c: &mut Criterion) {
    let mut g = c.benchmark_group("chan");

    let (a, b) = chmake::<u64>().unwrap();
    let echo = go(move || {
        while let Ok(v) = b.recv(-1) {
            if b.send(v + 1, -1).is_err() {
                break;
            }
        }
    })
    .unwrap();
    ping_pong(&mut g, &a);
    drop(a);
    echo.join(-1).unwrap();

    // The same ping-pong in tokio, on one thread: two bounded mpsc channels
    // of capacity 1 (tokio has no rendezvous channel) between the benchmark
    // task and an echoing task.
    g.bench_function("tokio_ping_pong", |bn| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        bn.iter_custom(|iters| {
            rt.block_on(async move {
                let (to_echo, mut echo_in) = tokio::sync::mpsc::channel::<u64>(1);
                let (echo_out, mut back) = tokio::sync::mpsc::channel::<u64>(1);
                let echo = tokio::spawn(async move {
                    while let Some(v) = echo_in.recv().await {
                        if echo_out.send(v + 1).await.is_err() {
                            break;
                        }
                    }
                });
                let start = std::time::Instant::now();
                let mut v = 0u64;
                for _ in 0..iters {
                    to_echo.send(black_box(v)).await.unwrap();
                    v = back.recv().await.unwrap();
                }
                let elapsed = start.elapsed();
                drop(to_echo);
                echo.await.unwrap();
                elapsed
            })
        })
    });

    // And in may, on one worker thread: its mpsc channels between the
    // benchmark coroutine and an echoing one.
    g.bench_function("may_ping_pong", |bn| {
        bn.iter_custom(|iters| {
            on_may(move || {
                let (to_echo, echo_in) = may::sync::mpsc::channel::<u64>();
                let (echo_out, back) = may::sync::mpsc::channel::<u64>();
                let echo = may::go!(move || {
                    while let Ok(v) = echo_in.recv() {
                        if echo_out.send(v + 1).is_err() {
                            break;
                        }
                    }
                });
                let start = std::time::Instant::now();
                let mut v = 0u64;
                for _ in 0..iters {
                    to_echo.send(black_box(v)).unwrap();
                    v = back.recv().unwrap();
                }
                let elapsed = start.elapsed();
                drop(to_echo);
                echo.join().unwrap();
                elapsed
            })
        })
    });

    let (a, b) = chmake::<u64>().unwrap();
    let sink = go(move || {
        let mut sum = 0u64;
        while let Ok(v) = b.recv(-1) {
            sum = sum.wrapping_add(v);
        }
        sum
    })
    .unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_way", |bn| {
        let mut v = 0u64;
        bn.iter(|| {
            a.send(black_box(v), -1).unwrap();
            v += 1;
        })
    });
    drop(a);
    black_box(sink.join(-1).unwrap());

    let (a, _b) = chmake::<u64>().unwrap();
    g.bench_function("no_wait_failure", |bn| {
        bn.iter(|| black_box(a.send(black_box(1), 0).is_err()))
    });
    g.finish();
}

fn choose_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("choose");
    let (a, b) = chmake::<u64>().unwrap();
    let (_x, y) = chmake::<u32>().unwrap();
    let echo = go(move || loop {
        let mut v = None;
        let mut w = None;
        match choose(
            &mut [Clause::recv(&y, &mut w), Clause::recv(&b, &mut v)],
            -1,
        ) {
            Ok(1) => {
                if b.send(v.unwrap() + 1, -1).is_err() {
                    break;
                }
            }
            _ => break,
        }
    })
    .unwrap();
    ping_pong(&mut g, &a);
    drop(a);
    echo.join(-1).unwrap();
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = raw_switch, chan, choose_bench
}
criterion_main!(benches);
