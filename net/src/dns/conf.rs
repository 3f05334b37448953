//! The resolver's configuration files: `resolv.conf` and the hosts file.
//!
//! Both are read on every lookup that needs them (they are small, and a
//! changed file then takes effect at once, as with the C library). Their
//! paths can be overridden with the environment variables
//! `DILL_RESOLV_CONF` and `DILL_HOSTS`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::wire::Name;
use crate::addr::literal;

/// Default per-try timeout, as the C library's (`options timeout:`), ms.
const DEFAULT_TIMEOUT_MS: i64 = 5000;
/// Longest per-try timeout accepted (`RES_MAXRETRANS`), ms.
const MAX_TIMEOUT_MS: i64 = 30_000;
/// Default number of rounds over the servers (`options attempts:`).
const DEFAULT_ATTEMPTS: u32 = 2;
/// Most rounds accepted (`RES_MAXRETRY`).
const MAX_ATTEMPTS: u32 = 5;
/// Most `ndots` accepted (`RES_MAXNDOTS`).
const MAX_NDOTS: usize = 15;
/// Name servers used at most (`MAXNS`).
const MAX_SERVERS: usize = 3;
/// Search domains used at most.
const MAX_SEARCH: usize = 6;

/// What `resolv.conf` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvConf {
    /// Name servers, port included, in file order.
    pub(crate) servers: Vec<SocketAddr>,
    /// Search domains, in order.
    pub(crate) search: Vec<Name>,
    /// Names with at least this many dots are first tried as given.
    pub(crate) ndots: usize,
    /// How long to wait for one server in one round, ms.
    pub(crate) timeout_ms: i64,
    /// Rounds over the servers.
    pub(crate) attempts: u32,
}

impl Default for ResolvConf {
    fn default() -> ResolvConf {
        ResolvConf {
            servers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            attempts: DEFAULT_ATTEMPTS,
        }
    }
}

/// The path of `resolv.conf`: `$DILL_RESOLV_CONF` or `/etc/resolv.conf`.
pub(crate) fn resolv_conf_path() -> PathBuf {
    std::env::var_os("DILL_RESOLV_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/resolv.conf"))
}

/// The path of the hosts file: `$DILL_HOSTS` or `/etc/hosts`.
pub(crate) fn hosts_path() -> PathBuf {
    std::env::var_os("DILL_HOSTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/hosts"))
}

/// Reads the configuration; a missing or unreadable file gives the
/// defaults (name server 127.0.0.1, as the C library).
pub(crate) fn load_resolv_conf() -> ResolvConf {
    let text = std::fs::read_to_string(resolv_conf_path()).unwrap_or_default();
    parse_resolv_conf(&text)
}

