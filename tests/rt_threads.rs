//! Threads: each OS thread has its own scheduler; they run coroutines at the
//! same time without knowing about each other.

mod util;

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use dill::{bundle, fdin, go, msleep, now, yield_now, Bundle, Coroutine};
use util::{after, pipe};

/// Runs a small workload of sleeping, yielding and joining coroutines and
/// returns a checksum.
fn workload(seed: u64) -> u64 {
    let b = bundle().unwrap();
    let sum = Rc::new(Cell::new(0u64));
    for i in 0..200u64 {
        let sum = sum.clone();
        b.go(move || {
            msleep(after(((i * 13 + seed) % 10) as i64)).unwrap();
            yield_now().unwrap();
            let h = go(move || i * 2).unwrap();
            sum.set(sum.get() + h.join(-1).unwrap());
        })
        .unwrap();
    }
    b.wait(-1).unwrap();
    sum.get()
}

#[test]
fn two_threads_run_independent_schedulers() {
    let barrier = Arc::new(Barrier::new(2));
    let ts: Vec<_> = (0..2)
        .map(|k| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                workload(k)
            })
        })
        .collect();
    let expected: u64 = (0..200).map(|i| i * 2).sum();
    for t in ts {
        assert_eq!(t.join().unwrap(), expected);
    }
}

#[test]
fn threads_are_blocked_concurrently() {
    // Each thread parks its scheduler in an fd wait that only the *other*
    // thread can satisfy: this only completes if both schedulers run at
    // the same time.
    let (r1, w1) = pipe();
    let (r2, w2) = pipe();
    let t = thread::spawn(move || {
        let rfd = r1.as_raw_fd();
        let h = go(move || fdin(rfd, after(10_000))).unwrap();
        util::write(&w2, b"a").unwrap();
        h.join(-1).unwrap().unwrap();
        drop(r1);
    });
    let rfd = r2.as_raw_fd();
    let h = go(move || fdin(rfd, after(10_000))).unwrap();
    h.join(-1).unwrap().unwrap();
    util::write(&w1, b"b").unwrap();
    t.join().unwrap();
}

#[test]
fn sleeping_threads_overlap() {
    // Two threads sleep `ms` each through their schedulers; the sleeping
    // spans overlap in time, so together they take about `ms`, not twice
    // that. A thread that gets to run late (valgrind runs one thread at a
    // time; a loaded machine may not run it for a while) can start after
    // the other has finished, which shows nothing: then try again with
    // longer sleeps.
    for ms in [100, 1000, 5000] {
        let t0 = now();
        let barrier = Arc::new(Barrier::new(2));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    let start = now();
                    let b = bundle().unwrap();
                    for _ in 0..10 {
                        b.go(move || msleep(start + ms).unwrap()).unwrap();
                    }
                    b.wait(-1).unwrap();
                    (start, now())
                })
            })
            .collect();
        let spans: Vec<_> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(now() >= t0 + ms);
        for &(start, end) in &spans {
            assert!(end >= start + ms, "{spans:?}");
        }
        // The two sleeping spans overlap in time.
        let latest_start = spans.iter().map(|s| s.0).max().unwrap();
        let earliest_end = spans.iter().map(|s| s.1).min().unwrap();
        if latest_start < earliest_end {
            return;
        }
        assert!(ms < 5000, "the sleeps never overlapped: {spans:?}");
    }
}

#[test]
fn thread_local_state_is_per_thread_inside_coroutines() {
    thread_local! {
        static ID: Cell<u32> = const { Cell::new(0) };
    }
    let ts: Vec<_> = (1..=4)
        .map(|k| {
            thread::spawn(move || {
                ID.with(|c| c.set(k));
                let b = bundle().unwrap();
                let ok = Rc::new(Cell::new(true));
                for _ in 0..20 {
                    let ok = ok.clone();
                    b.go(move || {
                        for _ in 0..10 {
                            yield_now().unwrap();
                            if ID.with(|c| c.get()) != k {
                                ok.set(false);
                            }
                        }
                    })
                    .unwrap();
                }
                b.wait(-1).unwrap();
                ok.get()
            })
        })
        .collect();
    for t in ts {
        assert!(t.join().unwrap());
    }
}

#[test]
fn thread_exit_with_leaked_coroutines_is_clean() {
    // A thread that exits while a coroutine handle was leaked: the
    // scheduler is torn down without running or unwinding it.
    thread::spawn(|| {
        let h = go(|| msleep(-1)).unwrap();
        std::mem::forget(h);
        let b = bundle().unwrap();
        b.go(|| {
            let _ = msleep(-1);
        })
        .unwrap();
        std::mem::forget(b);
    })
    .join()
    .unwrap();
    // Many short-lived threads, each creating and dropping a scheduler.
    for _ in 0..20 {
        thread::spawn(|| go(|| 1).unwrap().join(-1).unwrap())
            .join()
            .unwrap();
    }
}

#[test]
fn handles_in_thread_locals_outlive_the_scheduler_owner() {
    // Thread-local destructors run in reverse order of registration, so a
    // handle stored in a thread-local touched before the first `go` is
    // dropped after the scheduler's own thread-local. Its drop must still
    // cancel and wait for the coroutine, not crash the process.
    thread_local! {
        static H: RefCell<Option<Coroutine<()>>> = const { RefCell::new(None) };
        static B: RefCell<Option<Bundle>> = const { RefCell::new(None) };
        static E: RefCell<Option<Bundle>> = const { RefCell::new(None) };
    }
    let cancelled = Arc::new(AtomicUsize::new(0));
    let c = cancelled.clone();
    thread::spawn(move || {
        H.with(|_| ());
        B.with(|_| ());
        E.with(|_| ());
        let c1 = c.clone();
        let h = go(move || {
            if msleep(-1).is_err() {
                c1.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
        H.with(|slot| *slot.borrow_mut() = Some(h));
        let b = bundle().unwrap();
        b.go(move || {
            if msleep(-1).is_err() {
                c.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
        B.with(|slot| *slot.borrow_mut() = Some(b));
        // An empty bundle too.
        E.with(|slot| *slot.borrow_mut() = Some(bundle().unwrap()));
    })
    .join()
    .unwrap();
    assert_eq!(cancelled.load(Ordering::SeqCst), 2);
}
