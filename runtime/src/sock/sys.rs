//! System-call helpers shared by every socket family.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Turns the `-1`-and-`errno` convention of a libc call into an
/// [`io::Result`]: `-1` becomes the thread's `errno`, anything else is
/// passed through.
#[inline]
pub fn cvt(res: libc::c_int) -> io::Result<libc::c_int> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// An error carrying errno value `code` (no allocation).
#[inline]
pub fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// `EINVAL` for a deadline that is neither `-1`, `0` nor positive.
#[inline]
pub fn check_deadline(deadline: i64) -> io::Result<()> {
    if deadline < -1 {
        Err(err(libc::EINVAL))
    } else {
        Ok(())
    }
}

/// Flags that make a new socket close-on-exec and non-blocking in the call
/// that creates it (`socket`, `socketpair`, `accept4`).
#[cfg(not(target_vendor = "apple"))]
pub const SOCK_FLAGS: libc::c_int = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
/// Apple systems have no such flags: [`finish_socket`] sets them instead.
#[cfg(target_vendor = "apple")]
pub const SOCK_FLAGS: libc::c_int = 0;

/// Flag for `recvmsg` making received descriptors close-on-exec.
#[cfg(not(target_vendor = "apple"))]
pub const RECV_CLOEXEC: libc::c_int = libc::MSG_CMSG_CLOEXEC;
/// Apple systems have no such flag: [`finish_received_fd`] sets it instead.
#[cfg(target_vendor = "apple")]
pub const RECV_CLOEXEC: libc::c_int = 0;

/// Creates a socket of `domain` and `ty` (`SOCK_STREAM`, …), non-blocking
/// and close-on-exec from birth, without `SIGPIPE` on Apple systems.
pub fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; any argument values are safe.
    let fd = cvt(unsafe { libc::socket(domain, ty | SOCK_FLAGS, 0) })?;
    // SAFETY: the kernel has just returned `fd`, a fresh descriptor nobody
    // else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    finish_socket(&fd)?;
    Ok(fd)
}

/// Completes a socket created with [`SOCK_FLAGS`]: nothing to do where the
/// flags exist; on Apple systems sets close-on-exec, non-blocking and
/// `SO_NOSIGPIPE` (three more system calls, the price of the platform).
#[inline]
pub fn finish_socket(fd: &OwnedFd) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    {
        let raw = fd.as_raw_fd();
        finish_received_fd(raw)?;
        set_nonblocking(fd)?;
        set_sockopt_int(raw, libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1)?;
    }
    #[cfg(not(target_vendor = "apple"))]
    let _ = fd;
    Ok(())
}

/// Completes a descriptor received with [`RECV_CLOEXEC`]: nothing to do
/// where the flag exists; on Apple systems sets close-on-exec.
#[inline]
pub fn finish_received_fd(fd: RawFd) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    // SAFETY: fcntl on a descriptor we own.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    #[cfg(not(target_vendor = "apple"))]
    let _ = fd;
    Ok(())
}

/// Makes `fd` non-blocking if it is not already.
pub fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_SETFL takes an integer argument.
        cvt(unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// Reads an integer socket option of level `SOL_SOCKET`.
pub fn sockopt_int(fd: RawFd, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut val: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `val` and `len` are valid for writes and `len` holds the size
    // of `val`.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&mut val as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(val)
}

/// Sets the `c_int` socket option `opt` of `level` on `fd` to `val`.
pub fn set_sockopt_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `val` is a live c_int of the length given.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&val as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// What kind of socket a descriptor handed to a `_fromfd` call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockKind {
    /// Address family (`AF_UNIX`, `AF_INET`, `AF_INET6`, …).
    pub family: libc::c_int,
    /// Socket type (`SOCK_STREAM`, …).
    pub ty: libc::c_int,
    /// Whether it is a listening socket.
    pub listening: bool,
}

