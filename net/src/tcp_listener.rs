//! TCP listeners: [`TcpListenerMem`], [`TcpListener`], `tcp_listen`,
//! `tcp_accept`, `tcp_listener_fromfd`, on the runtime's shared listener
//! core ([`dill_runtime::sock::Listener`]).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use dill_runtime::check_cancelled;
use dill_runtime::sock::{
    self, check_deadline, cvt, err, HeapSlot, Listener, ListenerMem, RawAddr, StreamMem,
};

use crate::tcp::{domain, enobufs_is_enomem, reject, TcpMem, TcpStream};

/// Memory for one TCP listener, supplied by the caller of
/// [`tcp_listen_mem`]. It is [`TCP_LISTENER_SIZE`](crate::TCP_LISTENER_SIZE)
/// bytes long and must outlive the listener built in it (the borrow checker
/// enforces this).
#[derive(Default)]
pub struct TcpListenerMem {
    core: ListenerMem,
}

impl TcpListenerMem {
    /// Fresh, unused listener memory.
    pub const fn new() -> TcpListenerMem {
        TcpListenerMem {
            core: ListenerMem::new(),
        }
    }
}

impl fmt::Debug for TcpListenerMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TcpListenerMem").field(&self.core).finish()
    }
}

/// A socket listening for TCP connections.
///
/// Accept connections with [`tcp_accept`] or [`tcp_accept_mem`]. Dropping
/// the listener closes the socket. Neither `Send` nor `Sync`.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<dill::TcpListener<'static>>();
/// ```
pub struct TcpListener<'m> {
    core: Listener<'m>,
}

impl TcpListener<'_> {
    /// The address the listener is bound to; with port 0 given to
    /// [`tcp_listen`], the port the kernel picked.
    ///
    /// # Errors
    ///
    /// Those of `getsockname` (none in practice on an open listener).
    #[doc = include_str!("../../docs/tcp_local_addr.md")]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock::local_addr(self.core.fd())
    }

    /// A new descriptor for this listening socket, for another thread's
    /// listener (made there with [`tcp_listener_fromfd`]).
    ///
    /// # Errors
    ///
    /// `EMFILE`: see ERRORS below.
    #[doc = include_str!("../../docs/tcp_listener_share.md")]
    pub fn share(&self) -> io::Result<OwnedFd> {
        self.core.share()
    }
}

impl fmt::Debug for TcpListener<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        d.field("fd", &self.core.fd());
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        d.field("heap", &self.core.is_heap()).finish()
    }
}

impl AsRawFd for TcpListener<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.core.fd()
    }
}

