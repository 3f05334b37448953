//! The listening socket shared by every family: [`ListenerMem`] and its
//! handle [`Listener`].

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use super::heap::{self, HeapSlot};
use super::sys::close_waited;

/// Memory for one listening socket. Families wrap it in their own public
/// type (`IpcListenerMem`, `TcpListenerMem`).
pub struct ListenerMem {
    fd: RawFd,
}

impl ListenerMem {
    /// Fresh, unused listener memory.
    pub const fn new() -> ListenerMem {
        ListenerMem { fd: -1 }
    }
}

impl Default for ListenerMem {
    fn default() -> ListenerMem {
        ListenerMem::new()
    }
}

impl fmt::Debug for ListenerMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerMem").field("fd", &self.fd).finish()
    }
}

/// A handle to a listening socket living in a [`ListenerMem`] (borrowed
/// for `'m`) or in a heap slot it owns (`'static`). Dropping it closes the
/// socket.
pub struct Listener<'m> {
    mem: NonNull<ListenerMem>,
    owned: bool,
    _mem: PhantomData<&'m mut ListenerMem>,
    _not_send: PhantomData<*mut ()>,
}

impl<'m> Listener<'m> {
    /// Builds a listener for the listening socket `fd` in `mem`.
    pub fn in_mem(mem: &'m mut ListenerMem, fd: OwnedFd) -> Listener<'m> {
        mem.fd = fd.into_raw_fd();
        Listener {
            mem: NonNull::from(mem),
            owned: false,
            _mem: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// The listening descriptor.
    #[inline]
    pub fn fd(&self) -> RawFd {
        // SAFETY: `mem` points to a `ListenerMem` that lives at least as
        // long as the listener and is only accessed through it.
        unsafe { self.mem.as_ref() }.fd
    }

    /// Whether the memory is a heap slot owned by the listener.
    pub fn is_heap(&self) -> bool {
        self.owned
    }

    /// A new descriptor (`F_DUPFD_CLOEXEC`) for the same listening socket,
    /// for another thread's listener: the families' `share`.
    ///
    /// # Errors
    ///
    /// `EMFILE`: no descriptor number left.
    pub fn share(&self) -> io::Result<OwnedFd> {
        // SAFETY: the descriptor stays open while `self` is borrowed.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd()) }.try_clone_to_owned()
    }

    /// Takes the descriptor out: the runtime forgets it and the caller owns
    /// the still-listening socket.
    pub fn into_fd(mut self) -> OwnedFd {
        // SAFETY: as in `fd`; `&mut self` makes the access exclusive.
        let fd = std::mem::replace(&mut unsafe { self.mem.as_mut() }.fd, -1);
        crate::fdclean(fd);
        drop(self);
        // SAFETY: the listener owned `fd` and has just given it up.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    /// Accepts one connection, as [`accept`](super::accept).
    ///
    /// # Errors
    ///
    /// As [`accept`](super::accept).
    pub fn accept(
        &self,
        addr: Option<&mut libc::sockaddr_storage>,
        deadline: i64,
    ) -> io::Result<(OwnedFd, libc::socklen_t)> {
        super::accept(self.fd(), addr, deadline)
    }
}

impl Listener<'static> {
    /// Builds a listener for `fd` in a heap slot obtained by the caller; the
    /// listener frees the slot when dropped.
    pub fn in_slot(slot: HeapSlot<ListenerMem>, fd: OwnedFd) -> Listener<'static> {
        let mut ptr = slot.leak();
        // SAFETY: the slot is live, initialized and referenced by nobody
        // else; the listener takes it over for good (freed in `drop`).
        let mut l = Listener::in_mem(unsafe { ptr.as_mut() }, fd);
        l.owned = true;
        l
    }
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `fd`; drop has exclusive access.
        let mem = unsafe { self.mem.as_mut() };
        let fd = std::mem::replace(&mut mem.fd, -1);
        if fd >= 0 {
            close_waited(fd);
        }
        if self.owned {
            // SAFETY: `owned` listeners hold a leaked `HeapSlot` that nothing
            // else references; this is its last use.
            unsafe { heap::free(self.mem) };
        }
    }
}

impl fmt::Debug for Listener<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("fd", &self.fd())
            .field("heap", &self.owned)
            .finish()
    }
}
