//! Timers: many sleepers with varied deadlines all wake, none early, in
//! deadline order.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use dill::{bundle, chmake, go, msleep, now, yield_now};
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

/// Runs one sleeper per entry of `delays` in a bundle. Every sleeper is
/// started and parked on a channel first; only then is the base deadline
/// computed (`margin` ms from now) and the sleepers released, in order, each
/// to sleep until `base + delay`. So how long starting them takes does not
/// matter.
///
/// Returns the indexes in the order the sleepers armed their timers and in
/// the order they woke, or `None` if the earliest deadline had already
/// passed when the last one armed (then some may not have armed a timer at
/// all: the run says nothing, and the caller retries with a larger margin).
fn sleepers(delays: &[i64], margin: i64) -> Option<(Vec<usize>, Vec<usize>)> {
    let (release, parked) = chmake::<()>().unwrap();
    let base = Rc::new(Cell::new(0i64));
    let armed = Rc::new(RefCell::new(Vec::new()));
    let woke = Rc::new(RefCell::new(Vec::new()));
    let b = bundle().unwrap();
    for (i, &ms) in delays.iter().enumerate() {
        let (parked, base) = (parked.clone(), base.clone());
        let (armed, woke) = (armed.clone(), woke.clone());
        b.go(move || {
            parked.recv(-1).unwrap();
            let d = base.get() + ms;
            armed.borrow_mut().push(i);
            msleep(d).unwrap();
            assert!(now() >= d, "woke {} ms early", d - now());
            woke.borrow_mut().push(i);
        })
        .unwrap();
    }
    // Every sleeper now waits on the channel.
    assert_eq!(b.len(), delays.len());
    base.set(after(margin));
    let first = base.get() + delays.iter().min().copied().unwrap_or(0);
    // An observer, released last, waits until every sleeper has armed, then
    // reads the clock: if it is still before the earliest deadline, every
    // sleeper's `msleep` found its deadline ahead and armed a timer.
    let in_time = {
        let (parked, armed, n) = (parked.clone(), armed.clone(), delays.len());
        go(move || {
            parked.recv(-1).unwrap();
            while armed.borrow().len() < n {
                yield_now().unwrap();
            }
            now() < first
        })
        .unwrap()
    };
    for _ in 0..=delays.len() {
        release.send((), -1).unwrap();
    }
    let in_time = in_time.join(-1).unwrap();
    b.wait(-1).unwrap();
    let (armed, woke) = (armed.take(), woke.take());
    assert_eq!(woke.len(), delays.len());
    in_time.then_some((armed, woke))
}

/// `sleepers` with a margin that grows until the machine was fast enough.
fn sleepers_in_time(delays: &[i64]) -> (Vec<usize>, Vec<usize>) {
    for margin in [10, 100, 1000, 10_000] {
        if let Some(r) = sleepers(delays, margin) {
            return r;
        }
    }
    panic!("could not arm {} timers within 10 s", delays.len());
}

#[test]
fn sleepers_wake_in_deadline_order() {
    let delays = [40i64, 10, 30, 0, 20, 50];
    let (_, woke) = sleepers_in_time(&delays);
    let woke: Vec<i64> = woke.iter().map(|&i| delays[i]).collect();
    assert_eq!(woke, vec![0, 10, 20, 30, 40, 50]);
}

#[test]
fn equal_deadlines_fire_in_arming_order() {
    let (armed, woke) = sleepers_in_time(&[0; 100]);
    let mut all = armed.clone();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..100).collect::<Vec<_>>(),
        "every sleeper armed once"
    );
    assert_eq!(woke, armed);
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
    // wakes after it, never before. The sleeper must really be asleep (its
    // timer armed) when the hogging starts: if its deadline had passed
    // already while it was being started (a very slow machine), it finished
    // at once and the run shows nothing, so try again with a later deadline.
    for ms in [5, 50, 500, 5000] {
        let d = after(ms);
        let h = go(move || {
            msleep(d).unwrap();
            now()
        })
        .unwrap();
        if h.is_finished() {
            continue;
        }
        let spin_until = d + 10;
        while now() < spin_until {}
        assert!(h.join(-1).unwrap() >= spin_until);
        return;
    }
    panic!("the sleeper never waited: its deadline passed before it slept, four times");
}
