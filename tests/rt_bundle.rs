//! Bundles: `wait` returns once every member has returned; dropping the
//! bundle cancels the members and waits for them.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use dill::{bundle, go, msleep, now, yield_now, Bundle};
use util::{after, assert_errno, errno};

#[test]
fn empty_bundle_waits_at_once() {
    let b = bundle().unwrap();
    assert!(b.is_empty());
    b.wait(-1).unwrap();
    b.wait(0).unwrap();
}

#[test]
fn wait_returns_when_all_members_return() {
    let b = bundle().unwrap();
    let done = Rc::new(Cell::new(0));
    // The members park on a channel until all are started, and their
    // deadlines are computed from a time read after that, so none can
    // finish (and leave the bundle) while the others are being started,
    // however slow the machine.
    let (release, parked) = dill::chmake::<()>().unwrap();
    let t0 = Rc::new(Cell::new(0i64));
    for ms in [5, 1, 20, 10] {
        let (done, parked, t0) = (done.clone(), parked.clone(), t0.clone());
        b.go(move || {
            parked.recv(-1).unwrap();
            msleep(t0.get() + ms).unwrap();
            done.set(done.get() + 1);
        })
        .unwrap();
    }
    assert_eq!(b.len(), 4);
    t0.set(now());
    for _ in 0..4 {
        release.send((), -1).unwrap();
    }
    b.wait(-1).unwrap();
    assert_eq!(done.get(), 4);
    assert!(now() >= t0.get() + 20);
    assert!(b.is_empty());
    // The bundle can be reused.
    let d2 = done.clone();
    b.go(move || d2.set(d2.get() + 1)).unwrap();
    b.wait(-1).unwrap();
    assert_eq!(done.get(), 5);
}

#[test]
fn members_that_finish_at_once_leave_the_bundle() {
    let b = bundle().unwrap();
    let n = Rc::new(Cell::new(0));
    for _ in 0..100 {
        let n = n.clone();
        b.go(move || n.set(n.get() + 1)).unwrap();
    }
    assert_eq!(n.get(), 100);
    assert!(b.is_empty());
    b.wait(0).unwrap();
}

#[test]
fn drop_cancels_all_and_waits() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let b = bundle().unwrap();
    for i in 0..20 {
        let log = log.clone();
        b.go(move || {
            let e = errno(msleep(-1));
            // Cleanup code after the cancellation runs before drop returns.
            assert_errno(yield_now(), libc::ECANCELED);
            log.borrow_mut().push((i, e));
        })
        .unwrap();
    }
    drop(b);
    let log = log.borrow();
    assert_eq!(log.len(), 20);
    assert!(log.iter().all(|&(_, e)| e == libc::ECANCELED));
}

#[test]
fn wait_timeout_leaves_members_running() {
    let b = bundle().unwrap();
    let finished = Rc::new(Cell::new(false));
    let f2 = finished.clone();
    let until = after(40);
    b.go(move || {
        msleep(until).unwrap();
        f2.set(true);
    })
    .unwrap();
    let d = after(5);
    assert_errno(b.wait(d), libc::ETIMEDOUT);
    assert!(now() >= d);
    assert!(!finished.get());
    assert_eq!(b.len(), 1);
    b.wait(-1).unwrap();
    assert!(finished.get());
    assert!(now() >= until);
}

#[test]
fn nested_bundles_cancel_grandchildren() {
    let count = Rc::new(Cell::new(0));
    let outer = bundle().unwrap();
    for _ in 0..5 {
        let count = count.clone();
        outer
            .go(move || {
                let inner = bundle().unwrap();
                for _ in 0..5 {
                    let count = count.clone();
                    inner
                        .go(move || {
                            assert_errno(msleep(-1), libc::ECANCELED);
                            count.set(count.get() + 1);
                        })
                        .unwrap();
                }
                assert_errno(inner.wait(-1), libc::ECANCELED);
                // Dropping `inner` here cancels and reaps its members.
            })
            .unwrap();
    }
    drop(outer);
    assert_eq!(count.get(), 25);
}

#[test]
fn bundle_inside_a_cancelled_coroutine() {
    let h = go(|| {
        let b = bundle().unwrap();
        b.go(|| {
            let _ = msleep(-1);
        })
        .unwrap();
        assert_errno(msleep(-1), libc::ECANCELED);
        assert_errno(b.wait(-1), libc::ECANCELED);
        assert_errno(b.go(|| ()), libc::ECANCELED);
        assert_errno(bundle(), libc::ECANCELED);
        b.len()
    })
    .unwrap();
    drop(h);
}

#[test]
fn cancelled_waiter_on_bundle_gets_ecanceled() {
    let b = Rc::new(bundle().unwrap());
    b.go(|| {
        let _ = msleep(-1);
    })
    .unwrap();
    let b2 = b.clone();
    let res = Rc::new(Cell::new(0));
    let r2 = res.clone();
    let waiter = go(move || r2.set(errno(b2.wait(-1)))).unwrap();
    drop(waiter);
    assert_eq!(res.get(), libc::ECANCELED);
    assert_eq!(b.len(), 1);
}

#[test]
fn two_waiters_on_one_bundle_both_wake() {
    let b = Rc::new(bundle().unwrap());
    let d = after(10);
    b.go(move || msleep(d).unwrap()).unwrap();
    let b2 = b.clone();
    let w = go(move || b2.wait(-1)).unwrap();
    b.wait(-1).unwrap();
    w.join(after(5000)).unwrap().unwrap();
    assert!(now() >= d);
}

#[test]
fn member_dropping_its_own_bundle_does_not_hang() {
    let slot: Rc<RefCell<Option<Bundle>>> = Rc::default();
    let b = bundle().unwrap();
    let s2 = slot.clone();
    let res = Rc::new(Cell::new(0));
    let r2 = res.clone();
    let sibling = Rc::new(Cell::new(0));
    let sib2 = sibling.clone();
    b.go(move || {
        sib2.set(errno(msleep(-1)));
    })
    .unwrap();
    b.go(move || {
        yield_now().unwrap();
        let me = s2.borrow_mut().take().expect("bundle stored");
        drop(me);
        r2.set(errno(msleep(after(10))));
    })
    .unwrap();
    *slot.borrow_mut() = Some(b);
    while res.get() == 0 || sibling.get() == 0 {
        yield_now().unwrap();
    }
    assert_eq!(res.get(), libc::ECANCELED);
    assert_eq!(sibling.get(), libc::ECANCELED);
    // The scheduler carries on.
    let b = bundle().unwrap();
    b.go(|| ()).unwrap();
    b.wait(-1).unwrap();
}

#[test]
fn many_bundles_ids_are_reused_safely() {
    for round in 0..50 {
        let b = bundle().unwrap();
        let n = Rc::new(Cell::new(0));
        for i in 0..(round % 7) {
            let n = n.clone();
            b.go(move || {
                msleep(after(i % 3)).unwrap();
                n.set(n.get() + 1);
            })
            .unwrap();
        }
        if round % 2 == 0 {
            b.wait(-1).unwrap();
            assert_eq!(n.get(), round % 7);
        }
    }
}

#[test]
fn bundle_go_with_stack_size() {
    let b = bundle().unwrap();
    let hit = Rc::new(Cell::new(false));
    let h2 = hit.clone();
    b.go_with_stack_size(64 * 1024, move || {
        yield_now().unwrap();
        h2.set(true);
    })
    .unwrap();
    b.wait(-1).unwrap();
    assert!(hit.get());
    assert_errno(b.go_with_stack_size(usize::MAX, || ()), libc::ENOMEM);
}
