//! Filesystem paths turned into `sockaddr_un`, without allocating.

use std::io;
use std::mem;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::sys::err;

/// A `sockaddr_un` built in place from a path, with its meaningful length.
pub(crate) struct SockAddr {
    pub(crate) addr: libc::sockaddr_un,
    pub(crate) len: libc::socklen_t,
}

impl SockAddr {
    /// Builds the address for a socket file at `path`.
    ///
    /// Only named (filesystem) sockets are supported:
    ///
    /// * an empty path is `ENOENT`, as `open("")` would say;
    /// * a path with a NUL byte is `EINVAL` (this also rules out Linux
    ///   abstract addresses, which start with NUL);
    /// * a path that does not fit in `sun_path` together with its
    ///   terminating NUL is `ENAMETOOLONG`.
    pub(crate) fn new(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        if bytes.is_empty() {
            return Err(err(libc::ENOENT));
        }
        if bytes.contains(&0) {
            return Err(err(libc::EINVAL));
        }
        // SAFETY: sockaddr_un is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
        if bytes.len() >= addr.sun_path.len() {
            return Err(err(libc::ENAMETOOLONG));
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        // The terminating NUL is already there (zeroed memory).
        let base = mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = (base + bytes.len() + 1) as libc::socklen_t;
        Ok(SockAddr { addr, len })
    }

    /// Pointer suitable for `connect`/`bind`.
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.addr as *const libc::sockaddr_un).cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(p: &str) -> Option<i32> {
        SockAddr::new(Path::new(p))
            .err()
            .and_then(|e| e.raw_os_error())
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(errno(""), Some(libc::ENOENT));
        assert_eq!(errno("a\0b"), Some(libc::EINVAL));
        assert_eq!(errno("\0abstract"), Some(libc::EINVAL));
        let long = "x".repeat(108);
        assert_eq!(errno(&long), Some(libc::ENAMETOOLONG));
    }

    #[test]
    fn longest_path_fits() {
        let p = "y".repeat(107);
        let a = SockAddr::new(Path::new(&p)).unwrap();
        assert_eq!(a.addr.sun_family, libc::AF_UNIX as libc::sa_family_t);
        assert_eq!(a.addr.sun_path[106], b'y' as libc::c_char);
        assert_eq!(a.addr.sun_path[107], 0);
        assert_eq!(
            a.len as usize,
            mem::offset_of!(libc::sockaddr_un, sun_path) + 108
        );
    }
}
