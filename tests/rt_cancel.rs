//! Cancellation: dropping a handle cancels the coroutine and waits for it;
//! in a cancelled coroutine every later blocking or creating call fails at
//! once with `ECANCELED`.

mod util;

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::Rc;

use dill::{bundle, fdin, fdout, go, msleep, now, yield_now, Coroutine};
use util::{after, assert_errno, errno, fill, pipe, socketpair};

/// Records an event in a shared log.
type Log = Rc<RefCell<Vec<&'static str>>>;

#[test]
fn drop_cancels_a_sleeper() {
    let res = Rc::new(Cell::new(0));
    let r2 = res.clone();
    let h = go(move || r2.set(errno(msleep(-1)))).unwrap();
    assert!(!h.is_finished());
    drop(h);
    assert_eq!(res.get(), libc::ECANCELED);
}

#[test]
fn drop_cancels_a_sleeper_with_a_deadline() {
    let res = Rc::new(Cell::new(0));
    let r2 = res.clone();
    let h = go(move || r2.set(errno(msleep(after(60_000))))).unwrap();
    let t0 = now();
    drop(h);
    assert_eq!(res.get(), libc::ECANCELED);
    assert!(now() - t0 < 1000);
}

#[test]
fn drop_cancels_fd_waiters() {
    let (r, _w) = pipe();
    let (a, _b) = socketpair();
    fill(&a);
    let (rfd, afd) = (r.as_raw_fd(), a.as_raw_fd());
    let rin = Rc::new(Cell::new(0));
    let rout = Rc::new(Cell::new(0));
    let (i2, o2) = (rin.clone(), rout.clone());
    let hin = go(move || i2.set(errno(fdin(rfd, -1)))).unwrap();
    let hout = go(move || o2.set(errno(fdout(afd, -1)))).unwrap();
    drop(hin);
    assert_eq!(rin.get(), libc::ECANCELED);
    drop(hout);
    assert_eq!(rout.get(), libc::ECANCELED);
    // The fds are free for new waiters: the cancelled ones withdrew.
    assert_errno(fdin(rfd, 0), libc::ETIMEDOUT);
    assert_errno(fdout(afd, 0), libc::ETIMEDOUT);
}

#[test]
fn cancelled_coroutine_fails_every_later_call() {
    let out: Rc<RefCell<Vec<(&str, i32)>>> = Rc::default();
    let o2 = out.clone();
    let h = go(move || {
        let first = errno(msleep(-1));
        let mut o = o2.borrow_mut();
        o.push(("msleep-1", first));
        o.push(("msleep", errno(msleep(after(10)))));
        // A deadline that is due already still reports the cancellation.
        o.push(("msleep0", errno(msleep(0))));
        o.push(("yield", errno(yield_now())));
        let (r, w) = pipe();
        util::write(&w, b"x").unwrap();
        // Even a wait that would succeed at once fails.
        o.push(("fdin", errno(fdin(r.as_raw_fd(), -1))));
        o.push(("fdout", errno(fdout(w.as_raw_fd(), 0))));
        o.push(("go", errno(go(|| ()))));
        o.push(("bundle", errno(bundle())));
        o.push(("check", errno(dill::check_cancelled())));
        assert!(dill::is_cancelled());
    })
    .unwrap();
    drop(h);
    let out = out.borrow();
    assert_eq!(out.len(), 9);
    for (what, e) in out.iter() {
        assert_eq!(*e, libc::ECANCELED, "{what}");
    }
}

#[test]
fn cancelled_coroutine_join_and_bundle_wait_fail() {
    let out: Rc<RefCell<Vec<(&str, i32)>>> = Rc::default();
    let o2 = out.clone();
    let h = go(move || {
        let child = go(|| msleep(-1)).unwrap();
        let done = go(|| 5).unwrap();
        let b = bundle().unwrap();
        b.go(|| {
            let _ = msleep(-1);
        })
        .unwrap();
        let empty = bundle().unwrap();
        let _ = msleep(-1);
        let mut o = o2.borrow_mut();
        o.push(("join", errno(child.join(-1))));
        // A finished child's value can still be had.
        assert_eq!(done.join(-1).unwrap(), 5);
        o.push(("wait", errno(b.wait(-1))));
        // An empty bundle is done: nothing to block on.
        empty.wait(-1).unwrap();
    })
    .unwrap();
    drop(h);
    let out = out.borrow();
    assert_eq!(
        *out,
        vec![("join", libc::ECANCELED), ("wait", libc::ECANCELED)]
    );
}

