//! The reactor: which task waits on which fd, in which direction, over an OS
//! readiness backend chosen by `cfg`: epoll on Linux (`epoll.rs`), kqueue
//! on macOS and the BSDs (`kqueue.rs`). A backend is a `Poller` with `new`,
//! `add` (both directions, edge-triggered), `delete`, `wait` and `event`.
//!
//! An fd is registered with the backend the first time a task has to wait on
//! it, for both directions at once and edge-triggered, and stays registered
//! until [`fdclean`](crate::fdclean) (which every fd-owning type calls before
//! closing). A stream used over and over therefore costs no registration
//! system call after its first wait.
//!
//! Invariant: an fd is removed from the reactor before it is closed.
//!
//! The backend's own descriptor (the epoll fd) exists only while at least
//! one fd is registered: it is created by the first registration and closed
//! when `fdclean` removes the last one. A program that has closed all its
//! dill descriptors therefore holds no descriptor of the reactor's either,
//! and counting `/proc/self/fd` before and after shows no difference.

use std::io;
use std::os::fd::RawFd;

use crate::sched::NONE;

// One backend per platform family, as `backend::Poller`.
#[cfg_attr(any(target_os = "linux", target_os = "android"), path = "epoll.rs")]
#[cfg_attr(
    any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ),
    path = "kqueue.rs"
)]
mod backend;
use backend::Poller;

/// Direction of a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Readable.
    In = 0,
    /// Writable.
    Out = 1,
}

#[derive(Clone, Copy, Debug)]
struct FdSlot {
    registered: bool,
    /// Registered for exclusive wake-ups (see [`Reactor::register_exclusive`]).
    exclusive: bool,
    /// False once an I/O layer has learnt that the fd's receive queue is
    /// empty ([`Reactor::set_drained`]); true again at the next readable
    /// event (or [`fdwake_in`](crate::fdwake_in)). True when unknown.
    maybe_readable: bool,
    waiter: [usize; 2],
}

const EMPTY: FdSlot = FdSlot {
    registered: false,
    exclusive: false,
    maybe_readable: true,
    waiter: [NONE, NONE],
};

/// Per-thread reactor state.
#[derive(Debug)]
pub(crate) struct Reactor {
    poller: Option<Poller>,
    fds: Vec<FdSlot>,
    /// How many fds are registered with the backend.
    registered: usize,
}

impl Reactor {
    pub(crate) fn new() -> Reactor {
        Reactor {
            poller: None,
            fds: Vec::new(),
            registered: 0,
        }
    }

    /// The task waiting on `fd` in `dir`, or `NONE`.
    #[inline]
    pub(crate) fn waiter(&self, fd: RawFd, dir: Dir) -> usize {
        self.fds
            .get(fd as usize)
            .map_or(NONE, |s| s.waiter[dir as usize])
    }

    /// Readers and writers waiting on `fd`.
    #[inline]
    pub(crate) fn waiters(&self, fd: RawFd) -> (usize, usize) {
        self.fds
            .get(fd as usize)
            .map_or((NONE, NONE), |s| (s.waiter[0], s.waiter[1]))
    }

    /// Whether `fd` may have bytes to read: false only between an I/O
    /// layer's [`set_drained`](Self::set_drained) and the next readable
    /// event for it. Always true for an fd not registered (no events come
    /// for it, so nothing can say it became readable).
    #[inline]
    pub(crate) fn maybe_readable(&self, fd: RawFd) -> bool {
        self.fds
            .get(fd as usize)
            .is_none_or(|s| !s.registered || s.maybe_readable)
    }

    /// Records that `fd`'s receive queue is empty now (a receive just
    /// emptied it): until the next readable event, a reader may wait for
    /// that event instead of trying a receive that can only say `EAGAIN`.
    /// Only for registered fds: events are edge-triggered, so every byte
    /// that arrives after this is announced by one.
    #[inline]
    pub(crate) fn set_drained(&mut self, fd: RawFd) {
        if let Some(s) = self.fds.get_mut(fd as usize) {
            if s.registered {
                s.maybe_readable = false;
            }
        }
    }

    /// A readable event (or a same-thread writer's wake-up) for `fd`.
    #[inline]
    pub(crate) fn set_readable(&mut self, fd: RawFd) {
        if let Some(s) = self.fds.get_mut(fd as usize) {
            s.maybe_readable = true;
        }
    }

