//! Fairness: coroutines that never block (they only yield) cannot starve
//! timers or fd wake-ups in other coroutines.

mod util;

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use dill::{fdin, go, msleep, now, yield_now};
use util::{after, assert_woke_at, pipe};

/// A coroutine that yields until cancelled, counting its turns.
fn spinner(turns: Rc<Cell<u64>>) -> dill::Coroutine<()> {
    go(move || {
        while yield_now().is_ok() {
            turns.set(turns.get() + 1);
        }
    })
    .unwrap()
}

#[test]
fn yielding_loop_does_not_starve_a_timer() {
    let turns = Rc::new(Cell::new(0));
    let s = spinner(turns.clone());
    // The sleeper takes its deadline itself, right before it sleeps, and
    // counts the spinner's turns while it sleeps. If none were taken, the
    // deadline had passed before the timer was armed (a very slow machine)
    // and the run showed nothing: try again with a longer sleep.
    for ms in [20, 200, 2000] {
        let t = turns.clone();
        let sleeper = go(move || {
            let before = t.get();
            let d = after(ms);
            msleep(d).unwrap();
            (d, now(), t.get() - before)
        })
        .unwrap();
        let (d, woke, spins) = sleeper.join(-1).unwrap();
        assert!(woke >= d);
        assert!(
            woke < d + util::SLACK_MS,
            "timer starved for {} ms",
            woke - d
        );
        if spins > 0 {
            drop(s);
            return;
        }
    }
    panic!("the sleeper never waited: its deadline passed before it slept, three times");
}

#[test]
fn yielding_loop_does_not_starve_the_root_timer() {
    let turns = Rc::new(Cell::new(0));
    let s1 = spinner(turns.clone());
    let s2 = spinner(turns.clone());
    let d = after(20);
    msleep(d).unwrap();
    assert_woke_at(d);
    assert!(turns.get() > 0);
    drop(s1);
    drop(s2);
}

#[test]
fn yielding_loop_does_not_starve_an_fd_wakeup() {
    let turns = Rc::new(Cell::new(0));
    let s = spinner(turns.clone());
    let (r, w) = pipe();
    let rfd = r.as_raw_fd();
    let reader = go(move || {
        fdin(rfd, -1).unwrap();
        now()
    })
    .unwrap();
    // A writer coroutine that sleeps (through the timer heap) and then
    // makes the pipe readable while the spinner keeps spinning.
    let writer = go(move || {
        msleep(after(10)).unwrap();
        util::write(&w, b"x").unwrap();
        now()
    })
    .unwrap();
    let wrote = writer.join(-1).unwrap();
    let read = reader.join(-1).unwrap();
    assert!(read >= wrote);
    assert!(read - wrote < util::SLACK_MS);
    drop(s);
    drop(r);
}

#[test]
fn fd_wakeup_from_another_thread_reaches_a_busy_scheduler() {
    let turns = Rc::new(Cell::new(0));
    let s = spinner(turns.clone());
    let (r, w) = pipe();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(10));
        // Stamp before writing: the reader cannot wake before the write, so
        // its stamp is never earlier, however late this thread runs again.
        let wrote = now();
        util::write(&w, b"x").unwrap();
        wrote
    });
    let rfd = r.as_raw_fd();
    let reader = go(move || {
        fdin(rfd, -1).unwrap();
        now()
    })
    .unwrap();
    let read = reader.join(-1).unwrap();
    let wrote = t.join().unwrap();
    assert!(read >= wrote);
    assert!(read - wrote < util::SLACK_MS);
    drop(s);
}

#[test]
fn yielders_take_turns() {
    let a = Rc::new(Cell::new(0u64));
    let b = Rc::new(Cell::new(0u64));
    let ha = spinner(a.clone());
    let hb = spinner(b.clone());
    for _ in 0..1000 {
        yield_now().unwrap();
    }
    // Round robin: neither runs far ahead of the other.
    assert!(a.get().abs_diff(b.get()) <= 2, "{} vs {}", a.get(), b.get());
    assert!(a.get() >= 999);
    drop(ha);
    drop(hb);
}
