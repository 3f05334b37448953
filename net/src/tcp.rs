//! TCP connections: [`TcpMem`], [`TcpStream`] and its split halves,
//! `tcp_connect`, `tcp_done`, `tcp_close`, `tcp_fromfd`.
//!
//! The stream is the runtime's shared byte-stream core
//! ([`dill_runtime::sock::Stream`]), the same one IPC uses; this module
//! adds only what is specific to TCP: addresses and connecting.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use dill_runtime::check_cancelled;
use dill_runtime::sock::{self, check_deadline, err, HeapSlot, RawAddr, Stream, StreamMem};

/// A connected TCP byte stream.
///
/// Move bytes with [`bsend`](dill_runtime::bsend),
/// [`brecv`](dill_runtime::brecv) and their vectored forms, or through
/// [`io::Read`]/[`io::Write`] (which block without a deadline), so
/// blocking-I/O crates work on it unchanged inside a coroutine.
///
/// The lifetime `'m` is that of the [`TcpMem`] the stream lives in;
/// streams from the non-`_mem` constructors own heap memory and are
/// `'static`.
///
/// Dropping the stream closes the socket at once: unsent data still in the
/// kernel is delivered (there is no `SO_LINGER` 0), but if unread data is
/// waiting the kernel resets the connection. Use [`tcp_close`] for an
/// orderly shutdown.
///
/// # One reader and one writer
///
/// One coroutine may receive while another sends: share the stream
/// (`ByteStream`, `io::Read` and `io::Write` are implemented for
/// `&TcpStream` too) or [`split`](TcpStream::split) it into two owned
/// halves. A second concurrent receiver (sender) gets `EBUSY`.
///
/// A stream belongs to the thread that created it: it is neither `Send`
/// nor `Sync`.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<dill::TcpStream<'static>>();
/// ```
pub struct TcpStream<'m> {
    pub(crate) core: Stream<'m>,
}

impl<'m> TcpStream<'m> {
    /// The local address of the connection.
    ///
    /// # Errors
    ///
    /// `EBADF` if the descriptor was taken out; otherwise those of
    /// `getsockname`.
    #[doc = include_str!("../../docs/tcp_local_addr.md")]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock::local_addr(self.core.fd())
    }

    /// The address of the peer.
    ///
    /// # Errors
    ///
    /// `ENOTCONN` once the connection is gone from the kernel's point of
    /// view (reset); `EBADF` if the descriptor was taken out.
    #[doc = include_str!("../../docs/tcp_local_addr.md")]
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock::peer_addr(self.core.fd())
    }
}

dill_runtime::stream_handles! {
    /// Memory for one TCP connection, supplied by the caller of the `_mem`
    /// functions ([`tcp_connect_mem`], [`tcp_accept_mem`](crate::tcp_accept_mem)).
    ///
    /// It is [`TCP_SIZE`](crate::TCP_SIZE) bytes long. The stream built in it
    /// borrows it mutably, so the borrow checker makes sure the memory outlives
    /// the socket; once the stream is closed the memory can be reused.
    mem: TcpMem, "TcpMem";
    stream: TcpStream, "TcpStream";
    /// The receiving direction of a split [`TcpStream`]: a [`ByteStream`](dill_runtime::ByteStream)
    /// whose sends fail with `ENOTSUP`, and an `io::Read`. Also usable through
    /// a shared reference; a second concurrent receiver gets `EBUSY`.
    read: TcpReadHalf, "TcpReadHalf";
    /// The sending direction of a split [`TcpStream`]: a [`ByteStream`](dill_runtime::ByteStream)
    /// whose receives fail with `ENOTSUP`, and an `io::Write`. Also usable through a shared
    /// reference; a second concurrent sender gets `EBUSY`.
    write: TcpWriteHalf, "TcpWriteHalf";
    /// Half-closes the connection, as [`tcp_done`].
    ///
    /// # Errors
    ///
    /// As [`tcp_done`].
    done;
    /// Splits the stream into its receiving and sending directions, as two
    /// owned values that can move into different coroutines.
    #[doc = include_str!("../../docs/tcp_split.md")]
    split;
    /// Joins the two halves of one stream back into the stream.
    ///
    /// # Errors
    ///
    /// Gives both halves back, unchanged, if they come from different
    /// streams.
    unsplit;
    hook: crate::tcp_link::poll;
}

/// `ENOBUFS` from the kernel is the `ENOMEM` of the man pages.
pub(crate) fn enobufs_is_enomem(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ENOBUFS) => err(libc::ENOMEM),
        _ => e,
    }
}

