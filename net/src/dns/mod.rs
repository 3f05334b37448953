//! Name resolution for `ipaddr_remote[s]`: `localhost`, the hosts file,
//! then the name servers of `resolv.conf` over our own UDP sockets (TCP
//! for answers too big for UDP), so that the calling coroutine (not the
//! thread) waits, and a deadline or a cancellation ends the lookup at once.
//!
//! See DESIGN.md ("Addresses and DNS") for the policy: queries, retries,
//! what counts as an answer, and which errno each outcome gives.

mod conf;
mod wire;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use dill_runtime::{brecv, bsendl, check_cancelled, now};

use crate::addr::{order_for_mode, IpMode};
use crate::tcp::tcp_connect;
use crate::udp::{udp_connected, udp_recv, udp_send, UdpSocket};
use conf::ResolvConf;
use wire::{Name, TYPE_A, TYPE_AAAA};

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Resolves `name` (not a literal) to addresses with port 0, ordered and
/// filtered by `mode`; never empty.
///
/// `settle` says when to stop waiting for the second family; `None` waits
/// for both as long as the tries and the deadline allow.
pub(crate) fn resolve(
    name: &str,
    mode: IpMode,
    deadline: i64,
    settle: Option<Settle>,
) -> io::Result<Vec<SocketAddr>> {
    let qname = Name::from_text(name)?;
    // RFC 6761: `localhost` and its subdomains are the loopback addresses,
    // whatever the hosts file or a name server might say.
    let text = qname.to_text();
    if text == "localhost" || text.ends_with(".localhost") {
        let lo = [
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0),
        ];
        return Ok(order_for_mode(&lo, mode));
    }
    let from_hosts = order_for_mode(&conf::hosts_lookup(&qname), mode);
    if !from_hosts.is_empty() {
        return Ok(from_hosts);
    }
    // From here on the lookup may wait.
    check_cancelled()?;
    let conf = conf::load_resolv_conf();
    let mut found = Vec::new();
    for cand in candidates(&qname, name.ends_with('.'), &conf) {
        match query_name(&cand, mode, &conf, deadline, settle)? {
            Some(addrs) => {
                found = addrs;
                break;
            }
            None => continue,
        }
    }
    let out = order_for_mode(&found, mode);
    if out.is_empty() {
        Err(err(libc::ENOENT))
    } else {
        Ok(out)
    }
}

/// When a lookup of both families may stop waiting for the second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settle {
    /// How long to go on waiting once it could stop, ms.
    pub(crate) after_ms: i64,
    /// Only addresses of the mode's preferred family allow stopping (else
    /// those of either family do).
    pub(crate) preferred_only: bool,
}

/// `ipaddr_remote` needs one address: the preferred family's answer is
/// enough.
pub(crate) const FIRST_ONLY: Settle = Settle {
    after_ms: 0,
    preferred_only: true,
};

/// The names to ask for, in order, per `search` and `ndots`: a name with
/// a final dot is asked as is; one with at least `ndots` dots first as is,
/// then with each search domain; others with the search domains first.
fn candidates(name: &Name, absolute: bool, conf: &ResolvConf) -> Vec<Name> {
    if absolute || conf.search.is_empty() {
        return vec![name.clone()];
    }
    let searched = conf.search.iter().filter_map(|d| name.join(d).ok());
    if name.labels() > conf.ndots {
        std::iter::once(name.clone()).chain(searched).collect()
    } else {
        searched.chain(std::iter::once(name.clone())).collect()
    }
}

/// A random 16-bit query id. `RandomState` is seeded from the operating
/// system's random source; hashing a counter and the time with it gives
/// ids an off-path attacker cannot predict (RFC 5452), without a
/// dependency or a system call per query.
fn random_id() -> u16 {
    use std::cell::Cell;
    thread_local!(static SEQ: Cell<u64> = const { Cell::new(0) });
    let seq = SEQ.with(|c| {
        c.set(c.get().wrapping_add(1));
        c.get()
    });
    let mut h = RandomState::new().build_hasher();
    h.write_u64(seq);
    h.write_i64(now());
    h.finish() as u16
}

/// What one query (one name, one type) has come to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// No usable answer yet.
    Pending,
    /// The current server failed it: ask the next one.
    Failed,
    /// A definite answer: the addresses (possibly none).
    Done(Vec<SocketAddr>),
    /// The name does not exist.
    NxDomain,
}

struct Query {
    qtype: u16,
    id: u16,
    state: State,
}

