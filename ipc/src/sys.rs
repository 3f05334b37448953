//! The [`syscall!`] error conversion and the `AF_UNIX` socket constructor.
//!
//! Everything shared with the other socket families (deadline validation,
//! creation flags, closing, accepting) is the runtime's socket core,
//! [`dill_runtime::sock`]. A new descriptor is wrapped in an [`OwnedFd`]
//! the moment the kernel hands it out, so every later error path closes it.

use std::io;
use std::os::fd::OwnedFd;

pub(crate) use dill_runtime::sock::{check_deadline, err, finish_received_fd, RECV_CLOEXEC};

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

/// Creates an unbound, unconnected `AF_UNIX` stream socket, non-blocking
/// and close-on-exec from birth.
///
/// The kernel's "no buffer space" (`ENOBUFS`) is reported as `ENOMEM`, the
/// one out-of-memory errno the IPC man pages document.
pub(crate) fn stream_socket() -> io::Result<OwnedFd> {
    dill_runtime::sock::socket(libc::AF_UNIX, libc::SOCK_STREAM).map_err(|e| {
        match e.raw_os_error() {
            Some(libc::ENOBUFS) => err(libc::ENOMEM),
            _ => e,
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn syscall_maps_minus_one_to_errno() {
        let r: std::io::Result<i32> = syscall!(
            // SAFETY: closing an invalid descriptor has no effect besides EBADF.
            unsafe { libc::close(-1) }
        );
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
    }
}
