//! Address modes and the `ipaddr_*` family: literals, local interfaces,
//! remote names (through [`crate::dns`]).

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::dns;

/// Which IP versions an address lookup may return, as libdill's `IPADDR_*`
/// modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpMode {
    /// IPv4 addresses only (`IPADDR_IPV4`).
    Ipv4,
    /// IPv6 addresses only (`IPADDR_IPV6`).
    Ipv6,
    /// IPv4 if the name has one, else IPv6 (`IPADDR_PREF_IPV4`).
    #[default]
    PreferIpv4,
    /// IPv6 if the name has one, else IPv4 (`IPADDR_PREF_IPV6`).
    PreferIpv6,
}

impl IpMode {
    /// Whether the mode accepts IPv4 addresses.
    pub(crate) fn wants_v4(self) -> bool {
        self != IpMode::Ipv6
    }

    /// Whether the mode accepts IPv6 addresses.
    pub(crate) fn wants_v6(self) -> bool {
        self != IpMode::Ipv4
    }

    /// Whether IPv6 addresses come before IPv4 ones in results.
    pub(crate) fn v6_first(self) -> bool {
        matches!(self, IpMode::Ipv6 | IpMode::PreferIpv6)
    }
}

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Orders `addrs` as `mode` asks: only the families it accepts, the
/// preferred family first, each family in its original order.
pub(crate) fn order_for_mode(addrs: &[SocketAddr], mode: IpMode) -> Vec<SocketAddr> {
    let v4 = addrs.iter().filter(|a| a.is_ipv4() && mode.wants_v4());
    let v6 = addrs.iter().filter(|a| a.is_ipv6() && mode.wants_v6());
    if mode.v6_first() {
        v6.chain(v4).copied().collect()
    } else {
        v4.chain(v6).copied().collect()
    }
}

/// A local address: `None` is the unspecified ("any") address of the
/// mode's preferred family; otherwise a literal IPv4 or IPv6 address, or
/// the name of a local network interface (its first address of the
/// family the mode asks for).
///
/// # Errors
///
/// * `EADDRNOTAVAIL`: `name` is a literal of the family the mode excludes.
/// * `ENODEV`: no local interface has that name, or it has no address of
///   a family the mode accepts.
/// * `ENOMEM`: the list of interfaces could not be read for want of memory.
#[doc = include_str!("../../docs/ipaddr_local.md")]
pub fn ipaddr_local(name: Option<&str>, port: u16, mode: IpMode) -> io::Result<SocketAddr> {
    let name = match name {
        None => {
            let ip: IpAddr = if mode.v6_first() {
                Ipv6Addr::UNSPECIFIED.into()
            } else {
                Ipv4Addr::UNSPECIFIED.into()
            };
            return Ok(SocketAddr::new(ip, port));
        }
        Some(n) => n,
    };
    if let Some(addr) = literal(name, port)? {
        return check_family(addr, mode);
    }
    interface_addr(name, port, mode)
}

/// A remote address: a literal, `localhost`, a name of the hosts file, or
/// a name resolved over DNS without blocking the thread. The first address
/// of the order [`ipaddr_remotes`] gives.
///
/// # Errors
///
/// As [`ipaddr_remotes`].
#[doc = include_str!("../../docs/ipaddr_remote.md")]
pub fn ipaddr_remote(name: &str, port: u16, mode: IpMode, deadline: i64) -> io::Result<SocketAddr> {
    // One address is needed: the preferred family's answer is enough.
    let addrs = remotes(name, port, mode, deadline, Some(dns::FIRST_ONLY))?;
    // `remotes` never returns an empty list.
    addrs.into_iter().next().ok_or_else(|| err(libc::ENOENT))
}

/// Every address of a remote name, in the mode's order: the preferred
/// family first, each family in the order the hosts file or the name
/// server gave.
///
/// # Errors
///
/// * `EINVAL`: `deadline` is negative other than `-1`, or `name` is not a
///   valid host name (empty, a label empty or over 63 bytes, over 253
///   bytes, characters other than letters, digits, `-` and `_`).
/// * `EADDRNOTAVAIL`: `name` is a literal of the family the mode excludes.
/// * `ENOENT`: the name does not exist (NXDOMAIN), or has no address of a
///   family the mode accepts.
/// * `ETIMEDOUT`: the deadline passed, or every name server stayed silent
///   through every try.
/// * `ECANCELED`: the calling coroutine is being cancelled.
/// * `ECONNREFUSED`: no name server gave a usable answer: each was
///   unreachable or refused or failed the query.
/// * `EMFILE`, `ENFILE`, `ENOMEM`: no socket could be made for the query.
#[doc = include_str!("../../docs/ipaddr_remotes.md")]
pub fn ipaddr_remotes(
    name: &str,
    port: u16,
    mode: IpMode,
    deadline: i64,
) -> io::Result<Vec<SocketAddr>> {
    remotes(name, port, mode, deadline, None)
}

/// [`ipaddr_remotes`], with the resolver's settling time (see
/// [`dns::resolve`]).
pub(crate) fn remotes(
    name: &str,
    port: u16,
    mode: IpMode,
    deadline: i64,
    settle: Option<dns::Settle>,
) -> io::Result<Vec<SocketAddr>> {
    if deadline < -1 {
        return Err(err(libc::EINVAL));
    }
    if let Some(addr) = literal(name, port)? {
        return Ok(vec![check_family(addr, mode)?]);
    }
    let mut addrs = dns::resolve(name, mode, deadline, settle)?;
    for a in &mut addrs {
        a.set_port(port);
    }
    Ok(addrs)
}