/// Asks the name servers for the addresses of `name`. `Some(addrs)` when a
/// server gave addresses of a wanted family, `None` when the name does not
/// exist or has none (try the next candidate).
fn query_name(
    name: &Name,
    mode: IpMode,
    conf: &ResolvConf,
    deadline: i64,
    settle: Option<Settle>,
) -> io::Result<Option<Vec<SocketAddr>>> {
    // When the settling time ends (set once a family has addresses).
    let mut settle_at: Option<i64> = None;
    let mut queries: Vec<Query> = Vec::with_capacity(2);
    for (want, qtype) in [(mode.wants_v4(), TYPE_A), (mode.wants_v6(), TYPE_AAAA)] {
        if want {
            queries.push(Query {
                qtype,
                id: random_id(),
                state: State::Pending,
            });
        }
    }
    // The sockets, one per server, opened when first needed and kept for
    // the whole lookup so that a late answer to an earlier try still
    // counts.
    let mut socks: Vec<Option<UdpSocket>> = conf.servers.iter().map(|_| None).collect();
    let mut saw_timeout = false;
    let mut last_err = err(libc::ECONNREFUSED);
    let expired = |t: i64| deadline >= 0 && now() >= t;
    for _round in 0..conf.attempts {
        for (i, server) in conf.servers.iter().enumerate() {
            if expired(deadline) {
                return partial(&queries).ok_or_else(|| err(libc::ETIMEDOUT));
            }
            if socks[i].is_none() {
                match udp_connected(*server) {
                    Ok(s) => socks[i] = Some(s),
                    Err(e) => match e.raw_os_error() {
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM) => return Err(e),
                        // No route, no IPv6 on this host, ...: next server.
                        _ => {
                            last_err = e;
                            continue;
                        }
                    },
                }
            }
            let sock = socks[i].as_mut().expect("opened above");
            let waiting = Wait {
                timeout_ms: conf.timeout_ms,
                deadline,
                settle,
                mode,
            };
            match ask(sock, name, &mut queries, &waiting, &mut settle_at) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                    if expired(deadline) {
                        return partial(&queries).ok_or(e);
                    }
                    saw_timeout = true;
                }
                Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => return Err(e),
                Err(e) => last_err = e,
            }
            if queries.iter().any(|q| q.state == State::NxDomain) {
                return Ok(None);
            }
            if queries.iter().all(|q| matches!(q.state, State::Done(_))) {
                let addrs = addresses(&queries);
                return Ok(if addrs.is_empty() { None } else { Some(addrs) });
            }
            // Settled: one family is enough.
            if settle_at.is_some_and(|t| now() >= t) {
                if let Some(p) = partial(&queries) {
                    return Ok(p);
                }
            }
            // Whatever the current server failed goes to the next one.
            for q in &mut queries {
                if q.state == State::Failed {
                    q.state = State::Pending;
                }
            }
        }
    }
    partial(&queries).ok_or(if saw_timeout {
        err(libc::ETIMEDOUT)
    } else {
        last_err
    })
}

/// Whether the answers so far allow settling as `st` says.
fn can_settle(queries: &[Query], mode: IpMode, st: Settle) -> bool {
    let preferred = if mode.v6_first() { TYPE_AAAA } else { TYPE_A };
    queries.iter().any(|q| {
        matches!(&q.state, State::Done(a) if !a.is_empty())
            && (!st.preferred_only || q.qtype == preferred)
    })
}

/// The addresses of the queries answered so far.
fn addresses(queries: &[Query]) -> Vec<SocketAddr> {
    let mut addrs = Vec::new();
    for q in queries {
        if let State::Done(a) = &q.state {
            addrs.extend_from_slice(a);
        }
    }
    addrs
}

/// When the lookup must end with a query unanswered (the deadline, or
/// every try used up), what the answered ones gave, if anything: a name
/// whose AAAA queries are dropped somewhere still resolves to its IPv4
/// addresses.
fn partial(queries: &[Query]) -> Option<Option<Vec<SocketAddr>>> {
    let addrs = addresses(queries);
    if addrs.is_empty() {
        None
    } else {
        Some(Some(addrs))
    }
}

/// Sends the pending queries to one server and waits, until its per-try
/// timeout or the deadline, for all of them to be answered or failed.
/// `ETIMEDOUT` when the wait ended with queries still pending.
/// How long [`ask`] may wait.
struct Wait {
    /// For one server, per try.
    timeout_ms: i64,
    /// The caller's deadline.
    deadline: i64,
    /// See [`resolve`].
    settle: Option<Settle>,
    /// The lookup's mode.
    mode: IpMode,
}

