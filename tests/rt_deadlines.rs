//! Deadlines: `-1` blocks, `0` and past deadlines never block, other
//! negative values are `EINVAL`; `now()` is a monotonic millisecond clock.

mod util;

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use dill::{bundle, fdin, fdout, go, msleep, now};
use util::{after, assert_errno, assert_woke_at, pipe};

const BAD_DEADLINES: [i64; 4] = [-2, -3, -1000, i64::MIN];

#[test]
fn now_is_monotonic_and_in_milliseconds() {
    let start = now();
    assert!(start > 0);
    let mut prev = start;
    // Spin until the clock has ticked a few times; it must never go back
    // and must move in steps of whole milliseconds.
    while prev < start + 5 {
        let t = now();
        assert!(t >= prev, "clock went backwards: {prev} -> {t}");
        prev = t;
    }
    let wall = std::time::Instant::now();
    let d = after(20);
    msleep(d).unwrap();
    assert_woke_at(d);
    let elapsed = wall.elapsed().as_millis() as i64;
    // Millisecond resolution: the reading truncates to whole milliseconds
    // and may lag the clock by a fraction of one, so at least 18 ms of real
    // time went by.
    assert!(elapsed >= 18, "slept only {elapsed} ms");
}

#[test]
fn now_agrees_with_clock_monotonic() {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let before = now();
    // SAFETY: `ts` is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let after = now();
    let ms = ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000;
    // now() may lag the clock by a fraction of a millisecond (it can reuse
    // a recent reading), but never lead it.
    assert!(
        before <= ms && ms <= after + 1,
        "{before} <= {ms} <= {after} + 1"
    );
}

#[test]
fn msleep_rejects_bad_deadlines() {
    for d in BAD_DEADLINES {
        assert_errno(msleep(d), libc::EINVAL);
    }
}

#[test]
fn fdin_fdout_reject_bad_deadlines() {
    let (r, w) = pipe();
    for d in BAD_DEADLINES {
        assert_errno(fdin(r.as_raw_fd(), d), libc::EINVAL);
        assert_errno(fdout(w.as_raw_fd(), d), libc::EINVAL);
    }
}

#[test]
fn join_rejects_bad_deadlines_and_cancels() {
    for d in BAD_DEADLINES {
        let seen = Rc::new(Cell::new(0));
        let seen2 = seen.clone();
        let h = go(move || seen2.set(util::errno(msleep(-1)))).unwrap();
        assert_errno(h.join(d), libc::EINVAL);
        // The child was cancelled and had returned before join did.
        assert_eq!(seen.get(), libc::ECANCELED);
    }
    let h = go(|| 7).unwrap();
    assert_errno(h.join(-5), libc::EINVAL);
}

#[test]
fn bundle_wait_rejects_bad_deadlines() {
    let b = bundle().unwrap();
    b.go(|| {
        let _ = msleep(-1);
    })
    .unwrap();
    for d in BAD_DEADLINES {
        assert_errno(b.wait(d), libc::EINVAL);
    }
    // Even an empty bundle checks its argument.
    let empty = bundle().unwrap();
    assert_errno(empty.wait(-2), libc::EINVAL);
}

#[test]
fn msleep_zero_and_past_return_at_once() {
    let t0 = now();
    msleep(0).unwrap();
    msleep(1).unwrap();
    msleep(t0 - 1000).unwrap();
    msleep(now()).unwrap();
    assert!(now() - t0 < util::SLACK_MS, "took {} ms", now() - t0);
}

#[test]
fn msleep_never_wakes_early() {
    for ms in [1, 2, 5, 13, 30] {
        let d = after(ms);
        msleep(d).unwrap();
        assert_woke_at(d);
    }
}

#[test]
fn msleep_in_coroutine_never_wakes_early() {
    let hs: Vec<_> = [3i64, 1, 17, 9, 25]
        .into_iter()
        .map(|ms| {
            go(move || {
                let d = after(ms);
                msleep(d).unwrap();
                assert!(now() >= d);
                now() - d
            })
            .unwrap()
        })
        .collect();
    for h in hs {
        let late = h.join(-1).unwrap();
        assert!(late < util::SLACK_MS);
    }
}

#[test]
fn zero_and_past_deadlines_do_not_block_fd_waits() {
    let (r, w) = pipe();
    // Nothing to read: fail at once.
    let t0 = now();
    assert_errno(fdin(r.as_raw_fd(), 0), libc::ETIMEDOUT);
    assert_errno(fdin(r.as_raw_fd(), t0 - 10), libc::ETIMEDOUT);
    // An empty pipe is writable: succeed at once.
    fdout(w.as_raw_fd(), 0).unwrap();
    fdout(w.as_raw_fd(), t0 - 10).unwrap();
    assert!(now() - t0 < util::SLACK_MS, "took {} ms", now() - t0);
}

#[test]
fn fd_wait_times_out_at_deadline() {
    let (r, _w) = pipe();
    let d = after(30);
    assert_errno(fdin(r.as_raw_fd(), d), libc::ETIMEDOUT);
    assert_woke_at(d);
}

#[test]
fn join_zero_and_past_deadlines() {
    // Unfinished: ETIMEDOUT at once, child cancelled and waited for.
    let h = go(|| msleep(-1)).unwrap();
    let t0 = now();
    assert_errno(h.join(0), libc::ETIMEDOUT);
    let h = go(|| msleep(-1)).unwrap();
    assert_errno(h.join(t0 - 1), libc::ETIMEDOUT);
    assert!(now() - t0 < util::SLACK_MS, "took {} ms", now() - t0);
    // Finished already: deadline 0 gives the value.
    let h = go(|| 42).unwrap();
    assert!(h.is_finished());
    assert_eq!(h.join(0).unwrap(), 42);
    let h = go(|| "done").unwrap();
    assert_eq!(h.join(now() - 100).unwrap(), "done");
}

#[test]
fn join_with_deadline_never_early() {
    let h = go(|| msleep(-1)).unwrap();
    let d = after(25);
    assert_errno(h.join(d), libc::ETIMEDOUT);
    assert_woke_at(d);
}

#[test]
fn bundle_wait_zero_past_and_timeout() {
    let b = bundle().unwrap();
    // An empty bundle is done at once, whatever the deadline.
    b.wait(0).unwrap();
    b.wait(1).unwrap();
    b.go(|| {
        let _ = msleep(-1);
    })
    .unwrap();
    assert_errno(b.wait(0), libc::ETIMEDOUT);
    assert_errno(b.wait(1), libc::ETIMEDOUT);
    let d = after(20);
    assert_errno(b.wait(d), libc::ETIMEDOUT);
    assert_woke_at(d);
    // The member kept running through the timeouts.
    assert_eq!(b.len(), 1);
}

#[test]
fn minus_one_blocks_until_the_event() {
    let (r, w) = pipe();
    let reader = go(move || {
        fdin(r.as_raw_fd(), -1).unwrap();
        now()
    })
    .unwrap();
    let d = after(15);
    msleep(d).unwrap();
    assert!(!reader.is_finished());
    util::write(&w, b"x").unwrap();
    let woke = reader.join(-1).unwrap();
    assert!(woke >= d);
}
