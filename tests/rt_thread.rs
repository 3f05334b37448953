//! Structured threads: spawn_thread and spawn_threads cancel and join their
//! threads, and a thread's coroutines are cancelled and joined before it
//! exits.

mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use dill::*;
use util::{assert_errno, errno};

/// Counts a coroutine as finished when it is dropped (returned or unwound).
struct Finished(Arc<AtomicUsize>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn join_gives_the_value() {
    let t = spawn_thread(|| 6 * 7).unwrap();
    assert_eq!(t.join(-1).unwrap(), 42);
    let t = spawn_thread(|| String::from("moved")).unwrap();
    assert_eq!(t.join(dill::after(10_000)).unwrap(), "moved");
}

#[test]
fn the_function_runs_on_another_thread_with_its_own_scheduler() {
    let me = std::thread::current().id();
    let t = spawn_thread(move || {
        assert_ne!(std::thread::current().id(), me);
        // Coroutines of the new thread run there.
        let c = go(|| std::thread::current().id()).unwrap();
        let id = c.join(-1).unwrap();
        assert_eq!(id, std::thread::current().id());
        id
    })
    .unwrap();
    assert_ne!(t.join(-1).unwrap(), me);
}

#[test]
fn cancellation_from_another_thread_arrives() {
    // The thread sleeps forever; only the cancellation can end it.
    let t = spawn_thread(|| errno(msleep(-1))).unwrap();
    assert!(!t.is_finished());
    t.cancel();
    assert_eq!(t.join(dill::after(10_000)).unwrap(), libc::ECANCELED);
}

#[test]
fn cancellation_reaches_a_thread_waiting_for_io() {
    let (r, _w) = util::pipe();
    let t = spawn_thread(move || {
        use std::os::fd::AsRawFd;
        let res = fdin(r.as_raw_fd(), -1);
        fdclean(r.as_raw_fd());
        errno(res)
    })
    .unwrap();
    t.cancel();
    assert_eq!(t.join(-1).unwrap(), libc::ECANCELED);
}

/// A thread whose function owns a bundle and a coroutine handle, all
/// blocked forever; `started` is told once they all run.
fn owner_of_sleepers(
    finished: Arc<AtomicUsize>,
    started: mpsc::Sender<()>,
) -> impl FnOnce() -> usize + Send + 'static {
    move || {
        let b = bundle().unwrap();
        for _ in 0..5 {
            let fin = Finished(Arc::clone(&finished));
            b.go(move || {
                let _fin = fin;
                let _ = msleep(-1);
            })
            .unwrap();
        }
        let fin = Finished(Arc::clone(&finished));
        let c = go(move || {
            let _fin = fin;
            let _ = msleep(-1);
        })
        .unwrap();
        yield_now().unwrap();
        started.send(()).unwrap();
        let _ = msleep(-1);
        drop(c);
        drop(b);
        finished.load(Ordering::SeqCst)
    }
}

#[test]
fn a_thread_exits_only_after_its_coroutines_finished() {
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let t = spawn_thread(owner_of_sleepers(Arc::clone(&finished), tx)).unwrap();
    rx.recv().unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    t.cancel();
    // The function saw all six coroutines finished when it returned...
    assert_eq!(t.join(-1).unwrap(), 6);
    // ...and join returned after that.
    assert_eq!(finished.load(Ordering::SeqCst), 6);
}

#[test]
fn dropping_the_handle_cancels_and_waits() {
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let t = spawn_thread(owner_of_sleepers(Arc::clone(&finished), tx)).unwrap();
    rx.recv().unwrap();
    drop(t);
    assert_eq!(finished.load(Ordering::SeqCst), 6);
}

#[test]
fn coroutines_of_a_function_that_returns_are_joined_before_the_thread_ends() {
    // The function returns on its own, leaving a bundle of sleepers behind
    // on its stack: they are cancelled and joined before join returns.
    let finished = Arc::new(AtomicUsize::new(0));
    let fin = Arc::clone(&finished);
    let t = spawn_thread(move || {
        let b = bundle().unwrap();
        for _ in 0..3 {
            let f = Finished(Arc::clone(&fin));
            b.go(move || {
                let _f = f;
                let _ = msleep(-1);
            })
            .unwrap();
        }
        yield_now().unwrap();
        fin.load(Ordering::SeqCst)
    })
    .unwrap();
    assert_eq!(t.join(-1).unwrap(), 0, "none had finished when f returned");
    assert_eq!(finished.load(Ordering::SeqCst), 3);
}

#[test]
fn join_suspends_only_the_calling_coroutine() {
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = Arc::clone(&flag);
    // The thread waits until a coroutine of the joining thread has run.
    let t = spawn_thread(move || {
        while !f2.load(Ordering::SeqCst) {
            msleep(dill::after(1)).unwrap();
        }
        7
    })
    .unwrap();
    let setter = go(move || flag.store(true, Ordering::SeqCst)).unwrap();
    assert_eq!(t.join(dill::after(10_000)).unwrap(), 7);
    setter.join(-1).unwrap();
}