/// Looks at the socket `fd`: `ENOTSOCK` for anything that is not a socket,
/// `EBADF` for a descriptor that is not open.
pub fn sock_kind(fd: RawFd) -> io::Result<SockKind> {
    // getsockname works on any socket and says ENOTSOCK for anything else.
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `ss` and `len` are valid for writes, `len` is `ss`'s size.
    cvt(unsafe {
        libc::getsockname(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    Ok(SockKind {
        family: libc::c_int::from(ss.ss_family),
        ty: sockopt_int(fd, libc::SO_TYPE)?,
        listening: sockopt_int(fd, libc::SO_ACCEPTCONN)? != 0,
    })
}

/// `ENOTCONN` unless the stream socket `fd` is connected to a peer.
pub fn check_connected(fd: RawFd) -> io::Result<()> {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `ss` and `len` are valid for writes, `len` is `ss`'s size.
    cvt(unsafe {
        libc::getpeername(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    Ok(())
}

/// Closes a descriptor that may have been waited on by the runtime: it is
/// first removed from the reactor (failing any waiter with `EBADF`), then
/// closed. Errors from `close` are ignored: the descriptor is gone either
/// way on Linux.
pub fn close_waited(fd: RawFd) {
    crate::fdclean(fd);
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe {
        libc::close(fd);
    }
}

/// Waits until the non-blocking `connect` in progress on `fd` completes:
/// writability, then `SO_ERROR`. On error the descriptor is taken out of the
/// reactor (the caller then drops it).
pub fn finish_connect(fd: &OwnedFd, deadline: i64) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    let res = crate::fdout(raw, deadline).and_then(|()| match sockopt_int(raw, libc::SO_ERROR)? {
        0 => Ok(()),
        code => Err(err(code)),
    });
    if res.is_err() {
        crate::fdclean(raw);
    }
    res
}

/// Accepts one connection on the listening socket `lfd`, close-on-exec and
/// non-blocking from birth, waiting until the deadline. The peer's address
/// is written to `addr` when given, with its length returned.
///
/// Connections that died in the queue are skipped; `EAGAIN` waits.
/// Errors: `EINVAL` (bad deadline), `ECANCELED`, `ETIMEDOUT`, `EBUSY`
/// (another coroutine accepts on `lfd`), and those of `accept4` (`EMFILE`,
/// `ENFILE`, `ENOBUFS`, `ENOMEM`, …).
pub fn accept(
    lfd: RawFd,
    mut addr: Option<&mut libc::sockaddr_storage>,
    deadline: i64,
) -> io::Result<(OwnedFd, libc::socklen_t)> {
    check_deadline(deadline)?;
    crate::check_cancelled()?;
    loop {
        let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let (ptr, lenp) = match addr.as_deref_mut() {
            Some(ss) => (
                (ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr>(),
                &mut len as *mut libc::socklen_t,
            ),
            None => (std::ptr::null_mut(), std::ptr::null_mut()),
        };
        match cvt(accept_raw(lfd, ptr, lenp)) {
            Ok(fd) => {
                // SAFETY: accept has just returned a new descriptor we own.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                finish_socket(&fd)?;
                return Ok((fd, len));
            }
            Err(e) => match e.raw_os_error() {
                // Exclusive: when several threads accept from this socket
                // (each through its own listener, see `Listener::share`),
                // a connection wakes one of them, not all.
                Some(libc::EAGAIN) => crate::fdin_exclusive(lfd, deadline)?,
                // The connection died in the queue, or a signal arrived:
                // try the next one.
                Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO) => {}
                _ => return Err(e),
            },
        }
    }
}

/// One `accept4` with close-on-exec and non-blocking set in the same call.
#[cfg(not(target_vendor = "apple"))]
fn accept_raw(lfd: RawFd, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) -> libc::c_int {
    // SAFETY: `addr`/`len` are both null or point to a sockaddr_storage and
    // its size (see `accept`).
    unsafe { libc::accept4(lfd, addr, len, SOCK_FLAGS) }
}

/// Apple systems have no `accept4`: a plain `accept`, completed by
/// [`finish_socket`].
#[cfg(target_vendor = "apple")]
fn accept_raw(lfd: RawFd, addr: *mut libc::sockaddr, len: *mut libc::socklen_t) -> libc::c_int {
    // SAFETY: as above.
    unsafe { libc::accept(lfd, addr, len) }
}

/// `SO_INQ` (uapi `asm-generic/socket.h`, Linux 6.17): AF_UNIX stream
/// sockets report the bytes left to read after each receive. `libc` may
/// lack it.
#[cfg(any(target_os = "linux", target_os = "android"))]
const SO_INQ: libc::c_int = 84;

/// `TCP_INQ` / `TCP_CM_INQ` (uapi `linux/tcp.h`, Linux 4.18): the same for
/// TCP sockets.
#[cfg(any(target_os = "linux", target_os = "android"))]
const TCP_INQ: libc::c_int = 36;

/// Asks the kernel to report (`on`), or to stop reporting, with every
/// receive on `fd`, how many bytes are left in its receive queue (`SO_INQ`
/// for AF_UNIX, `TCP_INQ` for TCP). Returns whether it took. One or two
/// system calls; elsewhere than Linux, false at once.
pub(crate) fn set_inq(fd: RawFd, on: bool) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let on = libc::c_int::from(on);
        set_sockopt_int(fd, libc::SOL_SOCKET, SO_INQ, on).is_ok()
            || set_sockopt_int(fd, libc::IPPROTO_TCP, TCP_INQ, on).is_ok()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (fd, on);
        false
    }
}

/// Room for one control message carrying a `c_int`, aligned for `cmsghdr`.
#[repr(C)]
union InqBuf {
    _align: libc::cmsghdr,
    bytes: [u8; 32],
}

/// `recvmsg` on `fd` into `cnt` buffers at `iov`, asking for the bytes left
/// afterwards (see [`set_inq`]): returns the call's result and, when the
/// kernel said, whether the receive queue is now empty. A message carrying
/// descriptors that this receive reached has them discarded, as a plain
/// `recv` would.
pub(crate) fn recv_inq(fd: RawFd, iov: *mut libc::iovec, cnt: usize) -> (isize, bool) {
    let mut cbuf = InqBuf { bytes: [0; 32] };
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = cnt as _;
    msg.msg_control = (&mut cbuf as *mut InqBuf).cast();
    msg.msg_controllen = mem::size_of::<InqBuf>() as _;
    // SAFETY: the caller's `iov` describes `cnt` live, writable buffers;
    // `cbuf` is a live control buffer of the size given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    (n, n > 0 && inq_says_empty(&msg))
}

/// Whether the control messages of a receive say nothing is left.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn inq_says_empty(msg: &libc::msghdr) -> bool {
    let mut empty = false;
    // SAFETY: the kernel filled `msg`'s control buffer; the CMSG macros
    // only walk within `msg_controllen`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
            if (level == libc::SOL_SOCKET && ty == SO_INQ)
                || (level == libc::SOL_TCP && ty == TCP_INQ)
            {
                let left = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                empty = left == 0;
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    empty
}

/// Elsewhere the kernel gives no such report.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn inq_says_empty(_msg: &libc::msghdr) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvt_maps_minus_one_to_errno() {
        // SAFETY: closing an invalid descriptor has no effect besides EBADF.
        let r = cvt(unsafe { libc::close(-1) });
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn deadlines() {
        assert!(check_deadline(-1).is_ok());
        assert!(check_deadline(0).is_ok());
        assert!(check_deadline(12345).is_ok());
        assert_eq!(
            check_deadline(-2).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            check_deadline(i64::MIN).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn sockets_are_cloexec_and_nonblocking() {
        for domain in [libc::AF_UNIX, libc::AF_INET] {
            let s = socket(domain, libc::SOCK_STREAM).unwrap();
            // SAFETY: F_GETFD/F_GETFL on an open descriptor take no pointers.
            let fdf = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFD) };
            // SAFETY: as above.
            let flf = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFL) };
            assert_ne!(fdf & libc::FD_CLOEXEC, 0);
            assert_ne!(flf & libc::O_NONBLOCK, 0);
        }
    }
}
