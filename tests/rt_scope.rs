//! Scoped coroutines: they borrow from their parent, and `scope` returns
//! only after all of them have returned, whatever happens.

mod ipc_util;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use dill::*;
use ipc_util::*;

#[test]
fn children_borrow_and_write_results() {
    let data = [1u64, 2, 3, 4, 5, 6];
    let mut sums = [0u64; 2];
    let (left, right) = sums.split_at_mut(1);
    let r = scope(|s| {
        let (a, b) = data.split_at(3);
        s.go(move || {
            yield_now().unwrap();
            left[0] = a.iter().sum();
        })
        .unwrap();
        s.go(move || right[0] = b.iter().sum()).unwrap();
        "from f"
    })
    .unwrap();
    assert_eq!(r, "from f");
    assert_eq!(sums, [6, 15]);
}

#[test]
fn waits_for_blocked_children() {
    let done = Cell::new(0);
    let start = now();
    scope(|s| {
        for i in 1..=3 {
            let done = &done;
            s.go(move || {
                msleep(after(10 * i)).unwrap();
                done.set(done.get() + 1);
            })
            .unwrap();
        }
    })
    .unwrap();
    assert_eq!(done.get(), 3);
    assert!(now() >= start + 30);
}

#[test]
fn reader_and_writer_share_a_borrowed_stream() {
    let (a, b) = ipc_pair().unwrap();
    let (a, b) = (&a, &b);
    let mut got = Vec::new();
    let got_ref = &mut got;
    scope(|s| {
        // `go` runs each coroutine at once until it blocks: the reader is
        // waiting in its receive (nothing has been sent yet) when the next
        // one starts.
        s.go(move || {
            let mut r = a;
            let mut one = [0u8; 1];
            for _ in 0..100 {
                brecv(&mut r, &mut one, after(10_000)).unwrap();
                got_ref.push(one[0]);
            }
        })
        .unwrap();
        // A second concurrent reader of `a` is turned away.
        s.go(move || {
            let mut r = a;
            let mut one = [0u8; 1];
            assert_eq!(errno(brecv(&mut r, &mut one, 0)), libc::EBUSY);
        })
        .unwrap();
        s.go(move || {
            let mut w = a;
            for i in 0..100u8 {
                bsend(&mut w, &[i], after(10_000)).unwrap();
            }
        })
        .unwrap();
        s.go(move || {
            // The echo peer, also borrowed.
            let mut p = b;
            let mut one = [0u8; 1];
            for _ in 0..100 {
                brecv(&mut p, &mut one, after(10_000)).unwrap();
                bsend(&mut p, &one, after(10_000)).unwrap();
            }
        })
        .unwrap();
    })
    .unwrap();
    assert_eq!(got, (0..100).collect::<Vec<u8>>());
}

#[test]
fn a_panic_in_f_cancels_and_waits_first() {
    let cleaned = Cell::new(false);
    let r = catch_unwind(AssertUnwindSafe(|| {
        scope(|s| {
            let cleaned = &cleaned;
            s.go(move || {
                // Blocks until cancelled.
                assert_eq!(errno(msleep(-1)), libc::ECANCELED);
                cleaned.set(true);
            })
            .unwrap();
            panic!("f fails");
        })
    }));
    assert!(r.is_err());
    // The child ran its code to the end before the panic went on.
    assert!(cleaned.get());
}

#[test]
fn cancelling_the_parent_cancels_the_children_and_waits() {
    let log = std::rc::Rc::new(Cell::new((false, false)));
    let log2 = log.clone();
    let parent = go(move || {
        let local = Cell::new(0u32);
        let r = scope(|s| {
            let local = &local;
            s.go(move || {
                let e = errno(msleep(-1));
                local.set(local.get() + 1);
                assert_eq!(e, libc::ECANCELED);
            })
            .unwrap();
        });
        // scope returned: the child is gone, its last write visible.
        log2.set((r.is_ok(), local.get() == 1));
    })
    .unwrap();
    yield_now().unwrap();
    drop(parent);
    assert_eq!(log.get(), (true, true));
}

#[test]
fn a_panicking_child_is_contained() {
    let after_panic = Cell::new(false);
    scope(|s| {
        s.go(|| panic!("child fails")).unwrap();
        s.go(|| after_panic.set(true)).unwrap();
    })
    .unwrap();
    assert!(after_panic.get());
}

#[test]
fn no_scoped_coroutine_while_unwinding() {
    struct OnDrop<'a>(&'a Cell<i32>);
    impl Drop for OnDrop<'_> {
        fn drop(&mut self) {
            let code = scope(|s| errno(s.go(|| {}))).unwrap();
            self.0.set(code);
        }
    }
    let seen = Cell::new(0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _guard = OnDrop(&seen);
        panic!("unwind");
    }));
    assert!(r.is_err());
    assert_eq!(seen.get(), libc::ECANCELED);
}

#[test]
fn cancelled_caller_gets_ecanceled() {
    let seen = std::rc::Rc::new(Cell::new(0));
    let s2 = seen.clone();
    let co = go(move || {
        let _ = msleep(-1);
        s2.set(errno(scope(|_| ())));
    })
    .unwrap();
    drop(co);
    assert_eq!(seen.get(), libc::ECANCELED);
}