fn ask(
    sock: &mut UdpSocket,
    name: &Name,
    queries: &mut [Query],
    w: &Wait,
    settle_at: &mut Option<i64>,
) -> io::Result<()> {
    let (timeout_ms, deadline) = (w.timeout_ms, w.deadline);
    let mut buf = [0u8; wire::MAX_QUERY];
    for q in queries.iter().filter(|q| q.state == State::Pending) {
        let n = wire::encode_query(q.id, name, q.qtype, &mut buf);
        udp_send(sock, None, &buf[..n])?;
    }
    let try_end = now().saturating_add(timeout_ms);
    let until = if deadline < 0 {
        try_end
    } else {
        try_end.min(deadline)
    };
    let server = sock.remote_addr().expect("resolver sockets are connected");
    // Room for answers larger than the classic 512 bytes, in case a server
    // sends them.
    let mut msg = [0u8; 4096];
    while queries.iter().any(|q| q.state == State::Pending) {
        if let (Some(st), None) = (w.settle, *settle_at) {
            if can_settle(queries, w.mode, st) {
                *settle_at = Some(now().saturating_add(st.after_ms));
            }
        }
        let wait = settle_at.map_or(until, |t| t.min(until));
        let n = match udp_recv(sock, &mut msg, wait) {
            Ok((n, _)) => n,
            // Settling time over before this try's: stop waiting.
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) && wait < until => return Ok(()),
            // Too long for our buffer, and we cannot tell which query it
            // answers: ask again over TCP.
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                for q in queries.iter_mut().filter(|q| q.state == State::Pending) {
                    q.state = over_tcp(server, name, q.qtype, q.id, until, Vec::new())?;
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for q in queries.iter_mut().filter(|q| q.state == State::Pending) {
            q.state = match wire::decode_answer(&msg[..n], q.id, name, q.qtype) {
                Err(wire::Error::Mismatch) => continue,
                // The server cut the answer short: ask again over TCP,
                // keeping the whole records it did send in case TCP fails.
                Ok(a) if a.truncated && a.rcode == wire::RCODE_NOERROR => {
                    over_tcp(server, name, q.qtype, q.id, until, to_addrs(a.addrs))?
                }
                r => state_of(r),
            };
            break;
        }
    }
    Ok(())
}

/// What a decoded answer (over UDP or TCP) means for its query.
fn state_of(r: Result<wire::Answer, wire::Error>) -> State {
    match r {
        Err(_) => State::Failed,
        Ok(a) if a.rcode == wire::RCODE_NXDOMAIN => State::NxDomain,
        Ok(a) if a.rcode != wire::RCODE_NOERROR => State::Failed,
        // Still truncated (over TCP that means broken): whatever whole
        // records it has, else the next server may do better.
        Ok(a) if a.truncated && a.addrs.is_empty() => State::Failed,
        Ok(a) => State::Done(to_addrs(a.addrs)),
    }
}

fn to_addrs(ips: Vec<std::net::IpAddr>) -> Vec<SocketAddr> {
    ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect()
}

/// Asks `server` over TCP (RFC 7766: each message preceded by its 16-bit
/// length), after a truncated UDP answer, until `until`. When TCP does not
/// give an answer, the addresses of the truncated one (`partial`) are used
/// if there are any; otherwise the query failed at this server. Only
/// cancellation is an error: the caller handles the deadline.
fn over_tcp(
    server: SocketAddr,
    name: &Name,
    qtype: u16,
    id: u16,
    until: i64,
    partial: Vec<SocketAddr>,
) -> io::Result<State> {
    let st = match tcp_exchange(server, name, qtype, id, until) {
        Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => return Err(e),
        Err(_) => State::Failed,
        Ok(st) => st,
    };
    Ok(match st {
        State::Failed if !partial.is_empty() => State::Done(partial),
        st => st,
    })
}

fn tcp_exchange(
    server: SocketAddr,
    name: &Name,
    qtype: u16,
    id: u16,
    until: i64,
) -> io::Result<State> {
    let mut s = tcp_connect(server, until)?;
    let mut q = [0u8; wire::MAX_QUERY];
    let n = wire::encode_query(id, name, qtype, &mut q);
    let len = (n as u16).to_be_bytes();
    bsendl(&mut s, &[IoSlice::new(&len), IoSlice::new(&q[..n])], until)?;
    let mut len = [0u8; 2];
    brecv(&mut s, &mut len, until)?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    brecv(&mut s, &mut msg, until)?;
    Ok(state_of(wire::decode_answer(&msg, id, name, qtype)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order() {
        let conf = conf::parse_resolv_conf("search a.test b.test\noptions ndots:1");
        let names = |n: &str, abs| {
            candidates(&Name::from_text(n).unwrap(), abs, &conf)
                .iter()
                .map(|n| n.to_text())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("web", false), ["web.a.test", "web.b.test", "web"]);
        assert_eq!(
            names("web.x", false),
            ["web.x", "web.x.a.test", "web.x.b.test"]
        );
        assert_eq!(names("web", true), ["web"]);
    }

    #[test]
    fn ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_id()).collect();
        assert!(ids.len() > 32);
    }
}
