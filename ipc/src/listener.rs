//! Listening sockets: `ipc_listen`, `ipc_accept` and their `_mem` forms,
//! `ipc_listener_fromfd`, and listeners shared by several threads.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use dill_runtime::check_cancelled;
use dill_runtime::sock::{self, HeapSlot, Listener, ListenerMem, StreamMem};

use crate::addr::SockAddr;
use crate::stream::{IpcMem, IpcStream};
use crate::sys::{self, check_deadline, err, syscall};

/// Memory for one IPC listener, supplied by the caller of
/// [`ipc_listen_mem`](crate::ipc_listen_mem). It is
/// [`IPC_LISTENER_SIZE`](crate::IPC_LISTENER_SIZE) bytes long and must
/// outlive the listener built in it (the borrow checker enforces this).
#[derive(Default)]
pub struct IpcListenerMem {
    core: ListenerMem,
}

impl IpcListenerMem {
    /// Fresh, unused listener memory.
    pub const fn new() -> IpcListenerMem {
        IpcListenerMem {
            core: ListenerMem::new(),
        }
    }
}

impl fmt::Debug for IpcListenerMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IpcListenerMem").field(&self.core).finish()
    }
}

/// A socket listening for IPC connections on a filesystem path.
///
/// Accept connections with [`ipc_accept`](crate::ipc_accept) or
/// [`ipc_accept_mem`](crate::ipc_accept_mem). Dropping the listener closes
/// the socket; as in libdill, the socket file stays in the filesystem and
/// must be removed by the application before the path can be listened on
/// again.
///
/// A listener is neither `Send` nor `Sync`:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<dill::IpcListener<'static>>();
/// ```
pub struct IpcListener<'m> {
    core: Listener<'m>,
}

impl<'m> IpcListener<'m> {
    /// Builds a listener for the listening socket `fd` in `mem`.
    pub(crate) fn in_mem(mem: &'m mut IpcListenerMem, fd: OwnedFd) -> IpcListener<'m> {
        IpcListener {
            core: Listener::in_mem(&mut mem.core, fd),
        }
    }

    fn fd(&self) -> RawFd {
        self.core.fd()
    }
}

impl IpcListener<'_> {
    /// A new descriptor for this listening socket, for another thread's
    /// listener (made there with [`ipc_listener_fromfd`]).
    ///
    /// # Errors
    ///
    /// `EMFILE`: see ERRORS below.
    #[doc = include_str!("../../docs/ipc_listener_share.md")]
    pub fn share(&self) -> io::Result<OwnedFd> {
        self.core.share()
    }
}

impl IpcListener<'static> {
    /// Builds a listener for `fd` in a heap slot obtained by the caller.
    pub(crate) fn in_slot(slot: HeapSlot<ListenerMem>, fd: OwnedFd) -> IpcListener<'static> {
        IpcListener {
            core: Listener::in_slot(slot, fd),
        }
    }
}

impl fmt::Debug for IpcListener<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcListener")
            .field("fd", &self.fd())
            .field("heap", &self.core.is_heap())
            .finish()
    }
}

impl AsRawFd for IpcListener<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

