//! UDP sockets: [`UdpSocket`], `udp_open`, `udp_send[l]`, `udp_recv[l]`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use dill_runtime::sock::RawAddr;
use dill_runtime::{check_cancelled, fdin_edge, MsgStream};

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A UDP socket: unreliable datagrams of limited size, no handshake.
///
/// Made by [`udp_open`]. One socket can talk to many peers with
/// [`udp_send`]/[`udp_recv`]; opened with a remote address it is also a
/// [`MsgStream`] whose messages go to, and come only from, that address.
///
/// Dropping it closes the socket. It belongs to the thread that made it:
/// neither `Send` nor `Sync`.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<dill::UdpSocket>();
/// ```
pub struct UdpSocket {
    fd: OwnedFd,
    family: libc::c_int,
    remote: Option<SocketAddr>,
    _not_send: PhantomData<*mut ()>,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.fd.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .field("remote", &self.remote)
            .finish()
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        // Forget the descriptor in the reactor before `OwnedFd` closes it.
        dill_runtime::fdclean(self.fd.as_raw_fd());
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl UdpSocket {
    /// The address the socket is bound to (with the port the system chose
    /// if it was opened with port 0). A socket opened without a local
    /// address is bound on its first send; before that this is the
    /// unspecified address with port 0.
    ///
    /// # Errors
    ///
    /// `ENOBUFS` if the kernel lacks memory for the call.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        dill_runtime::sock::local_addr(self.fd.as_raw_fd())
    }

    /// The remote address given to [`udp_open`], if any.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }
}

fn family_of(a: &SocketAddr) -> libc::c_int {
    match a {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// A fresh datagram socket of `family`, close-on-exec and non-blocking
/// from birth (the runtime's socket constructor); `ENOBUFS` is reported as
/// `ENOMEM`.
fn dgram_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    dill_runtime::sock::socket(family, libc::SOCK_DGRAM).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOBUFS) => err(libc::ENOMEM),
        _ => e,
    })
}

/// Opens a UDP socket.
///
/// `local`, if given, is the address to bind (port 0 picks a free port,
/// see [`UdpSocket::local_addr`]); without it the system binds the socket
/// to a free port on its first send. `remote`, if given, is where
/// [`udp_send`] sends when it is given no address, and the only address
/// the socket then receives from.
///
/// # Errors
///
/// `EINVAL` (families differ; a remote with port 0), `EADDRINUSE`,
/// `EADDRNOTAVAIL`, `ECANCELED`, `EMFILE`, `ENFILE`, `ENOMEM`.
#[doc = include_str!("../../docs/udp_open.md")]
pub fn udp_open(local: Option<SocketAddr>, remote: Option<SocketAddr>) -> io::Result<UdpSocket> {
    if let (Some(l), Some(r)) = (&local, &remote) {
        if family_of(l) != family_of(r) {
            return Err(err(libc::EINVAL));
        }
    }
    if remote.is_some_and(|r| r.port() == 0) {
        return Err(err(libc::EINVAL));
    }
    check_cancelled()?;
    let family = remote
        .as_ref()
        .or(local.as_ref())
        .map_or(libc::AF_INET, family_of);
    let fd = dgram_socket(family)?;
    if let Some(l) = local {
        let raw = RawAddr::new(&l);
        // SAFETY: `raw` holds a valid socket address of length `raw.len()`.
        if unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len()) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(UdpSocket {
        fd,
        family,
        remote,
        _not_send: PhantomData,
    })
}