/// Parses `resolv.conf` text. Unknown keywords and options are ignored,
/// as the C library does. Besides the usual `nameserver`, `search`,
/// `domain` and `options ndots:N timeout:N attempts:N`, dill reads
/// `options port:N`: the UDP port of every name server (default 53).
pub(crate) fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf::default();
    let mut port = 53u16;
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("nameserver") => {
                // The address keeps its zone (a link-local server).
                if let Some(sa) = words.next().and_then(|w| literal(w, 0).ok().flatten()) {
                    if conf.servers.len() < MAX_SERVERS {
                        conf.servers.push(sa);
                    }
                }
            }
            // The last of `search` and `domain` wins.
            Some("search") => {
                conf.search = words
                    .filter_map(|w| Name::from_text(w).ok())
                    .take(MAX_SEARCH)
                    .collect();
            }
            Some("domain") => {
                conf.search = words
                    .next()
                    .and_then(|w| Name::from_text(w).ok())
                    .into_iter()
                    .collect();
            }
            Some("options") => {
                for opt in words {
                    let (key, val) = opt.split_once(':').unwrap_or((opt, ""));
                    let n = val.parse::<u64>().ok();
                    match (key, n) {
                        ("ndots", Some(n)) => conf.ndots = (n as usize).min(MAX_NDOTS),
                        ("timeout", Some(n)) => {
                            conf.timeout_ms =
                                (n.min(1000) as i64 * 1000).clamp(1000, MAX_TIMEOUT_MS)
                        }
                        ("attempts", Some(n)) => {
                            conf.attempts = (n.min(1000) as u32).clamp(1, MAX_ATTEMPTS)
                        }
                        ("port", Some(n)) if (1..=65535).contains(&n) => port = n as u16,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if conf.servers.is_empty() {
        conf.servers
            .push(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0));
    }
    for s in &mut conf.servers {
        s.set_port(port);
    }
    conf
}

/// The addresses the hosts file gives `name` (already validated), in file
/// order, with port 0 (IPv6 ones keep their zone); empty when it does not mention it or cannot be read.
pub(crate) fn hosts_lookup(name: &Name) -> Vec<SocketAddr> {
    match std::fs::read_to_string(hosts_path()) {
        Ok(text) => parse_hosts(&text, name),
        Err(_) => Vec::new(),
    }
}

/// The addresses `text` (hosts file format) gives `name`.
pub(crate) fn parse_hosts(text: &str, name: &Name) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_ascii_whitespace();
        let Some(ip) = words.next() else { continue };
        let Ok(Some(addr)) = literal(ip, 0) else {
            continue;
        };
        if words.any(|w| Name::from_text(w).is_ok_and(|n| n == *name)) && !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let c = parse_resolv_conf(
            "# comment\n\
             nameserver 10.0.0.1\n\
             nameserver   ::1  \n\
             nameserver bogus\n\
             nameserver 10.0.0.3 ; trailing comment\n\
             nameserver 10.0.0.4\n\
             search a.test b.test\n\
             options ndots:2 timeout:1 attempts:3 port:5353 rotate\n",
        );
        let s: Vec<String> = c.servers.iter().map(|s| s.to_string()).collect();
        assert_eq!(s, ["10.0.0.1:5353", "[::1]:5353", "10.0.0.3:5353"]);
        assert_eq!(
            c.search.iter().map(|n| n.to_text()).collect::<Vec<_>>(),
            ["a.test", "b.test"]
        );
        assert_eq!((c.ndots, c.timeout_ms, c.attempts), (2, 1000, 3));
        // `domain` after `search` wins; silly values are clamped.
        let c = parse_resolv_conf(
            "search x.test\ndomain y.test\noptions timeout:0 attempts:99 ndots:40 port:0",
        );
        assert_eq!(
            c.search.iter().map(|n| n.to_text()).collect::<Vec<_>>(),
            ["y.test"]
        );
        assert_eq!((c.ndots, c.timeout_ms, c.attempts), (15, 1000, 5));
        assert_eq!(c.servers, ["127.0.0.1:53".parse().unwrap()]);
        // Nothing at all: the C library's defaults.
        let c = parse_resolv_conf("");
        assert_eq!(c.servers, ["127.0.0.1:53".parse().unwrap()]);
        assert_eq!((c.ndots, c.timeout_ms, c.attempts), (1, 5000, 2));
    }

    #[test]
    fn hosts() {
        let text = "127.0.0.1 localhost\n\
                    # 10.9.9.9 web.test\n\
                    10.0.0.1 web.test web\n\
                    fe80::1%1 web.test   # with a zone\n\
                    not-an-ip web.test\n\
                    10.0.0.2\tWEB.TEST.\n\
                    10.0.0.1 web.test\n";
        let n = Name::from_text("web.test").unwrap();
        let got: Vec<String> = parse_hosts(text, &n)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["10.0.0.1:0", "[fe80::1%1]:0", "10.0.0.2:0"]);
        assert!(parse_hosts(text, &Name::from_text("nope.test").unwrap()).is_empty());
        assert_eq!(parse_hosts(text, &Name::from_text("web").unwrap()).len(), 1);
    }
}
