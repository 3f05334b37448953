//! Waiting for file descriptors: `fdin`, `fdout`, their edge-triggered
//! variants for I/O layers, and `fdclean`.

use std::io;
use std::os::fd::RawFd;

use crate::error::{errno, wait_result};
use crate::inspect::Wait;
use crate::reactor::Dir;
use crate::sched::{s, wait_on, NONE};
use crate::time;

/// Waits until `fd` is readable (or has an error or hang-up pending, so a
/// read would not block).
///
/// # Errors
///
/// * `EINVAL`: `deadline` is negative other than `-1`.
/// * `ECANCELED`: the calling coroutine is being cancelled.
/// * `EBADF`: `fd` is not an open descriptor, or it was [`fdclean`]ed while
///   waiting.
/// * `EBUSY`: another coroutine already waits for `fd` to become readable.
/// * `ETIMEDOUT`: the deadline passed first.
#[doc = include_str!("../../docs/fdin.md")]
pub fn fdin(fd: RawFd, deadline: i64) -> io::Result<()> {
    level_wait(fd, Dir::In, deadline)
}

/// Waits until `fd` is writable (or has an error or hang-up pending, so a
/// write would not block).
///
/// # Errors
///
/// Same as [`fdin`], for the writing direction.
#[doc = include_str!("../../docs/fdout.md")]
pub fn fdout(fd: RawFd, deadline: i64) -> io::Result<()> {
    level_wait(fd, Dir::Out, deadline)
}

/// Waits for the next readiness *edge* of `fd` for reading.
///
/// Unlike [`fdin`] this does not check whether `fd` is readable already: it
/// is for I/O layers that have just seen a non-blocking call fail with
/// `EAGAIN`, and saves a `poll` system call per wait. It may return without
/// the fd being readable (retry the call and wait again on `EAGAIN`).
///
/// # Errors
///
/// As [`fdin`].
pub fn fdin_edge(fd: RawFd, deadline: i64) -> io::Result<()> {
    edge_wait(fd, Dir::In, deadline)
}

/// Waits for the next readiness edge of `fd` for writing; see
/// [`fdin_edge`].
///
/// # Errors
///
/// As [`fdout`].
pub fn fdout_edge(fd: RawFd, deadline: i64) -> io::Result<()> {
    edge_wait(fd, Dir::Out, deadline)
}

/// Waits for the next readiness edge of `fd` for reading, where `fd` is a
/// listening socket that other threads wait on too: one incoming connection
/// wakes one waiting thread, not all of them.
///
/// As [`fdin_edge`] (no readiness pre-check: call it after `accept` said
/// `EAGAIN`), but the first wait registers `fd` with `EPOLLEXCLUSIVE`, and
/// the registration stays so until [`fdclean`]. On kqueue systems it is a
/// plain [`fdin_edge`].
///
/// # Errors
///
/// As [`fdin`].
#[doc = include_str!("../../docs/fdin_exclusive.md")]
pub fn fdin_exclusive(fd: RawFd, deadline: i64) -> io::Result<()> {
    precheck(fd, Dir::In, deadline)?;
    block_with(fd, Dir::In, deadline, true)
}

/// Forgets everything the scheduler knows about `fd`: removes it from the
/// reactor and fails any coroutine waiting on it with `EBADF`.
///
/// Call it before closing a descriptor that has been waited on, since the
/// number may be reused by the next `open`. Calling it for an unknown
/// descriptor does nothing.
#[doc = include_str!("../../docs/fdclean.md")]
pub fn fdclean(fd: RawFd) {
    if fd < 0 {
        return;
    }
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    for w in s.reactor.clean(fd) {
        if w != NONE {
            s.trigger(w, -libc::EBADF);
        }
    }
}

/// Wakes the coroutine of this thread that waits for `fd` to become
/// readable (in [`fdin`] or [`fdin_edge`]), if there is one, as if the reactor
/// had reported the fd readable.
///
/// For I/O layers that know they have just made `fd` readable without the
/// kernel's help being needed to learn it: after writing into the other end
/// of a socket pair whose both ends live on this thread, waking the reader
/// directly saves an `epoll_wait` per message. A wake-up that turns out to be
/// spurious is harmless: [`fdin`] checks readiness again and [`fdin_edge`]
/// callers retry their call anyway.
pub fn fdwake_in(fd: RawFd) {
    wake(fd, Dir::In);
}

