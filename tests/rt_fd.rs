//! Waiting on file descriptors: readiness, timeouts, EBUSY, EBADF and
//! `fdclean` while another coroutine waits.

mod util;

use std::cell::Cell;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use dill::{fdclean, fdin, fdout, go, msleep, now, yield_now};
use util::{after, assert_errno, assert_woke_at, closed_fd, drain, errno, fill, pipe, socketpair};

#[test]
fn pipe_becomes_readable_when_written() {
    let (r, w) = pipe();
    let rfd = r.as_raw_fd();
    let h = go(move || {
        fdin(rfd, -1).unwrap();
        let mut b = [0u8; 8];
        util::read(&r, &mut b).unwrap()
    })
    .unwrap();
    assert!(!h.is_finished());
    util::write(&w, b"abc").unwrap();
    assert_eq!(h.join(after(5000)).unwrap(), 3);
}

#[test]
fn readable_already_returns_at_once() {
    let (r, w) = pipe();
    util::write(&w, b"x").unwrap();
    fdin(r.as_raw_fd(), 0).unwrap();
    fdin(r.as_raw_fd(), -1).unwrap();
    // Still readable until somebody reads: level semantics.
    fdin(r.as_raw_fd(), 0).unwrap();
    drain(&r);
    assert_errno(fdin(r.as_raw_fd(), 0), libc::ETIMEDOUT);
}

#[test]
fn writable_after_the_peer_drains() {
    let (a, b) = socketpair();
    fill(&a);
    assert_errno(fdout(a.as_raw_fd(), 0), libc::ETIMEDOUT);
    let afd = a.as_raw_fd();
    let h = go(move || fdout(afd, -1)).unwrap();
    assert!(!h.is_finished());
    drain(&b);
    h.join(after(5000)).unwrap().unwrap();
    fdout(afd, 0).unwrap();
}

#[test]
fn socketpair_both_directions_at_once() {
    let (a, b) = socketpair();
    fill(&a);
    let afd = a.as_raw_fd();
    // One coroutine waits to read a, another to write a: different
    // directions on the same fd are allowed.
    let reader = go(move || fdin(afd, -1)).unwrap();
    let writer = go(move || fdout(afd, -1)).unwrap();
    util::write(&b, b"ping").unwrap();
    reader.join(after(5000)).unwrap().unwrap();
    assert!(!writer.is_finished());
    drain(&b);
    writer.join(after(5000)).unwrap().unwrap();
}

#[test]
fn hangup_counts_as_readable() {
    let (r, w) = pipe();
    let rfd = r.as_raw_fd();
    let h = go(move || fdin(rfd, -1)).unwrap();
    drop(w);
    h.join(after(5000)).unwrap().unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(util::read(&r, &mut buf).unwrap(), 0);
}

#[test]
fn peer_close_wakes_a_writer() {
    let (a, b) = socketpair();
    fill(&a);
    let afd = a.as_raw_fd();
    let h = go(move || fdout(afd, -1)).unwrap();
    drop(b);
    h.join(after(5000)).unwrap().unwrap();
}

#[test]
fn second_waiter_same_direction_is_ebusy() {
    let (r, w) = pipe();
    let rfd = r.as_raw_fd();
    let first = go(move || fdin(rfd, -1)).unwrap();
    assert_errno(fdin(rfd, -1), libc::EBUSY);
    assert_errno(fdin(rfd, 0), libc::EBUSY);
    let second = go(move || errno(fdin(rfd, after(1000)))).unwrap();
    assert_eq!(second.join(-1).unwrap(), libc::EBUSY);
    // The write direction is independent.
    fdout(w.as_raw_fd(), 0).unwrap();
    util::write(&w, b"x").unwrap();
    first.join(after(5000)).unwrap().unwrap();
    // Free again once the first waiter is gone.
    fdin(rfd, 0).unwrap();
}

#[test]
fn second_writer_is_ebusy() {
    let (a, _b) = socketpair();
    fill(&a);
    let afd = a.as_raw_fd();
    let first = go(move || fdout(afd, -1)).unwrap();
    assert_errno(fdout(afd, 0), libc::EBUSY);
    drop(first);
    assert_errno(fdout(afd, 0), libc::ETIMEDOUT);
}

#[test]
fn ebusy_after_timed_out_waiter_is_cleared() {
    let (r, _w) = pipe();
    let rfd = r.as_raw_fd();
    let h = go(move || errno(fdin(rfd, after(10)))).unwrap();
    assert_eq!(h.join(-1).unwrap(), libc::ETIMEDOUT);
    assert_errno(fdin(rfd, after(5)), libc::ETIMEDOUT);
}

#[test]
fn bad_descriptors_are_ebadf() {
    assert_errno(fdin(-1, -1), libc::EBADF);
    assert_errno(fdout(-1, 0), libc::EBADF);
    assert_errno(fdin(-7, after(10)), libc::EBADF);
    let fd = closed_fd();
    assert_errno(fdin(fd, -1), libc::EBADF);
    assert_errno(fdout(fd, -1), libc::EBADF);
    assert_errno(fdin(RawFd::MAX, 0), libc::EBADF);
}

#[test]
fn closed_after_use_is_ebadf() {
    let (r, _w) = pipe();
    // A private high number, so no other test thread can be handed it.
    // SAFETY: duplicating a valid fd to a free number >= 5000.
    let high = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 5000) };
    assert!(high >= 5000);
    // Block on it once so the reactor knows it.
    assert_errno(fdin(high, after(2)), libc::ETIMEDOUT);
    fdclean(high);
    // SAFETY: closing the duplicate we own.
    unsafe { libc::close(high) };
    assert_errno(fdin(high, -1), libc::EBADF);
    assert_errno(fdout(high, after(10)), libc::EBADF);
}