#[test]
fn nested_coroutines_are_cancelled_before_drop_returns() {
    let log: Log = Rc::default();
    let l1 = log.clone();
    let parent = go(move || {
        let l2 = l1.clone();
        let child = go(move || {
            let l3 = l2.clone();
            let grandchild = go(move || {
                assert_errno(msleep(-1), libc::ECANCELED);
                l3.borrow_mut().push("grandchild");
            })
            .unwrap();
            assert_errno(msleep(-1), libc::ECANCELED);
            drop(grandchild);
            l2.borrow_mut().push("child");
        })
        .unwrap();
        assert_errno(msleep(-1), libc::ECANCELED);
        drop(child);
        l1.borrow_mut().push("parent");
    })
    .unwrap();
    drop(parent);
    assert_eq!(*log.borrow(), vec!["grandchild", "child", "parent"]);
}

#[test]
fn grandchildren_held_by_a_returning_function_are_reaped() {
    // The parent returns while still holding its children's handles; their
    // drops cancel and wait for them before the parent's handle drop ends.
    let count = Rc::new(Cell::new(0));
    let c1 = count.clone();
    let parent = go(move || {
        let mut kids = Vec::new();
        for _ in 0..10 {
            let c2 = c1.clone();
            kids.push(
                go(move || {
                    let c3 = c2.clone();
                    let _g = go(move || {
                        let _ = msleep(-1);
                        c3.set(c3.get() + 1);
                    })
                    .unwrap();
                    let _ = msleep(-1);
                    c2.set(c2.get() + 1);
                })
                .unwrap(),
            );
        }
        let _ = msleep(-1);
        kids
    })
    .unwrap();
    drop(parent);
    assert_eq!(count.get(), 20);
}

#[test]
fn join_timeout_cancels_child_and_waits() {
    let log: Log = Rc::default();
    let l2 = log.clone();
    let h = go(move || {
        assert_errno(msleep(-1), libc::ECANCELED);
        // Cleanup after cancellation still runs to completion before the
        // joiner sees ETIMEDOUT; blocking calls now fail at once.
        assert_errno(yield_now(), libc::ECANCELED);
        l2.borrow_mut().push("child done");
    })
    .unwrap();
    let d = after(20);
    assert_errno(h.join(d), libc::ETIMEDOUT);
    assert!(now() >= d);
    assert_eq!(*log.borrow(), vec!["child done"]);
}

#[test]
fn join_in_cancelled_joiner_cancels_its_child() {
    let log: Log = Rc::default();
    let l1 = log.clone();
    let parent = go(move || {
        let l2 = l1.clone();
        let child = go(move || {
            assert_errno(msleep(-1), libc::ECANCELED);
            l2.borrow_mut().push("child");
        })
        .unwrap();
        // Cancelled while blocked in join.
        assert_errno(child.join(-1), libc::ECANCELED);
        l1.borrow_mut().push("parent");
    })
    .unwrap();
    drop(parent);
    assert_eq!(*log.borrow(), vec!["child", "parent"]);
}

#[test]
fn join_finished_coroutine_with_deadline_zero() {
    let h = go(|| vec![1, 2, 3]).unwrap();
    assert!(h.is_finished());
    assert_eq!(h.join(0).unwrap(), vec![1, 2, 3]);
    // Finished after blocking once.
    let h = go(|| {
        yield_now().unwrap();
        "later"
    })
    .unwrap();
    while !h.is_finished() {
        yield_now().unwrap();
    }
    assert_eq!(h.join(0).unwrap(), "later");
}

#[test]
fn join_gives_the_value() {
    let h = go(|| {
        msleep(after(5)).unwrap();
        String::from("hello")
    })
    .unwrap();
    assert_eq!(h.join(-1).unwrap(), "hello");
    let h = go(|| 9u8).unwrap();
    assert_eq!(h.join(after(1000)).unwrap(), 9);
}