/// The domain of a socket for `addr`.
pub(crate) fn domain(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// Creates a socket and connects it to `addr`, waiting for the handshake
/// until the deadline.
fn connect(addr: &SocketAddr, deadline: i64) -> io::Result<OwnedFd> {
    check_deadline(deadline)?;
    check_cancelled()?;
    if addr.port() == 0 {
        return Err(err(libc::EINVAL));
    }
    let raw = RawAddr::new(addr);
    let fd = sock::socket(domain(addr), libc::SOCK_STREAM).map_err(enobufs_is_enomem)?;
    // SAFETY: `raw` holds a valid sockaddr of length `raw.len()`.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), raw.as_ptr(), raw.len()) };
    if rc == 0 {
        return Ok(fd);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // The handshake goes on in the background (after EINTR as well).
        Some(libc::EINPROGRESS | libc::EINTR) => {
            sock::finish_connect(&fd, deadline)?;
            Ok(fd)
        }
        // No ephemeral port left: the address cannot be used.
        Some(libc::EAGAIN) => Err(err(libc::EADDRNOTAVAIL)),
        _ => Err(enobufs_is_enomem(e)),
    }
}

/// Connects to `addr`, building the stream in `mem`.
///
/// # Errors
///
/// `EADDRNOTAVAIL`, `EAFNOSUPPORT`, `ECANCELED`, `ECONNREFUSED`, `ECONNRESET`, `EHOSTUNREACH`, `EINVAL`, `EMFILE`, `ENETDOWN`, `ENETUNREACH`, `ENFILE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_connect_mem.md")]
pub fn tcp_connect_mem(
    addr: SocketAddr,
    mem: &mut TcpMem,
    deadline: i64,
) -> io::Result<TcpStream<'_>> {
    let fd = connect(&addr, deadline)?;
    let s = TcpStream::in_mem(mem, fd);
    crate::tcp_link::connected(&s.core, &addr);
    Ok(s)
}

/// Connects to `addr`.
///
/// # Errors
///
/// `EADDRNOTAVAIL`, `EAFNOSUPPORT`, `ECANCELED`, `ECONNREFUSED`, `ECONNRESET`, `EHOSTUNREACH`, `EINVAL`, `EMFILE`, `ENETDOWN`, `ENETUNREACH`, `ENFILE`, `ENOMEM`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_connect.md")]
pub fn tcp_connect(addr: SocketAddr, deadline: i64) -> io::Result<TcpStream<'static>> {
    check_deadline(deadline)?;
    check_cancelled()?;
    let slot = HeapSlot::new(StreamMem::new())?;
    let fd = connect(&addr, deadline)?;
    let s = TcpStream::in_slot(slot, fd);
    crate::tcp_link::connected(&s.core, &addr);
    Ok(s)
}

/// Half-closes `s`: no more data will be sent.
///
/// # Errors
///
/// `ECONNRESET`, `EINVAL`, `EPIPE`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_done.md")]
pub fn tcp_done(s: &mut TcpStream<'_>, deadline: i64) -> io::Result<()> {
    s.core.done(deadline)
}

/// Closes `s` after an orderly end-of-stream handshake with the peer.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_close.md")]
pub fn tcp_close(s: TcpStream<'_>, deadline: i64) -> io::Result<()> {
    s.core.close(deadline)
}

/// Checks that `fd` is a connected TCP socket and makes it non-blocking.
fn adopt(fd: &OwnedFd) -> io::Result<()> {
    let kind = sock::sock_kind(fd.as_raw_fd())?;
    if !matches!(kind.family, libc::AF_INET | libc::AF_INET6)
        || kind.ty != libc::SOCK_STREAM
        || kind.listening
    {
        return Err(err(libc::EINVAL));
    }
    sock::check_connected(fd.as_raw_fd())?;
    sock::set_nonblocking(fd)
}

/// Turns a connected TCP socket into a [`TcpStream`].
///
/// # Errors
///
/// `EBADF`, `ECANCELED`, `EINVAL`, `ENOMEM`, `ENOTCONN`, `ENOTSOCK`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/tcp_fromfd.md")]
pub fn tcp_fromfd(fd: OwnedFd) -> io::Result<TcpStream<'static>> {
    check_cancelled()?;
    if let Err(e) = adopt(&fd) {
        return Err(reject(fd, e));
    }
    let slot = HeapSlot::new(StreamMem::new())?;
    Ok(TcpStream::in_slot(slot, fd))
}

/// Disposes of a descriptor a `_fromfd` call refused. The caller may have
/// waited on it before handing it over, so the runtime forgets it before
/// it is closed. A number that is not an open descriptor (`EBADF`) is not
/// closed: it may belong to someone else by now.
pub(crate) fn reject(fd: OwnedFd, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::EBADF) {
        let _ = fd.into_raw_fd();
    } else {
        dill_runtime::fdclean(fd.as_raw_fd());
    }
    e
}