#[test]
fn fd_wait_timeouts_never_early() {
    let (r, _w) = pipe();
    let (a, _b) = socketpair();
    fill(&a);
    for ms in [1, 7, 20] {
        let d = after(ms);
        assert_errno(fdin(r.as_raw_fd(), d), libc::ETIMEDOUT);
        assert_woke_at(d);
        let d = after(ms);
        assert_errno(fdout(a.as_raw_fd(), d), libc::ETIMEDOUT);
        assert_woke_at(d);
    }
}

#[test]
fn fdclean_fails_a_waiter_with_ebadf_then_number_is_reusable() {
    let (r, w) = pipe();
    let rfd = r.as_raw_fd();
    let res = Rc::new(Cell::new(0));
    let r2 = res.clone();
    let waiter = go(move || r2.set(errno(fdin(rfd, -1)))).unwrap();
    assert!(!waiter.is_finished());
    fdclean(rfd);
    waiter.join(after(5000)).unwrap();
    assert_eq!(res.get(), libc::EBADF);
    drop(w);
    // Keep the number: `r` is forgotten and its number reused below.
    let keep = r.into_raw_fd();
    assert_eq!(keep, rfd);

    // Give the same number to a new pipe. dup2 replaces the file behind the
    // number atomically, so no other test thread can take it in between.
    let (r2, w2) = pipe();
    // SAFETY: both are valid descriptors; `rfd` is ours (see `keep`).
    let n = unsafe { libc::dup2(r2.as_raw_fd(), rfd) };
    assert_eq!(n, rfd);
    drop(r2);
    // SAFETY: `rfd` now owns a duplicate of the new pipe's read end.
    let r3 = unsafe { OwnedFd::from_raw_fd(rfd) };
    let h = go(move || {
        fdin(rfd, -1).unwrap();
        drain(&r3)
    })
    .unwrap();
    assert!(!h.is_finished());
    util::write(&w2, b"again").unwrap();
    assert_eq!(h.join(after(5000)).unwrap(), 5);
}

#[test]
fn fdclean_wakes_both_directions() {
    let (a, _b) = socketpair();
    fill(&a);
    let afd = a.as_raw_fd();
    let rin = go(move || errno(fdin(afd, -1))).unwrap();
    let rout = go(move || errno(fdout(afd, -1))).unwrap();
    fdclean(afd);
    assert_eq!(rin.join(after(5000)).unwrap(), libc::EBADF);
    assert_eq!(rout.join(after(5000)).unwrap(), libc::EBADF);
}

#[test]
fn fdclean_of_unknown_or_negative_fd_is_harmless() {
    fdclean(-1);
    fdclean(closed_fd());
    let (r, _w) = pipe();
    fdclean(r.as_raw_fd());
    fdclean(r.as_raw_fd());
    assert_errno(fdin(r.as_raw_fd(), 0), libc::ETIMEDOUT);
}

#[test]
fn fd_reused_without_waiters_after_fdclean() {
    // Wait on a pipe so it is registered, clean and close it, then make a
    // new pipe: whatever number it gets must work.
    for _ in 0..20 {
        let (r, w) = pipe();
        let rfd = r.as_raw_fd();
        let h = go(move || fdin(rfd, -1)).unwrap();
        util::write(&w, b"x").unwrap();
        h.join(after(5000)).unwrap().unwrap();
        fdclean(rfd);
        fdclean(w.as_raw_fd());
        drop(r);
        drop(w);
    }
}

#[test]
fn regular_files_are_always_ready() {
    let f = std::fs::File::open("/proc/self/stat").unwrap();
    fdin(f.as_raw_fd(), 0).unwrap();
    fdin(f.as_raw_fd(), -1).unwrap();
    let fd = f.into_raw_fd();
    fdclean(fd);
    // SAFETY: we own `fd`.
    unsafe { libc::close(fd) };
}

#[test]
fn many_pipes_wake_the_right_waiter() {
    let pipes: Vec<_> = (0..50).map(|_| pipe()).collect();
    let woken = Rc::new(Cell::new(0));
    let mut hs = Vec::new();
    for (i, (r, _)) in pipes.iter().enumerate() {
        let rfd = r.as_raw_fd();
        let woken = woken.clone();
        hs.push(
            go(move || {
                fdin(rfd, -1).unwrap();
                woken.set(woken.get() + 1);
                i
            })
            .unwrap(),
        );
    }
    // Wake them in reverse order, one at a time.
    for (i, h) in hs.into_iter().enumerate().rev() {
        util::write(&pipes[i].1, b"x").unwrap();
        assert_eq!(h.join(after(5000)).unwrap(), i);
    }
    assert_eq!(woken.get(), 50);
    for (r, w) in &pipes {
        fdclean(r.as_raw_fd());
        fdclean(w.as_raw_fd());
    }
}

#[test]
fn fd_wake_interleaves_with_timers() {
    let (r, w) = pipe();
    let rfd = r.as_raw_fd();
    let h = go(move || {
        let t0 = now();
        fdin(rfd, -1).unwrap();
        now() - t0
    })
    .unwrap();
    let d = after(20);
    msleep(d).unwrap();
    util::write(&w, b"x").unwrap();
    yield_now().unwrap();
    let waited = h.join(after(5000)).unwrap();
    assert!(waited >= 19);
}