/// A socket connected to `server`, for the resolver: the kernel then
/// drops datagrams from anyone else and reports an unreachable port as
/// `ECONNREFUSED`.
pub(crate) fn udp_connected(server: SocketAddr) -> io::Result<UdpSocket> {
    let family = family_of(&server);
    let fd = dgram_socket(family)?;
    let raw = RawAddr::new(&server);
    // SAFETY: `raw` holds a valid socket address of length `raw.len()`.
    if unsafe { libc::connect(fd.as_raw_fd(), raw.as_ptr(), raw.len()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UdpSocket {
        fd,
        family,
        remote: Some(server),
        _not_send: PhantomData,
    })
}

/// Sends `buf` as one datagram to `addr`, or to the socket's remote
/// address when `addr` is `None`.
///
/// # Errors
///
/// As [`udp_sendl`].
#[doc = include_str!("../../docs/udp_send.md")]
pub fn udp_send(s: &mut UdpSocket, addr: Option<SocketAddr>, buf: &[u8]) -> io::Result<()> {
    udp_sendl(s, addr, &[IoSlice::new(buf)])
}

/// Sends the buffers of `bufs`, in order, as one datagram to `addr`, or
/// to the socket's remote address when `addr` is `None`.
///
/// UDP gives no delivery guarantee and the call has no deadline: when the
/// socket's send buffer is full the datagram is dropped and the call
/// succeeds.
///
/// # Errors
///
/// * `EINVAL`: no `addr` and no remote address; an address of the other
///   family than the socket's; port 0.
/// * `EMSGSIZE`: the datagram is too large for UDP (over 65,507 bytes of
///   payload on IPv4), or `bufs` has more than `IOV_MAX` buffers.
/// * `EACCES`: a broadcast destination on a socket not allowed to
///   broadcast.
/// * Other errors of the system for the destination (`ENETUNREACH`, ...)
///   are passed on.
#[doc = include_str!("../../docs/udp_sendl.md")]
pub fn udp_sendl(
    s: &mut UdpSocket,
    addr: Option<SocketAddr>,
    bufs: &[IoSlice<'_>],
) -> io::Result<()> {
    let dst = addr.or(s.remote).ok_or_else(|| err(libc::EINVAL))?;
    if family_of(&dst) != s.family || dst.port() == 0 {
        return Err(err(libc::EINVAL));
    }
    let raw = RawAddr::new(&dst);
    // SAFETY: msghdr is plain old data; zero is a valid value.
    let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
    hdr.msg_name = raw.as_ptr() as *mut libc::c_void;
    hdr.msg_namelen = raw.len();
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix.
    hdr.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    hdr.msg_iovlen = bufs.len() as _;
    loop {
        // SAFETY: `hdr` points to the address and the caller's buffers,
        // all alive for the call; the kernel only reads them.
        let r = unsafe { libc::sendmsg(s.fd.as_raw_fd(), &hdr, 0) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            // A full send buffer drops the datagram, as the network may.
            Some(libc::EAGAIN) => return Ok(()),
            _ => return Err(e),
        }
    }
}

/// Receives one datagram into `buf`; its length and its sender.
///
/// # Errors
///
/// As [`udp_recvl`].
#[doc = include_str!("../../docs/udp_recv.md")]
pub fn udp_recv(
    s: &mut UdpSocket,
    buf: &mut [u8],
    deadline: i64,
) -> io::Result<(usize, SocketAddr)> {
    udp_recvl(s, &mut [IoSliceMut::new(buf)], deadline)
}

/// Receives one datagram, scattered over the buffers of `bufs` in order;
/// its length and its sender. A socket opened with a remote address
/// discards datagrams from any other address.
///
/// # Errors
///
/// * `EINVAL`: `deadline` is negative other than `-1`.
/// * `EMSGSIZE`: the datagram did not fit in `bufs` (it is discarded).
/// * `ETIMEDOUT`: the deadline passed first.
/// * `ECANCELED`: the calling coroutine is being cancelled.
#[doc = include_str!("../../docs/udp_recvl.md")]
pub fn udp_recvl(
    s: &mut UdpSocket,
    bufs: &mut [IoSliceMut<'_>],
    deadline: i64,
) -> io::Result<(usize, SocketAddr)> {
    if deadline < -1 {
        return Err(err(libc::EINVAL));
    }
    let fd = s.fd.as_raw_fd();
    loop {
        let mut raw = RawAddr::empty();
        let (storage, len) = raw.as_mut();
        // SAFETY: msghdr is plain old data; zero is a valid value.
        let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
        hdr.msg_name = (storage as *mut libc::sockaddr_storage).cast();
        hdr.msg_namelen = *len;
        // `IoSliceMut` is guaranteed ABI-compatible with `iovec` on Unix.
        hdr.msg_iov = bufs.as_mut_ptr() as *mut libc::iovec;
        hdr.msg_iovlen = bufs.len() as _;
        // SAFETY: `hdr` points to our address buffer and the caller's
        // buffers, all alive and writable for the call.
        let r = unsafe { libc::recvmsg(fd, &mut hdr, 0) };
        if r >= 0 {
            *raw.as_mut().1 = hdr.msg_namelen;
            let from = match raw.to_socket_addr() {
                Ok(a) => a,
                Err(_) => continue,
            };
            if let Some(remote) = s.remote {
                if from.ip() != remote.ip() || from.port() != remote.port() {
                    continue;
                }
            }
            if hdr.msg_flags & libc::MSG_TRUNC != 0 {
                return Err(err(libc::EMSGSIZE));
            }
            return Ok((r as usize, from));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EAGAIN) => fdin_edge(fd, deadline)?,
            _ => return Err(e),
        }
    }
}

/// A socket opened with a remote address carries messages to and from
/// it. Without one, [`msend`](dill_runtime::msend) fails with `EINVAL` and
/// [`mrecv`](dill_runtime::mrecv) takes datagrams from anyone. Sending
/// never blocks, so the deadline only matters to receiving (it is still
/// checked: `EINVAL` if negative other than `-1`).
impl MsgStream for UdpSocket {
    fn msendl(&mut self, bufs: &[IoSlice<'_>], deadline: i64) -> io::Result<()> {
        if deadline < -1 {
            return Err(err(libc::EINVAL));
        }
        udp_sendl(self, None, bufs)
    }

    fn mrecvl(&mut self, bufs: &mut [IoSliceMut<'_>], deadline: i64) -> io::Result<usize> {
        udp_recvl(self, bufs, deadline).map(|(n, _)| n)
    }
}
