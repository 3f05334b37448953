//! `blocking`: thread-blocking work on helper threads while the calling
//! thread's other coroutines run; deadlines, cancellation and panics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use dill::errno::{ECANCELED, EINVAL, ETIMEDOUT};
use dill::{after, blocking, bundle, chmake, chmake_shared, go, now, yield_now};

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn returns_the_result_from_another_thread() {
    let me = thread::current().id();
    let (v, other) = blocking(move || (6 * 7, thread::current().id() != me), -1).unwrap();
    assert_eq!(v, 42);
    assert!(other);
}

#[test]
fn other_coroutines_run_while_f_blocks() {
    // `f` blocks its helper thread until a coroutine of this thread has
    // run: only possible if the caller's thread is free meanwhile.
    let (tx, rx) = std::sync::mpsc::channel::<u32>();
    let worker = go(move || blocking(move || rx.recv().unwrap() + 1, -1)).unwrap();
    let other = go(move || tx.send(41).unwrap()).unwrap();
    other.join(-1).unwrap();
    assert_eq!(worker.join(-1).unwrap().unwrap(), 42);
}

#[test]
fn timeout_returns_at_once_and_the_result_is_dropped_later() {
    #[derive(Debug)]
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Barrier::new(2));
    let (done_tx, done_rx) = chmake_shared::<()>(1).unwrap();
    let (d2, g2) = (drops.clone(), gate.clone());
    let deadline = after(20);
    let r = blocking(
        move || {
            g2.wait();
            let f = Flag(d2);
            let _ = done_tx.send((), 0);
            f
        },
        deadline,
    );
    assert_eq!(errno(r), ETIMEDOUT);
    assert!(now() >= deadline);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    // Let `f` finish; its result is dropped on the helper thread.
    gate.wait();
    done_rx.recv(-1).unwrap();
    // The drop follows the send on the helper thread; wait for it.
    while drops.load(Ordering::SeqCst) == 0 {
        thread::yield_now();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn cancellation_returns_at_once() {
    let gate = Arc::new(Barrier::new(2));
    let g2 = gate.clone();
    let (tx, rx) = chmake::<i32>().unwrap();
    let b = bundle().unwrap();
    b.go(move || {
        let r = blocking(move || g2.wait(), -1);
        let _ = tx.send(errno(r), 0);
    })
    .unwrap();
    let reader = go(move || rx.recv(-1)).unwrap();
    yield_now().unwrap();
    drop(b);
    assert_eq!(reader.join(-1).unwrap().unwrap(), ECANCELED);
    gate.wait();
}

#[test]
fn not_run_when_already_expired_or_cancelled() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    assert_eq!(
        errno(blocking(move || r2.fetch_add(1, Ordering::SeqCst), 0)),
        ETIMEDOUT
    );
    let r3 = ran.clone();
    assert_eq!(
        errno(blocking(move || r3.fetch_add(1, Ordering::SeqCst), -7)),
        EINVAL
    );
    let (tx, rx) = chmake::<i32>().unwrap();
    let r4 = ran.clone();
    let b = bundle().unwrap();
    b.go(move || {
        let _ = dill::msleep(-1);
        let r = blocking(move || r4.fetch_add(1, Ordering::SeqCst), -1);
        let _ = tx.send(errno(r), 0);
    })
    .unwrap();
    let reader = go(move || rx.recv(-1)).unwrap();
    yield_now().unwrap();
    drop(b);
    assert_eq!(reader.join(-1).unwrap().unwrap(), ECANCELED);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_panic_in_f_is_raised_in_the_caller() {
    let r = std::panic::catch_unwind(|| {
        let _: u32 = blocking(|| panic!("boom in helper"), -1).unwrap();
    });
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"boom in helper"));
    // The pool still works.
    assert_eq!(blocking(|| 1, -1).unwrap(), 1);
}

#[test]
fn many_concurrent_calls_from_many_coroutines() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hs: Vec<_> = (0..100u32)
        .map(|i| {
            let seen = seen.clone();
            go(move || {
                let v = blocking(move || i * 2, -1).unwrap();
                seen.lock().unwrap().push(v);
            })
            .unwrap()
        })
        .collect();
    for h in hs {
        h.join(-1).unwrap();
    }
    let mut v = seen.lock().unwrap().clone();
    v.sort();
    assert_eq!(v, (0..100).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn works_from_several_threads() {
    let ts: Vec<_> = (0..4u64)
        .map(|k| {
            thread::spawn(move || {
                (0..50)
                    .map(|i| blocking(move || k * i, -1).unwrap())
                    .sum::<u64>()
            })
        })
        .collect();
    let total: u64 = ts.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, (0..4).sum::<u64>() * (0..50).sum::<u64>());
}
