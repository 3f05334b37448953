//! kqueue backend (macOS and the BSDs): read and write filters registered
//! together, edge-triggered (`EV_CLEAR`), like the epoll backend.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

const MAX_EVENTS: usize = 256;

pub(crate) struct Poller {
    kq: OwnedFd,
    events: Box<[libc::kevent; MAX_EVENTS]>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").field("kq", &self.kq).finish()
    }
}

/// A change record for `fd`'s `filter`.
fn change(fd: RawFd, filter: i16, flags: u16) -> libc::kevent {
    // SAFETY: kevent is plain data; all-zero is a valid value.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = fd as libc::uintptr_t;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::kqueue() };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let kq = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: setting FD_CLOEXEC on our own descriptor.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as in `change`.
        let zero: libc::kevent = unsafe { std::mem::zeroed() };
        Ok(Poller {
            kq,
            events: Box::new([zero; MAX_EVENTS]),
        })
    }

    fn apply(&self, changes: &[libc::kevent]) -> io::Result<()> {
        // SAFETY: `changes` is a valid array of change records; no events
        // are requested back.
        let r = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                changes.as_ptr(),
                changes.len() as _,
                ptr::null_mut(),
                0,
                ptr::null(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub(crate) fn add(&self, fd: RawFd) -> io::Result<()> {
        // A closed fd's number may have been reused by this kqueue, created
        // for this very registration: it is not the caller's fd either.
        if fd == self.kq.as_raw_fd() {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let flags = (libc::EV_ADD | libc::EV_CLEAR) as u16;
        self.apply(&[
            change(fd, libc::EVFILT_READ as i16, flags),
            change(fd, libc::EVFILT_WRITE as i16, flags),
        ])
    }

    /// kqueue has no exclusive wake-up: a plain registration (every thread
    /// holding the socket is woken).
    pub(crate) fn add_exclusive(&self, fd: RawFd) -> io::Result<()> {
        self.add(fd)
    }

    pub(crate) fn delete(&self, fd: RawFd) {
        let flags = libc::EV_DELETE as u16;
        // Failure (fd already closed, which drops its filters) is harmless.
        let _ = self.apply(&[change(fd, libc::EVFILT_READ as i16, flags)]);
        let _ = self.apply(&[change(fd, libc::EVFILT_WRITE as i16, flags)]);
    }

    pub(crate) fn wait(&mut self, timeout_ms: i32) -> usize {
        let ts = libc::timespec {
            tv_sec: (timeout_ms.max(0) / 1000) as _,
            tv_nsec: ((timeout_ms.max(0) % 1000) as i64 * 1_000_000) as _,
        };
        let tsp = if timeout_ms < 0 {
            ptr::null()
        } else {
            &ts as *const libc::timespec
        };
        // SAFETY: the buffer holds MAX_EVENTS records; `tsp` is null or
        // points to `ts`, which outlives the call.
        let n = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                ptr::null(),
                0,
                self.events.as_mut_ptr(),
                MAX_EVENTS as _,
                tsp,
            )
        };
        // EINTR (or anything else) just means no events this time.
        n.max(0) as usize
    }

    #[inline]
    pub(crate) fn event(&self, i: usize) -> (RawFd, bool, bool) {
        let e = &self.events[i];
        let fail = e.flags as u32 & libc::EV_ERROR as u32 != 0;
        let readable = fail || e.filter as i32 == libc::EVFILT_READ as i32;
        let writable = fail || e.filter as i32 == libc::EVFILT_WRITE as i32;
        (e.ident as RawFd, readable, writable)
    }
}
