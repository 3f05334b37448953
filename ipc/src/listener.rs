//! Listening sockets: `ipc_listen`, `ipc_accept` and their `_mem` forms,
//! `ipc_listener_fromfd`, and listeners shared by several threads.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::ptr::NonNull;

use dill_runtime::{check_cancelled, fdin_exclusive};

use crate::addr::SockAddr;
use crate::heap::{self, HeapSlot};
use crate::stream::{IpcMem, IpcStream};
use crate::sys::{self, check_deadline, err, syscall};

/// Memory for one IPC listener, supplied by the caller of
/// [`ipc_listen_mem`](crate::ipc_listen_mem). It is
/// [`IPC_LISTENER_SIZE`](crate::IPC_LISTENER_SIZE) bytes long and must
/// outlive the listener built in it (the borrow checker enforces this).
pub struct IpcListenerMem {
    fd: RawFd,
}

impl IpcListenerMem {
    /// Fresh, unused listener memory.
    pub const fn new() -> IpcListenerMem {
        IpcListenerMem { fd: -1 }
    }
}

impl Default for IpcListenerMem {
    fn default() -> IpcListenerMem {
        IpcListenerMem::new()
    }
}

impl fmt::Debug for IpcListenerMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcListenerMem")
            .field("fd", &self.fd)
            .finish()
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
/// assert_send::<dill_ipc::IpcListener<'static>>();
/// ```
pub struct IpcListener<'m> {
    mem: NonNull<IpcListenerMem>,
    owned: bool,
    _mem: PhantomData<&'m mut IpcListenerMem>,
    _not_send: PhantomData<*mut ()>,
}

impl IpcListener<'_> {
    fn fd(&self) -> RawFd {
        // SAFETY: `mem` points to an `IpcListenerMem` that lives at least as
        // long as the listener and is only accessed through it.
        unsafe { self.mem.as_ref() }.fd
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
        self.as_fd().try_clone_to_owned()
    }
}

impl Drop for IpcListener<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `fd`; drop has exclusive access.
        let mem = unsafe { self.mem.as_mut() };
        let fd = std::mem::replace(&mut mem.fd, -1);
        if fd >= 0 {
            sys::close_waited(fd);
        }
        if self.owned {
            // SAFETY: `owned` listeners hold a leaked `HeapSlot` that
            // nothing else references; this is its last use.
            unsafe { heap::free(self.mem) };
        }
    }
}

impl fmt::Debug for IpcListener<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcListener")
            .field("fd", &self.fd())
            .field("heap", &self.owned)
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

impl<'m> IpcListener<'m> {
    /// Builds a listener for the listening socket `fd` in `mem`.
    fn in_mem(mem: &'m mut IpcListenerMem, fd: OwnedFd) -> IpcListener<'m> {
        mem.fd = fd.into_raw_fd();
        IpcListener {
            mem: NonNull::from(mem),
            owned: false,
            _mem: PhantomData,
            _not_send: PhantomData,
        }
    }
}

/// Listens for IPC connections on the path `addr`.
///
/// # Errors
///
/// `EACCES`, `EADDRINUSE`, `ECANCELED`, `EINVAL`, `ELOOP`, `ENAMETOOLONG`, `ENOENT`, `ENOTDIR`, `EMFILE`, `ENFILE`, `ENOMEM`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_listen.md")]
pub fn ipc_listen(addr: impl AsRef<Path>, backlog: i32) -> io::Result<IpcListener<'static>> {
    let slot = HeapSlot::new(IpcListenerMem::new())?;
    let fd = listen(addr.as_ref(), backlog)?;
    let mut mem = slot.leak();
    // SAFETY: the slot is live, initialized and referenced by nobody else;
    // the listener takes it over for good (freed in `drop`).
    let mut l = IpcListener::in_mem(unsafe { mem.as_mut() }, fd);
    l.owned = true;
    Ok(l)
}

