//! Hundreds of thousands of live coroutines on one thread (far past the old
//! limit of about 32k stacks), parked in every kind of wait at once:
//! channel receive, `msleep` (with and without a deadline), `fdin` and
//! `join`; then all woken and finished.
//!
//! `DILL_SCALE_N` sets the population: 200,000 by default, 10,000 under
//! valgrind or AddressSanitizer (which make every operation many times
//! slower).

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;

use dill::{chmake, fdin, go, msleep, now, Coroutine};

fn population() -> usize {
    std::env::var("DILL_SCALE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if memory_tool().is_some() {
            10_000
        } else {
            200_000
        })
}

/// The memory checker this test runs under, if any: valgrind (its preload
/// library is in `LD_PRELOAD`) or AddressSanitizer (on x86-64 its shadow
/// memory leaves an inaccessible gap at 0x8fff7000..0x2008fff7000).
fn memory_tool() -> Option<&'static str> {
    let preload = std::env::var("LD_PRELOAD").unwrap_or_default();
    if preload.contains("vgpreload") {
        return Some("valgrind");
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    if cfg!(target_arch = "x86_64") && maps.lines().any(|l| l.starts_with("8fff7000-2008fff7000 "))
    {
        return Some("AddressSanitizer");
    }
    None
}

fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) },
        0
    );
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

#[test]
fn many_live_coroutines_in_every_kind_of_wait() {
    let n = population();
    let started = Instant::now();
    let done = Rc::new(Cell::new(0usize));
    let fd_waiters = 256.min(n / 8);
    let quarter = (n - fd_waiters) / 4;

    // Channel receivers, all on one channel.
    let (tx, rx) = chmake::<usize>().unwrap();
    let mut receivers: Vec<Coroutine<usize>> = Vec::with_capacity(quarter);
    for _ in 0..quarter {
        let rx = rx.clone();
        let d = done.clone();
        receivers.push(
            go(move || {
                let v = rx.recv(-1).unwrap();
                d.set(d.get() + 1);
                v
            })
            .unwrap(),
        );
    }
    // Sleepers with a deadline far away (the timer heap holds them all).
    let far = now() + 3_600_000;
    let mut sleepers: Vec<Coroutine<()>> = Vec::with_capacity(quarter);
    for _ in 0..quarter {
        let d = done.clone();
        sleepers.push(
            go(move || {
                assert!(msleep(far).is_err(), "woke before the deadline");
                d.set(d.get() + 1);
            })
            .unwrap(),
        );
    }
    // Joiners, each waiting for a child parked in a receive of its own
    // channel direction.
    let (ctx, crx) = chmake::<()>().unwrap();
    let mut joiners: Vec<Coroutine<()>> = Vec::with_capacity(quarter / 2);
    for _ in 0..quarter / 2 {
        let crx = crx.clone();
        let d = done.clone();
        let child = go(move || crx.recv(-1).unwrap()).unwrap();
        joiners.push(
            go(move || {
                child.join(-1).unwrap();
                d.set(d.get() + 1);
            })
            .unwrap(),
        );
    }
    // Sleepers without a deadline, until cancelled.
    let rest = n - fd_waiters - quarter * 2 - (quarter / 2) * 2;
    let mut idle: Vec<Coroutine<()>> = Vec::with_capacity(rest);
    for _ in 0..rest {
        idle.push(go(|| assert!(msleep(-1).is_err())).unwrap());
    }
    // fd waiters, one per pipe.
    let pipes: Vec<_> = (0..fd_waiters).map(|_| pipe()).collect();
    let mut readers: Vec<Coroutine<()>> = Vec::with_capacity(fd_waiters);
    for (r, _) in &pipes {
        let fd = r.as_raw_fd();
        let d = done.clone();
        readers.push(
            go(move || {
                fdin(fd, -1).unwrap();
                d.set(d.get() + 1);
            })
            .unwrap(),
        );
    }
    let live = receivers.len() + sleepers.len() + joiners.len() * 2 + idle.len() + readers.len();
    assert_eq!(live, n);
    let spawned = started.elapsed();
    assert_eq!(done.get(), 0, "a coroutine finished early");

    // The scheduler still answers promptly with all of them parked.
    let d = now() + 2;
    msleep(d).unwrap();
    assert!(now() >= d);

    // Wake everything, each kind by its own event.
    for i in 0..receivers.len() {
        tx.send(i, -1).unwrap();
    }
    for (i, h) in receivers.into_iter().enumerate() {
        // FIFO: the i-th receiver to block got the i-th value.
        assert_eq!(h.join(-1).unwrap(), i);
    }
    for _ in 0..joiners.len() {
        ctx.send((), -1).unwrap();
    }
    for h in joiners {
        h.join(-1).unwrap();
    }
    for (_, w) in &pipes {
        // SAFETY: writing one byte from a valid buffer to an owned pipe.
        assert_eq!(
            unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) },
            1
        );
    }
    for h in readers {
        h.join(-1).unwrap();
    }
    // Cancellation wakes the sleepers (their timers are withdrawn).
    drop(sleepers);
    drop(idle);
    assert_eq!(done.get(), quarter * 2 + quarter / 2 + fd_waiters);
    println!(
        "{n} live coroutines: spawned in {spawned:?}, all done in {:?}",
        started.elapsed()
    );
}