#[test]
fn value_of_an_unjoined_coroutine_is_dropped() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let d2 = dropped.clone();
    let h = go(move || Flag(d2)).unwrap();
    assert!(h.is_finished());
    assert!(!dropped.get());
    drop(h);
    assert!(dropped.get());
}

#[test]
fn dropping_own_handle_does_not_hang() {
    let slot: Rc<RefCell<Option<Coroutine<()>>>> = Rc::default();
    let s2 = slot.clone();
    let result = Rc::new(Cell::new(0));
    let r2 = result.clone();
    let done = Rc::new(Cell::new(false));
    let d2 = done.clone();
    let h = go(move || {
        yield_now().unwrap();
        let me = s2.borrow_mut().take().expect("handle stored");
        drop(me);
        // From here on the coroutine is cancelled.
        r2.set(errno(msleep(after(10))));
        d2.set(true);
    })
    .unwrap();
    *slot.borrow_mut() = Some(h);
    while !done.get() {
        yield_now().unwrap();
    }
    assert_eq!(result.get(), libc::ECANCELED);
    assert!(slot.borrow().is_none());
    // The scheduler is in order afterwards.
    assert_eq!(go(|| 1).unwrap().join(-1).unwrap(), 1);
}

#[test]
fn joining_itself_does_not_hang() {
    let slot: Rc<RefCell<Option<Coroutine<()>>>> = Rc::default();
    let s2 = slot.clone();
    let result = Rc::new(Cell::new(0));
    let r2 = result.clone();
    let h = go(move || {
        yield_now().unwrap();
        let me = s2.borrow_mut().take().expect("handle stored");
        r2.set(errno(me.join(-1)));
    })
    .unwrap();
    *slot.borrow_mut() = Some(h);
    while result.get() == 0 {
        yield_now().unwrap();
    }
    assert_ne!(result.get(), 0);
    assert_eq!(go(|| 2).unwrap().join(-1).unwrap(), 2);
}

#[test]
fn yielding_loop_ends_on_cancel() {
    let n = Rc::new(Cell::new(0u64));
    let n2 = n.clone();
    let h = go(move || {
        while yield_now().is_ok() {
            n2.set(n2.get() + 1);
        }
    })
    .unwrap();
    while n.get() < 100 {
        yield_now().unwrap();
    }
    drop(h);
}

#[test]
fn cancel_does_not_touch_siblings() {
    let a = go(|| msleep(-1)).unwrap();
    let b = go(|| {
        msleep(after(10)).unwrap();
        3
    })
    .unwrap();
    drop(a);
    assert_eq!(b.join(-1).unwrap(), 3);
}

#[test]
fn cancelled_coroutine_can_still_drop_handles() {
    let h = go(|| {
        let kid = go(|| msleep(-1)).unwrap();
        let b = bundle().unwrap();
        b.go(|| {
            let _ = msleep(-1);
        })
        .unwrap();
        assert_errno(msleep(-1), libc::ECANCELED);
        drop(kid);
        drop(b);
        true
    })
    .unwrap();
    drop(h);
}

#[test]
fn small_and_large_values_are_delivered_or_dropped() {
    // Small results and large ones (kept by the finished coroutine until the
    // handle takes them) behave the same.
    let small: Vec<_> = (0..100u64).map(|i| go(move || i).unwrap()).collect();
    let large: Vec<_> = (0..100u64).map(|i| go(move || [i; 64]).unwrap()).collect();
    for (i, (s, l)) in small.into_iter().zip(large).enumerate().rev() {
        if i % 2 == 0 {
            assert_eq!(s.join(0).unwrap(), i as u64);
            assert_eq!(l.join(0).unwrap()[63], i as u64);
        } else {
            drop(s);
            drop(l);
        }
    }
}

#[test]
fn value_destructor_may_block() {
    struct SleepOnDrop(Rc<Cell<bool>>);
    impl Drop for SleepOnDrop {
        fn drop(&mut self) {
            self.0.set(msleep(after(2)).is_ok());
        }
    }
    let ok = Rc::new(Cell::new(false));
    let o2 = ok.clone();
    drop(go(move || SleepOnDrop(o2)).unwrap());
    assert!(ok.get());
    ok.set(false);
    let o3 = ok.clone();
    drop(go(move || (SleepOnDrop(o3), [0u64; 64])).unwrap());
    assert!(ok.get());
}