/// Wakes the coroutine of this thread that waits for `fd` to become
/// writable, if there is one; see [`fdwake_in`].
pub fn fdwake_out(fd: RawFd) {
    wake(fd, Dir::Out);
}

#[inline]
fn wake(fd: RawFd, dir: Dir) {
    if fd < 0 {
        return;
    }
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    if dir == Dir::In {
        s.reactor.set_readable(fd);
    }
    let w = s.reactor.waiter(fd, dir);
    if w != NONE {
        s.trigger(w, 0);
    }
}

fn precheck(fd: RawFd, dir: Dir, deadline: i64) -> io::Result<()> {
    time::check(deadline)?;
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    if s.cancelled() {
        return Err(errno(libc::ECANCELED));
    }
    if fd < 0 {
        return Err(errno(libc::EBADF));
    }
    if s.reactor.waiter(fd, dir) != NONE {
        return Err(errno(libc::EBUSY));
    }
    Ok(())
}

/// Is `fd` ready in `dir` right now? `EBADF` if it is not open.
fn ready_now(fd: RawFd, dir: Dir) -> io::Result<bool> {
    let events = match dir {
        Dir::In => libc::POLLIN,
        Dir::Out => libc::POLLOUT,
    };
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, zero timeout.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        if r >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    if p.revents & libc::POLLNVAL != 0 {
        return Err(errno(libc::EBADF));
    }
    Ok(p.revents != 0)
}

fn level_wait(fd: RawFd, dir: Dir, deadline: i64) -> io::Result<()> {
    precheck(fd, dir, deadline)?;
    while !ready_now(fd, dir)? {
        match block(fd, dir, deadline) {
            // A file the backend cannot watch (a regular file) never blocks.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Ok(()),
            r => r?,
        }
    }
    Ok(())
}

fn edge_wait(fd: RawFd, dir: Dir, deadline: i64) -> io::Result<()> {
    precheck(fd, dir, deadline)?;
    block(fd, dir, deadline)
}

fn block(fd: RawFd, dir: Dir, deadline: i64) -> io::Result<()> {
    block_with(fd, dir, deadline, false)
}

fn block_with(fd: RawFd, dir: Dir, deadline: i64, exclusive: bool) -> io::Result<()> {
    // Registering first makes a closed fd EBADF whatever the deadline (as in
    // libdill); an fd waited on before is registered already, so this costs
    // no system call.
    let cur = {
        // SAFETY: no switch inside this block.
        let s = unsafe { s() };
        let cur = s.current;
        if exclusive {
            s.reactor.register_exclusive(fd, dir, cur)?;
        } else {
            s.reactor.register(fd, dir, cur)?;
        }
        if time::expired(deadline) {
            s.reactor.unregister(fd, dir, cur);
            return Err(errno(libc::ETIMEDOUT));
        }
        cur
    };
    let what = match dir {
        Dir::In => Wait::FdIn(fd),
        Dir::Out => Wait::FdOut(fd),
    };
    let r = wait_on(what, deadline, true);
    // SAFETY: no switch while the reference lives.
    unsafe { s() }.reactor.unregister(fd, dir, cur);
    wait_result(r).map(drop)
}

/// Whether a receive on `fd` is worth trying now: false only when an I/O
/// layer has recorded with [`fd_drained`] that its receive queue was empty
/// and no readable event has come since, and the caller could wait (its
/// deadline has not passed and it is not cancelled; otherwise it must try
/// the receive, since it may not wait for the event).
#[inline]
pub(crate) fn fd_maybe_readable(fd: RawFd, deadline: i64) -> bool {
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    s.reactor.maybe_readable(fd)
        || deadline == 0
        || s.cancelled()
        || (deadline > 0 && time::expired(deadline))
}

/// Records that a receive has just emptied `fd`'s receive queue (see
/// [`fd_maybe_readable`]).
#[inline]
pub(crate) fn fd_drained(fd: RawFd) {
    // SAFETY: no switch while the reference lives.
    unsafe { s() }.reactor.set_drained(fd);
}