/// `addr` if its family suits `mode`, else `EADDRNOTAVAIL`.
fn check_family(addr: SocketAddr, mode: IpMode) -> io::Result<SocketAddr> {
    let ok = match addr {
        SocketAddr::V4(_) => mode.wants_v4(),
        SocketAddr::V6(_) => mode.wants_v6(),
    };
    if ok {
        Ok(addr)
    } else {
        Err(err(libc::EADDRNOTAVAIL))
    }
}

/// Parses an IPv4 dotted quad or an IPv6 address, the latter optionally
/// with a zone (`fe80::1%eth0` or `fe80::1%2`). `Ok(None)` when `name` is
/// not a literal; `ENODEV` for a zone naming no interface.
pub(crate) fn literal(name: &str, port: u16) -> io::Result<Option<SocketAddr>> {
    if let Ok(v4) = name.parse::<Ipv4Addr>() {
        return Ok(Some(SocketAddr::V4(SocketAddrV4::new(v4, port))));
    }
    let (ip, zone) = match name.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (name, None),
    };
    let Ok(v6) = ip.parse::<Ipv6Addr>() else {
        return Ok(None);
    };
    let scope = match zone {
        None => 0,
        Some(z) => zone_index(z)?,
    };
    Ok(Some(SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope))))
}

/// The interface index a zone names: a number, or an interface name.
fn zone_index(zone: &str) -> io::Result<u32> {
    if let Ok(n) = zone.parse::<u32>() {
        return Ok(n);
    }
    let c = CString::new(zone).map_err(|_| err(libc::ENODEV))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(err(libc::ENODEV))
    } else {
        Ok(idx)
    }
}

/// The first address of the interface `name` of the family `mode` wants.
fn interface_addr(name: &str, port: u16, mode: IpMode) -> io::Result<SocketAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `list` is a valid out-pointer; on success it is freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOBUFS) => err(libc::ENOMEM),
            _ => e,
        });
    }
    let mut v4 = None;
    let mut v6 = None;
    let mut it = list;
    while !it.is_null() {
        // SAFETY: `it` is a node of the list getifaddrs returned, alive
        // until freeifaddrs below.
        let ifa = unsafe { &*it };
        it = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        if unsafe { CStr::from_ptr(ifa.ifa_name) }.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr points to a socket address whose family field
        // says which structure it is.
        let found = unsafe { sockaddr_ptr_to_std(ifa.ifa_addr) };
        match found {
            Some(SocketAddr::V4(a)) if v4.is_none() => v4 = Some(SocketAddr::V4(a)),
            Some(SocketAddr::V6(a)) if v6.is_none() => v6 = Some(SocketAddr::V6(a)),
            _ => {}
        }
    }
    // SAFETY: `list` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    let pick = match mode {
        IpMode::Ipv4 => v4,
        IpMode::Ipv6 => v6,
        IpMode::PreferIpv4 => v4.or(v6),
        IpMode::PreferIpv6 => v6.or(v4),
    };
    let mut addr = pick.ok_or_else(|| err(libc::ENODEV))?;
    addr.set_port(port);
    Ok(addr)
}

/// Reads an IPv4 or IPv6 socket address from a `sockaddr` of any family;
/// `None` for other families.
///
/// # Safety
///
/// `sa` must point to a valid socket address of the size its family
/// implies.
unsafe fn sockaddr_ptr_to_std(sa: *const libc::sockaddr) -> Option<SocketAddr> {
    // SAFETY: the caller guarantees `sa` is valid; the family field is
    // common to every sockaddr.
    let family = unsafe { (*sa).sa_family } as libc::c_int;
    match family {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin = unsafe { &*(sa as *const libc::sockaddr_in) };
            Some(v4_from_c(sin))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6 = unsafe { &*(sa as *const libc::sockaddr_in6) };
            Some(v6_from_c(sin6))
        }
        _ => None,
    }
}

fn v4_from_c(sin: &libc::sockaddr_in) -> SocketAddr {
    let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
    SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)))
}

fn v6_from_c(sin6: &libc::sockaddr_in6) -> SocketAddr {
    let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
    SocketAddr::V6(SocketAddrV6::new(
        ip,
        u16::from_be(sin6.sin6_port),
        sin6.sin6_flowinfo,
        sin6.sin6_scope_id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(
            literal("10.0.0.1", 5).unwrap(),
            Some("10.0.0.1:5".parse().unwrap())
        );
        assert_eq!(literal("::1", 5).unwrap(), Some("[::1]:5".parse().unwrap()));
        assert_eq!(
            literal("fe80::1%7", 5).unwrap(),
            Some("[fe80::1%7]:5".parse().unwrap())
        );
        assert_eq!(literal("example.org", 5).unwrap(), None);
        assert_eq!(literal("1.2.3", 5).unwrap(), None);
        assert_eq!(literal("", 5).unwrap(), None);
        assert_eq!(
            literal("fe80::1%no-such-if0", 5)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENODEV)
        );
    }

    #[test]
    fn mode_order() {
        let v: Vec<SocketAddr> = vec![
            "[::1]:1".parse().unwrap(),
            "1.1.1.1:1".parse().unwrap(),
            "[::2]:1".parse().unwrap(),
            "2.2.2.2:1".parse().unwrap(),
        ];
        let s = |m| {
            order_for_mode(&v, m)
                .iter()
                .map(|a| a.ip().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(s(IpMode::Ipv4), "1.1.1.1 2.2.2.2");
        assert_eq!(s(IpMode::Ipv6), "::1 ::2");
        assert_eq!(s(IpMode::PreferIpv4), "1.1.1.1 2.2.2.2 ::1 ::2");
        assert_eq!(s(IpMode::PreferIpv6), "::1 ::2 1.1.1.1 2.2.2.2");
    }
}
