//! Error helpers and the errno values users match on.

use std::io;

/// Builds an `io::Error` from an errno value (no allocation).
#[inline]
pub(crate) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Turns a wait result (`>= 0` clause index, `< 0` negated errno) into a
/// `Result`.
#[inline]
pub(crate) fn wait_result(r: i32) -> io::Result<usize> {
    if r >= 0 {
        Ok(r as usize)
    } else {
        Err(errno(-r))
    }
}

/// The errno values dill's calls report, for matching errors without a
/// dependency on `libc`:
///
/// ```
/// use dill::*;
///
/// let (a, _b) = chmake::<u8>()?;
/// let err = a.recv(after(10)).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(errno::ETIMEDOUT));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// `std::io::ErrorKind` has no kind for `ECANCELED` (it is `Uncategorized`,
/// which cannot be matched), so match on [`raw_os_error`]; [`is_errno`]
/// spells that out.
///
/// [`raw_os_error`]: std::io::Error::raw_os_error
/// [`is_errno`]: errno::is_errno
pub mod errno {
    pub use libc::{
        EACCES, EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, EAGAIN, EBADF, EBUSY, ECANCELED,
        ECONNABORTED, ECONNREFUSED, ECONNRESET, EEXIST, EHOSTUNREACH, EINVAL, EISCONN, ELOOP,
        EMFILE, EMSGSIZE, ENAMETOOLONG, ENETUNREACH, ENFILE, ENOBUFS, ENOENT, ENOMEM, ENOTCONN,
        ENOTDIR, ENOTSOCK, ENOTSUP, EPIPE, EPROTO, ETIMEDOUT,
    };
    // `ipaddr_local`: no interface of that name.
    pub use libc::ENODEV;

    /// Whether `err` carries the errno `code`: `is_errno(&e, ECANCELED)`.
    pub fn is_errno(err: &std::io::Error, code: i32) -> bool {
        err.raw_os_error() == Some(code)
    }
}
