//! Address modes and the `ipaddr_*` family.

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