impl AsFd for TcpListener<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor stays open while `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.core.fd()) }
    }
}

/// Takes the listening descriptor back out: the runtime forgets it and the
/// caller owns the socket, still listening.
impl From<TcpListener<'_>> for OwnedFd {
    fn from(l: TcpListener<'_>) -> OwnedFd {
        l.core.into_fd()
    }
}

/// Takes the listening descriptor back out, as `From<TcpListener>`.
impl IntoRawFd for TcpListener<'_> {
    fn into_raw_fd(self) -> RawFd {
        self.core.into_fd().into_raw_fd()
    }
}

/// Creates a socket bound to `addr` and listening.
fn listen(addr: &SocketAddr, backlog: i32) -> io::Result<OwnedFd> {
    check_cancelled()?;
    if backlog < 0 {
        return Err(err(libc::EINVAL));
    }
    let raw = RawAddr::new(addr);
    let fd = sock::socket(domain(addr), libc::SOCK_STREAM).map_err(enobufs_is_enomem)?;
    // Restarting a server must not wait for old connections' TIME_WAIT.
    sock::set_sockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    // SAFETY: `raw` holds a valid sockaddr of length `raw.len()`.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len()) })?;
    // SAFETY: listen() takes no pointers.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(fd)
}

/// Listens for TCP connections on `addr`, in `mem`.
///
/// # Errors
///
/// `EACCES`, `EADDRINUSE`, `EADDRNOTAVAIL`, `EAFNOSUPPORT`, `ECANCELED`, `EINVAL`, `EMFILE`, `ENFILE`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_listen_mem.md")]
pub fn tcp_listen_mem(
    addr: SocketAddr,
    mem: &mut TcpListenerMem,
    backlog: i32,
) -> io::Result<TcpListener<'_>> {
    let fd = listen(&addr, backlog)?;
    Ok(TcpListener {
        core: Listener::in_mem(&mut mem.core, fd),
    })
}

/// Listens for TCP connections on `addr`.
///
/// # Errors
///
/// `EACCES`, `EADDRINUSE`, `EADDRNOTAVAIL`, `EAFNOSUPPORT`, `ECANCELED`, `EINVAL`, `EMFILE`, `ENFILE`, `ENOMEM`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_listen.md")]
pub fn tcp_listen(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener<'static>> {
    check_cancelled()?;
    let slot = HeapSlot::new(ListenerMem::new())?;
    let fd = listen(&addr, backlog)?;
    Ok(TcpListener {
        core: Listener::in_slot(slot, fd),
    })
}

/// Accepts one connection on `l`, with the peer's address.
fn accept(l: &TcpListener<'_>, deadline: i64) -> io::Result<(OwnedFd, SocketAddr)> {
    let mut raw = RawAddr::empty();
    let (ss, len) = raw.as_mut();
    let (fd, n) = l
        .core
        .accept(Some(ss), deadline)
        .map_err(enobufs_is_enomem)?;
    *len = n;
    Ok((fd, raw.to_socket_addr()?))
}

/// Accepts a connection from `l`, building the stream in `mem`.
///
/// # Errors
///
/// `EBUSY`, `ECANCELED`, `EINVAL`, `EMFILE`, `ENFILE`, `ENOMEM`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_accept_mem.md")]
pub fn tcp_accept_mem<'m>(
    l: &TcpListener<'_>,
    mem: &'m mut TcpMem,
    deadline: i64,
) -> io::Result<(TcpStream<'m>, SocketAddr)> {
    let (fd, addr) = accept(l, deadline)?;
    let s = TcpStream::in_mem(mem, fd);
    crate::tcp_link::accepted(&s.core, &addr);
    Ok((s, addr))
}

/// Accepts a connection from `l`.
///
/// # Errors
///
/// `EBUSY`, `ECANCELED`, `EINVAL`, `EMFILE`, `ENFILE`, `ENOMEM`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_accept.md")]
pub fn tcp_accept(
    l: &TcpListener<'_>,
    deadline: i64,
) -> io::Result<(TcpStream<'static>, SocketAddr)> {
    check_deadline(deadline)?;
    check_cancelled()?;
    let slot = HeapSlot::new(StreamMem::new())?;
    let (fd, addr) = accept(l, deadline)?;
    let s = TcpStream::in_slot(slot, fd);
    crate::tcp_link::accepted(&s.core, &addr);
    Ok((s, addr))
}

/// Checks that `fd` is a listening TCP socket and makes it non-blocking.
fn adopt(fd: &OwnedFd) -> io::Result<()> {
    let kind = sock::sock_kind(fd.as_raw_fd())?;
    if !matches!(kind.family, libc::AF_INET | libc::AF_INET6)
        || kind.ty != libc::SOCK_STREAM
        || !kind.listening
    {
        return Err(err(libc::EINVAL));
    }
    sock::set_nonblocking(fd)
}

/// Turns a listening TCP socket into a [`TcpListener`].
///
/// # Errors
///
/// `EBADF`, `ECANCELED`, `EINVAL`, `ENOMEM`, `ENOTSOCK`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_listener_fromfd.md")]
pub fn tcp_listener_fromfd(fd: OwnedFd) -> io::Result<TcpListener<'static>> {
    check_cancelled()?;
    if let Err(e) = adopt(&fd) {
        return Err(reject(fd, e));
    }
    let slot = HeapSlot::new(ListenerMem::new())?;
    Ok(TcpListener {
        core: Listener::in_slot(slot, fd),
    })
}
