//! `std::net::SocketAddr` to and from the kernel's `sockaddr_in`/`_in6`,
//! without allocating.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use super::sys::{cvt, err};

/// A socket address in kernel form: a `sockaddr_storage` and the length of
/// its meaningful part.
#[derive(Clone, Copy)]
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    /// An empty address buffer, for the kernel to fill (`accept`,
    /// `recvfrom`, `getsockname`).
    pub fn empty() -> RawAddr {
        RawAddr {
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// The kernel form of `addr`.
    pub fn new(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for
                // any sockaddr type.
                let sin = unsafe {
                    &mut *(&mut raw.storage as *mut libc::sockaddr_storage)
                        .cast::<libc::sockaddr_in>()
                };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                raw.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above.
                let sin6 = unsafe {
                    &mut *(&mut raw.storage as *mut libc::sockaddr_storage)
                        .cast::<libc::sockaddr_in6>()
                };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                sin6.sin6_scope_id = a.scope_id();
                raw.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    /// The address family (`AF_INET`, `AF_INET6`, …).
    pub fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// Pointer for `connect`, `bind`, `sendto`.
    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    /// The storage and its length, for calls that fill them in.
    pub fn as_mut(&mut self) -> (&mut libc::sockaddr_storage, &mut libc::socklen_t) {
        (&mut self.storage, &mut self.len)
    }

    /// Length of the meaningful part.
    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// Whether the length is zero (nothing filled in).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address as a `SocketAddr`; `EAFNOSUPPORT` for a family other than
    /// IPv4 and IPv6.
    ///
    /// # Errors
    ///
    /// `EAFNOSUPPORT`.
    pub fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET if self.len as usize >= mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe {
                    &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if self.len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe {
                    &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => Err(err(libc::EAFNOSUPPORT)),
        }
    }
}

impl std::fmt::Debug for RawAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_socket_addr() {
            Ok(a) => write!(f, "RawAddr({a})"),
            Err(_) => write!(f, "RawAddr(family {}, len {})", self.family(), self.len),
        }
    }
}

/// The local address of socket `fd` (`getsockname`).
///
/// # Errors
///
/// `EBADF`, `ENOTSOCK`, `EAFNOSUPPORT` (not an IP socket).
pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let mut raw = RawAddr::empty();
    let (ss, len) = raw.as_mut();
    // SAFETY: `ss` and `len` are valid for writes, `len` is `ss`'s size.
    cvt(unsafe { libc::getsockname(fd, (ss as *mut libc::sockaddr_storage).cast(), len) })?;
    raw.to_socket_addr()
}

/// The address of the peer of socket `fd` (`getpeername`).
///
/// # Errors
///
/// `EBADF`, `ENOTSOCK`, `ENOTCONN`, `EAFNOSUPPORT` (not an IP socket).
pub fn peer_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let mut raw = RawAddr::empty();
    let (ss, len) = raw.as_mut();
    // SAFETY: `ss` and `len` are valid for writes, `len` is `ss`'s size.
    cvt(unsafe { libc::getpeername(fd, (ss as *mut libc::sockaddr_storage).cast(), len) })?;
    raw.to_socket_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["127.0.0.1:80", "[::1]:65535", "[fe80::1%3]:9", "0.0.0.0:0"] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(RawAddr::new(&a).to_socket_addr().unwrap(), a);
        }
        assert_eq!(
            RawAddr::empty()
                .to_socket_addr()
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EAFNOSUPPORT)
        );
    }
}
