//! Timers: many sleepers with varied deadlines all wake, none early, in
//! deadline order.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use dill::{bundle, go, msleep, now};
use util::{after, SLACK_MS};

#[test]
fn ten_thousand_sleepers_all_wake_none_early() {
    const N: i64 = 10_000;
    let b = bundle().unwrap();
    let early = Rc::new(Cell::new(0u32));
    let woke = Rc::new(Cell::new(0u32));
    let worst = Rc::new(Cell::new(0i64));
    let t0 = now();
    for i in 0..N {
        let (early, woke, worst) = (early.clone(), woke.clone(), worst.clone());
        // Deadlines spread over 0..200 ms, in a scrambled order.
        let d = t0 + (i * 7919) % 200;
        b.go_with_stack_size(16 * 1024, move || {
            msleep(d).unwrap();
            let t = now();
            if t < d {
                early.set(early.get() + 1);
            }
            worst.set(worst.get().max(t - d));
            woke.set(woke.get() + 1);
        })
        .unwrap();
    }
    b.wait(t0 + 200 + 10 * SLACK_MS).unwrap();
    assert_eq!(woke.get(), N as u32);
    assert_eq!(early.get(), 0);
    assert!(
        worst.get() < 10 * SLACK_MS,
        "worst lateness {}",
        worst.get()
    );
}

#[test]
fn sleepers_wake_in_deadline_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let t0 = now() + 5;
    let b = bundle().unwrap();
    for ms in [40i64, 10, 30, 0, 20, 50] {
        let order = order.clone();
        b.go(move || {
            msleep(t0 + ms).unwrap();
            order.borrow_mut().push(ms);
        })
        .unwrap();
    }
    b.wait(-1).unwrap();
    assert_eq!(*order.borrow(), vec![0, 10, 20, 30, 40, 50]);
}

#[test]
fn equal_deadlines_fire_in_arming_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let d = after(10);
    let b = bundle().unwrap();
    for i in 0..100 {
        let order = order.clone();
        b.go(move || {
            msleep(d).unwrap();
            order.borrow_mut().push(i);
        })
        .unwrap();
    }
    b.wait(-1).unwrap();
    assert_eq!(*order.borrow(), (0..100).collect::<Vec<_>>());
}

#[test]
fn cancelled_sleepers_leave_no_stale_timers() {
    // Arm and withdraw many timers, then check the remaining ones still fire
    // on time (a stale heap entry would wake somebody wrongly or early).
    for _ in 0..10 {
        let hs: Vec<_> = (0..100)
            .map(|i| go(move || msleep(after(1000 + i))).unwrap())
            .collect();
        drop(hs);
    }
    let d = after(15);
    let keep: Vec<_> = (0..50)
        .map(|i| {
            let d = d + i % 5;
            go(move || {
                msleep(d).unwrap();
                now() >= d
            })
            .unwrap()
        })
        .collect();
    for h in keep {
        assert!(h.join(-1).unwrap());
    }
}

#[test]
fn root_and_coroutines_sleep_together() {
    let d1 = after(10);
    let d2 = after(20);
    let h = go(move || {
        msleep(d2).unwrap();
        now()
    })
    .unwrap();
    msleep(d1).unwrap();
    let t = now();
    assert!(t >= d1);
    assert!(!h.is_finished() || t >= d2);
    assert!(h.join(-1).unwrap() >= d2);
}

#[test]
fn far_future_deadline_does_not_overflow() {
    let h = go(|| msleep(i64::MAX)).unwrap();
    let h2 = go(|| msleep(now() + (1 << 40))).unwrap();
    let d = after(5);
    msleep(d).unwrap();
    assert!(!h.is_finished());
    assert!(!h2.is_finished());
    drop(h);
    drop(h2);
}

#[test]
fn deadline_reached_while_running_is_not_early() {
    // A sleeper whose deadline passes while another coroutine hogs the CPU
    // wakes after it, never before.
    let d = after(5);
    let h = go(move || {
        msleep(d).unwrap();
        now()
    })
    .unwrap();
    let spin_until = after(15);
    while now() < spin_until {}
    assert!(h.join(-1).unwrap() >= spin_until);
}
