//! Thin helpers over the system calls the crate uses.
//!
//! Everything that touches `libc` directly and is shared by several modules
//! lives here: the [`syscall!`] error conversion, deadline validation and the
//! socket constructors. A new descriptor is wrapped in an [`OwnedFd`] the
//! moment the kernel hands it out, so every later error path closes it.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Turns the `-1`-and-`errno` convention of a libc call into an
/// [`io::Result`].
///
/// The argument is the expression performing the call (usually an `unsafe`
/// block carrying its own `// SAFETY:` justification); any other return
/// value is passed through as `Ok`.
macro_rules! syscall {
    ($call:expr) => {{
        let res = $call;
        if res == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

/// An error carrying `errno` value `code`.
#[inline]
pub(crate) fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// `EINVAL` for a deadline that is neither `-1`, `0` nor positive.
#[inline]
pub(crate) fn check_deadline(deadline: i64) -> io::Result<()> {
    if deadline < -1 {
        Err(err(libc::EINVAL))
    } else {
        Ok(())
    }
}

/// Creates an unbound, unconnected `AF_UNIX` stream socket, non-blocking
/// and close-on-exec from birth.
///
/// The kernel's "no buffer space" (`ENOBUFS`) is reported as `ENOMEM`, the
/// one out-of-memory errno the IPC man pages document.
pub(crate) fn stream_socket() -> io::Result<OwnedFd> {
    let fd = syscall!(
        // SAFETY: socket() takes no pointers; any argument values are safe.
        unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | SOCK_FLAGS, 0) }
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::ENOBUFS) => err(libc::ENOMEM),
        _ => e,
    })?;
    // SAFETY: the kernel has just returned `fd`, a fresh descriptor nobody
    // else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    finish_socket(&fd)?;
    Ok(fd)
}

/// Flags that make a new socket close-on-exec and non-blocking in the call
/// that creates it (`socket`, `socketpair`, `accept4`).
#[cfg(not(target_vendor = "apple"))]
pub(crate) const SOCK_FLAGS: libc::c_int = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
/// Apple systems have no such flags: [`finish_socket`] sets them instead.
#[cfg(target_vendor = "apple")]
pub(crate) const SOCK_FLAGS: libc::c_int = 0;

/// Flag for `recvmsg` making received descriptors close-on-exec.
#[cfg(not(target_vendor = "apple"))]
pub(crate) const RECV_CLOEXEC: libc::c_int = libc::MSG_CMSG_CLOEXEC;
/// Apple systems have no such flag: [`finish_received_fd`] sets it instead.
#[cfg(target_vendor = "apple")]
pub(crate) const RECV_CLOEXEC: libc::c_int = 0;

/// Completes a socket created with [`SOCK_FLAGS`]: nothing to do where the
/// flags exist; on Apple systems sets close-on-exec, non-blocking and
/// `SO_NOSIGPIPE` (three more system calls, the price of the platform).
#[inline]
pub(crate) fn finish_socket(fd: &OwnedFd) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    {
        use std::os::fd::AsRawFd;
        let fd = fd.as_raw_fd();
        finish_received_fd(fd)?;
        // SAFETY: fcntl on our own descriptor.
        syscall!(unsafe {
            libc::fcntl(
                fd,
                libc::F_SETFL,
                libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
            )
        })?;
        let on: libc::c_int = 1;
        syscall!(
            // SAFETY: `on` is a valid c_int for the option's length.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_NOSIGPIPE,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            }
        )?;
    }
    #[cfg(not(target_vendor = "apple"))]
    let _ = fd;
    Ok(())
}

/// Completes a descriptor received with [`RECV_CLOEXEC`]: nothing to do
/// where the flag exists; on Apple systems sets close-on-exec.
#[inline]
pub(crate) fn finish_received_fd(fd: RawFd) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    // SAFETY: fcntl on a descriptor we own.
    syscall!(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    #[cfg(not(target_vendor = "apple"))]
    let _ = fd;
    Ok(())
}

/// Closes a descriptor that may have been waited on by the runtime: it is
/// first removed from the reactor (failing any waiter with `EBADF`), then
/// closed. Errors from `close` are ignored: the descriptor is gone either
/// way on Linux.
pub(crate) fn close_waited(fd: RawFd) {
    dill_runtime::fdclean(fd);
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe {
        libc::close(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_maps_minus_one_to_errno() {
        let r: io::Result<i32> = syscall!(
            // SAFETY: closing an invalid descriptor has no effect besides EBADF.
            unsafe { libc::close(-1) }
        );
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
        use std::os::fd::AsRawFd;
        let s = stream_socket().unwrap();
        // SAFETY: F_GETFD/F_GETFL on an open descriptor take no pointers.
        let fdf = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFD) };
        // SAFETY: as above.
        let flf = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFL) };
        assert_ne!(fdf & libc::FD_CLOEXEC, 0);
        assert_ne!(flf & libc::O_NONBLOCK, 0);
    }
}