    /// Registers `task` as the waiter on `fd` in `dir`, adding the fd to the
    /// backend if this is its first wait. The caller has checked the slot is
    /// free and `fd >= 0`.
    ///
    /// The table grows only after the backend has accepted the fd, so a
    /// closed fd (`EBADF` from the backend), however large its number, costs
    /// no memory: the table never outgrows the process's open fds.
    pub(crate) fn register(&mut self, fd: RawFd, dir: Dir, task: usize) -> io::Result<()> {
        self.register_with(fd, dir, task, false)
    }

    /// As [`register`](Self::register), but the fd is registered so that one
    /// readiness event wakes only one of the threads whose reactors hold it
    /// (`EPOLLEXCLUSIVE`; where the backend has no such thing, a plain
    /// registration). For listening sockets shared by several threads. An fd
    /// registered normally before is registered again, exclusively; an
    /// exclusive registration serves later normal waits as it is.
    pub(crate) fn register_exclusive(
        &mut self,
        fd: RawFd,
        dir: Dir,
        task: usize,
    ) -> io::Result<()> {
        self.register_with(fd, dir, task, true)
    }

    fn register_with(
        &mut self,
        fd: RawFd,
        dir: Dir,
        task: usize,
        exclusive: bool,
    ) -> io::Result<()> {
        let i = fd as usize;
        if exclusive
            && self
                .fds
                .get(i)
                .is_some_and(|s| s.registered && !s.exclusive)
        {
            // EPOLLEXCLUSIVE can only be given when the fd is added.
            if let Some(p) = &self.poller {
                p.delete(fd);
            }
            self.fds[i].registered = false;
            self.registered -= 1;
        }
        if !self.fds.get(i).is_some_and(|s| s.registered) {
            if self.poller.is_none() {
                self.poller = Some(Poller::new()?);
            }
            let p = self.poller.as_ref().expect("poller");
            let res = if exclusive {
                p.add_exclusive(fd)
            } else {
                p.add(fd)
            };
            if let Err(e) = res {
                if self.registered == 0 {
                    self.poller = None;
                }
                return Err(e);
            }
            if i >= self.fds.len() {
                self.fds.resize(i + 1, EMPTY);
            }
            self.fds[i].registered = true;
            self.fds[i].exclusive = exclusive;
            self.registered += 1;
        }
        self.fds[i].waiter[dir as usize] = task;
        Ok(())
    }

    /// How many fds are registered with the backend.
    pub(crate) fn registered(&self) -> usize {
        self.registered
    }

    /// Withdraws `task` from `fd`'s `dir` slot if it is still there.
    #[inline]
    pub(crate) fn unregister(&mut self, fd: RawFd, dir: Dir, task: usize) {
        if let Some(s) = self.fds.get_mut(fd as usize) {
            if s.waiter[dir as usize] == task {
                s.waiter[dir as usize] = NONE;
            }
        }
    }

    /// Forgets `fd`: removes it from the backend and returns the tasks that
    /// were waiting on it (to be failed with EBADF).
    pub(crate) fn clean(&mut self, fd: RawFd) -> [usize; 2] {
        let Some(s) = self.fds.get_mut(fd as usize) else {
            return [NONE, NONE];
        };
        let waiters = s.waiter;
        let was_registered = s.registered;
        *s = EMPTY;
        if was_registered {
            self.registered -= 1;
            if self.registered == 0 {
                // Closing the backend drops every registration with it.
                self.poller = None;
            } else if let Some(p) = &self.poller {
                p.delete(fd);
            }
        }
        waiters
    }

    /// Waits up to `timeout_ms` (-1: forever) for events; returns how many
    /// arrived. Without a backend yet, just sleeps.
    pub(crate) fn wait(&mut self, timeout_ms: i32) -> usize {
        match &mut self.poller {
            Some(p) => p.wait(timeout_ms),
            None => {
                if timeout_ms != 0 {
                    // SAFETY: poll with no fds is a plain sleep.
                    unsafe { libc::poll(std::ptr::null_mut(), 0, timeout_ms) };
                }
                0
            }
        }
    }

    /// Event `i` of the last wait: `(fd, readable, writable)`. Errors and
    /// hang-ups count as both, so waiters retry their call and see the error.
    #[inline]
    pub(crate) fn event(&self, i: usize) -> (RawFd, bool, bool) {
        self.poller.as_ref().expect("poller").event(i)
    }
}