#[test]
fn join_times_out_then_cancels_and_joins() {
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let t = spawn_thread(owner_of_sleepers(Arc::clone(&finished), tx)).unwrap();
    rx.recv().unwrap();
    let start = now();
    assert_errno(t.join(start + 20), libc::ETIMEDOUT);
    assert!(now() >= start + 20, "timed out early");
    assert_eq!(finished.load(Ordering::SeqCst), 6);
}

#[test]
fn join_with_a_bad_deadline_is_einval_and_still_joins() {
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let t = spawn_thread(owner_of_sleepers(Arc::clone(&finished), tx)).unwrap();
    rx.recv().unwrap();
    assert_errno(t.join(-2), libc::EINVAL);
    assert_eq!(finished.load(Ordering::SeqCst), 6);
}

#[test]
fn a_cancelled_joiner_gets_ecanceled_after_the_thread_is_joined() {
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let t = spawn_thread(owner_of_sleepers(Arc::clone(&finished), tx)).unwrap();
    rx.recv().unwrap();
    let joiner = go(move || errno(t.join(-1))).unwrap();
    yield_now().unwrap();
    // Cancelling the joiner (by dropping its handle) cancels the thread.
    drop(joiner);
    assert_eq!(finished.load(Ordering::SeqCst), 6);
}

#[test]
fn spawn_in_a_cancelled_coroutine_is_ecanceled() {
    let (tx, rx) = mpsc::channel();
    let c = go(move || {
        let _ = msleep(-1);
        tx.send(errno(spawn_thread(|| ()))).unwrap();
    })
    .unwrap();
    yield_now().unwrap();
    drop(c);
    assert_eq!(rx.recv().unwrap(), libc::ECANCELED);
}

#[test]
fn a_panic_is_reraised_in_the_joiner() {
    let t = spawn_thread(|| -> u8 { panic!("boom in a thread") }).unwrap();
    let p = panic::catch_unwind(AssertUnwindSafe(|| t.join(-1))).unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"boom in a thread"));
    // A panic of a cancelled function too.
    let t = spawn_thread(|| -> u8 {
        let _ = msleep(-1);
        panic!("after cancel")
    })
    .unwrap();
    t.cancel();
    let p = panic::catch_unwind(AssertUnwindSafe(|| t.join(-1))).unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"after cancel"));
}

#[test]
fn spawn_threads_runs_f_on_each_with_its_index() {
    let ts = spawn_threads(4, |i| (i, std::thread::current().id())).unwrap();
    assert_eq!(ts.len(), 4);
    assert!(!ts.is_empty());
    let out = ts.join(dill::after(10_000)).unwrap();
    let idx: Vec<usize> = out.iter().map(|p| p.0).collect();
    assert_eq!(idx, vec![0, 1, 2, 3]);
    let mut ids: Vec<_> = out.iter().map(|p| format!("{:?}", p.1)).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "four distinct threads");
    assert_errno(spawn_threads(0, |_| ()), libc::EINVAL);
}

#[test]
fn cancelling_a_group_cancels_every_thread() {
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<()>();
    let fin = Arc::clone(&finished);
    let ts = spawn_threads(3, move |_| {
        let f = owner_of_sleepers(Arc::clone(&fin), tx.clone());
        f()
    })
    .unwrap();
    for _ in 0..3 {
        rx.recv().unwrap();
    }
    assert!(!ts.is_finished());
    ts.cancel();
    let out = ts.join(-1).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(finished.load(Ordering::SeqCst), 18);

    // Dropping a group does the same.
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<()>();
    let fin = Arc::clone(&finished);
    let ts = spawn_threads(2, move |_| {
        let f = owner_of_sleepers(Arc::clone(&fin), tx.clone());
        f()
    })
    .unwrap();
    rx.recv().unwrap();
    rx.recv().unwrap();
    drop(ts);
    assert_eq!(finished.load(Ordering::SeqCst), 12);
}

#[test]
fn a_panicking_member_cancels_the_rest_of_the_group() {
    let finished = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<()>();
    let fin = Arc::clone(&finished);
    let ts = spawn_threads(3, move |i| {
        if i == 0 {
            // Wait until the two others run, then panic.
            let _ = msleep(dill::after(1));
            panic!("member 0");
        }
        let f = owner_of_sleepers(Arc::clone(&fin), tx.clone());
        f()
    })
    .unwrap();
    rx.recv().unwrap();
    rx.recv().unwrap();
    let p = panic::catch_unwind(AssertUnwindSafe(|| ts.join(-1))).unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"member 0"));
    assert_eq!(finished.load(Ordering::SeqCst), 12);
}

#[test]
fn handles_are_debug() {
    let t = spawn_thread(|| ()).unwrap();
    assert!(format!("{t:?}").starts_with("Thread"));
    t.join(-1).unwrap();
    let ts = spawn_threads(1, |_| ()).unwrap();
    assert!(format!("{ts:?}").starts_with("Threads"));
}