/// Reads an integer socket option of `fd`.
fn sockopt_int(fd: &OwnedFd, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    syscall!(
        // SAFETY: `val` and `len` are valid for writes and `len` holds the
        // size of `val`.
        unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&mut val as *mut libc::c_int).cast(),
                &mut len,
            )
        }
    )?;
    Ok(val)
}

/// Checks that `fd` is a listening `AF_UNIX` stream socket and makes it
/// non-blocking.
fn adopt_listener(fd: &OwnedFd) -> io::Result<()> {
    // getsockname works on any socket and says ENOTSOCK for anything else.
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    syscall!(
        // SAFETY: `ss` and `len` are valid for writes, `len` is `ss`'s size.
        unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        }
    )?;
    if libc::c_int::from(ss.ss_family) != libc::AF_UNIX
        || sockopt_int(fd, libc::SO_TYPE)? != libc::SOCK_STREAM
    {
        return Err(err(libc::EINVAL));
    }
    let listening = sockopt_int(fd, libc::SO_ACCEPTCONN)? != 0;
    if !listening {
        return Err(err(libc::EINVAL));
    }
    let flags = syscall!(
        // SAFETY: F_GETFL takes no pointer argument.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) }
    )?;
    if flags & libc::O_NONBLOCK == 0 {
        syscall!(
            // SAFETY: F_SETFL takes an integer argument.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }
        )?;
    }
    Ok(())
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
        .and_then(|()| HeapSlot::new(IpcListenerMem::new()));
    let slot = match res {
        Ok(slot) => slot,
        Err(e) => {
            // The caller may have waited on the descriptor before handing
            // it over; it is about to be closed.
            dill_runtime::fdclean(fd.as_raw_fd());
            return Err(e);
        }
    };
    let mut mem = slot.leak();
    // SAFETY: the slot is live, initialized and referenced by nobody else;
    // the listener takes it over for good (freed in `drop`).
    let mut l = IpcListener::in_mem(unsafe { mem.as_mut() }, fd);
    l.owned = true;
    Ok(l)
}

/// Accepts one connection on `l`, waiting until the deadline.
fn accept(l: &IpcListener<'_>, deadline: i64) -> io::Result<OwnedFd> {
    check_deadline(deadline)?;
    check_cancelled()?;
    let lfd = l.fd();
    loop {
        match accept_raw(lfd) {
            Ok(fd) => {
                // SAFETY: accept has just returned a new descriptor we own.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                sys::finish_socket(&fd)?;
                return Ok(fd);
            }
            Err(e) => match e.raw_os_error() {
                // Exclusive: when several threads accept from this socket
                // (see `IpcListener::share`), a connection wakes one.
                Some(libc::EAGAIN) => fdin_exclusive(lfd, deadline)?,
                // The connection died in the queue, or a signal arrived:
                // try the next one.
                Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO) => {}
                _ => return Err(e),
            },
        }
    }
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
    let slot = HeapSlot::new(IpcMem::new())?;
    let fd = accept(l, deadline)?;
    Ok(IpcStream::in_slot(slot, fd))
}

/// One `accept4` with close-on-exec and non-blocking set in the same call.
#[cfg(not(target_vendor = "apple"))]
fn accept_raw(lfd: RawFd) -> io::Result<RawFd> {
    syscall!(
        // SAFETY: null address pointers are allowed: we do not want the
        // peer's address.
        unsafe {
            libc::accept4(
                lfd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                sys::SOCK_FLAGS,
            )
        }
    )
}

/// Apple systems have no `accept4`: a plain `accept`, completed by
/// [`sys::finish_socket`].
#[cfg(target_vendor = "apple")]
fn accept_raw(lfd: RawFd) -> io::Result<RawFd> {
    syscall!(
        // SAFETY: null address pointers are allowed: we do not want the
        // peer's address.
        unsafe { libc::accept(lfd, std::ptr::null_mut(), std::ptr::null_mut()) }
    )
}
