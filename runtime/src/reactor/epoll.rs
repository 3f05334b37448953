//! epoll backend: one edge-triggered registration per fd covering both
//! directions.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const MAX_EVENTS: usize = 256;

pub(crate) struct Poller {
    epfd: OwnedFd,
    events: Box<[libc::epoll_event; MAX_EVENTS]>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").field("epfd", &self.epfd).finish()
    }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Poller {
            epfd,
            events: Box::new([libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS]),
        })
    }

    pub(crate) fn add(&self, fd: RawFd) -> io::Result<()> {
        // A closed fd's number may have been reused by this epoll instance,
        // created for this very registration: it is not the caller's fd
        // either (and epoll would say EINVAL).
        if fd == self.epfd.as_raw_fd() {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: fd as u64,
        };
        // SAFETY: `ev` is a valid epoll_event; the kernel validates `fd`.
        let r = unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Adds `fd` with `EPOLLEXCLUSIVE`: when several epoll instances (one
    /// per thread) hold the same socket, a readiness event wakes one of
    /// those blocked in `epoll_wait`, not all of them. The kernel refuses
    /// `EPOLLRDHUP` with it; listening sockets, its users, have no use for
    /// it.
    pub(crate) fn add_exclusive(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET | libc::EPOLLEXCLUSIVE) as u32,
            u64: fd as u64,
        };
        // SAFETY: `ev` is a valid epoll_event; the kernel validates `fd`.
        let r = unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn delete(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as above; failure (fd already closed) is harmless.
        unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    pub(crate) fn wait(&mut self, timeout_ms: i32) -> usize {
        // SAFETY: the buffer holds MAX_EVENTS events.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                MAX_EVENTS as i32,
                timeout_ms,
            )
        };
        // EINTR (or anything else) just means no events this time.
        n.max(0) as usize
    }

    #[inline]
    pub(crate) fn event(&self, i: usize) -> (RawFd, bool, bool) {
        let e = self.events[i];
        let bits = e.events as i32;
        let fail = bits & (libc::EPOLLHUP | libc::EPOLLERR) != 0;
        let readable = fail || bits & (libc::EPOLLIN | libc::EPOLLRDHUP) != 0;
        let writable = fail || bits & libc::EPOLLOUT != 0;
        (e.u64 as RawFd, readable, writable)
    }
}