impl AsFd for IpcListener<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor stays open while `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.fd()) }
    }
}

/// Creates a socket bound to `addr` and listening.
fn listen(addr: &Path, backlog: i32) -> io::Result<OwnedFd> {
    check_cancelled()?;
    if backlog < 0 {
        return Err(err(libc::EINVAL));
    }
    let sa = SockAddr::new(addr)?;
    let fd = sys::stream_socket()?;
    syscall!(
        // SAFETY: `sa` is a valid sockaddr_un of length `sa.len`.
        unsafe { libc::bind(fd.as_raw_fd(), sa.as_ptr(), sa.len) }
    )?;
    let res = syscall!(
        // SAFETY: listen() takes no pointers.
        unsafe { libc::listen(fd.as_raw_fd(), backlog) }
    );
    if let Err(e) = res {
        // We created the socket file a moment ago; do not leave it behind.
        let _ = std::fs::remove_file(addr);
        return Err(e);
    }
    Ok(fd)
}

/// Listens for IPC connections on the path `addr`, in `mem`.
///
/// # Errors
///
/// `EACCES`, `EADDRINUSE`, `ECANCELED`, `EINVAL`, `ELOOP`, `ENAMETOOLONG`, `ENOENT`, `ENOTDIR`, `EMFILE`, `ENFILE`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_listen_mem.md")]
pub fn ipc_listen_mem<'m>(
    addr: impl AsRef<Path>,
    mem: &'m mut IpcListenerMem,
    backlog: i32,
) -> io::Result<IpcListener<'m>> {
    let fd = listen(addr.as_ref(), backlog)?;
    Ok(IpcListener::in_mem(mem, fd))
}

/// Listens for IPC connections on the path `addr`.
///
/// # Errors
///
/// `EACCES`, `EADDRINUSE`, `ECANCELED`, `EINVAL`, `ELOOP`, `ENAMETOOLONG`, `ENOENT`, `ENOTDIR`, `EMFILE`, `ENFILE`, `ENOMEM`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_listen.md")]
pub fn ipc_listen(addr: impl AsRef<Path>, backlog: i32) -> io::Result<IpcListener<'static>> {
    let slot = HeapSlot::new(ListenerMem::new())?;
    let fd = listen(addr.as_ref(), backlog)?;
    Ok(IpcListener::in_slot(slot, fd))
}

/// Checks that `fd` is a listening `AF_UNIX` stream socket and makes it
/// non-blocking.
fn adopt_listener(fd: &OwnedFd) -> io::Result<()> {
    let kind = sock::sock_kind(fd.as_raw_fd())?;
    if kind.family != libc::AF_UNIX || kind.ty != libc::SOCK_STREAM || !kind.listening {
        return Err(err(libc::EINVAL));
    }
    sock::set_nonblocking(fd)
}

/// Turns a listening `AF_UNIX` stream socket into an IPC listener.
///
/// # Errors
///
/// `ECANCELED`, `EINVAL`, `ENOMEM`, `ENOTSOCK`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_listener_fromfd.md")]
pub fn ipc_listener_fromfd(fd: OwnedFd) -> io::Result<IpcListener<'static>> {
    let res = check_cancelled()
        .and_then(|()| adopt_listener(&fd))
        .and_then(|()| HeapSlot::new(ListenerMem::new()));
    match res {
        Ok(slot) => Ok(IpcListener::in_slot(slot, fd)),
        Err(e) => {
            // The caller may have waited on the descriptor before handing
            // it over; it is about to be closed.
            dill_runtime::fdclean(fd.as_raw_fd());
            Err(e)
        }
    }
}

/// Accepts one connection on `l`, waiting until the deadline.
fn accept(l: &IpcListener<'_>, deadline: i64) -> io::Result<OwnedFd> {
    l.core.accept(None, deadline).map(|(fd, _)| fd)
}

/// Accepts a connection from `l`, building the stream in `mem`.
///
/// # Errors
///
/// `EBUSY`, `ECANCELED`, `EINVAL`, `EMFILE`, `ENFILE`, `ENOBUFS`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_accept_mem.md")]
pub fn ipc_accept_mem<'m>(
    l: &IpcListener<'_>,
    mem: &'m mut IpcMem,
    deadline: i64,
) -> io::Result<IpcStream<'m>> {
    let fd = accept(l, deadline)?;
    Ok(IpcStream::in_mem(mem, fd))
}

/// Accepts a connection from `l`.
///
/// # Errors
///
/// `EBUSY`, `ECANCELED`, `EINVAL`, `EMFILE`, `ENFILE`, `ENOMEM`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_accept.md")]
pub fn ipc_accept(l: &IpcListener<'_>, deadline: i64) -> io::Result<IpcStream<'static>> {
    check_deadline(deadline)?;
    check_cancelled()?;
    let slot = HeapSlot::new(StreamMem::new())?;
    let fd = accept(l, deadline)?;
    Ok(IpcStream::in_slot(slot, fd))
}
