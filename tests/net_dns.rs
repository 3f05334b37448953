//! Name resolution against a name server the test runs on loopback
//! (`dns_util`), with `DILL_RESOLV_CONF` and `DILL_HOSTS` pointing at
//! files the tests write. Every test holds the environment lock, so they
//! run one at a time.

mod dns_util;

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use dill::*;
use dns_util::{default_env, env, open_fds, servers, A, AAAA};

fn ips(v: &[SocketAddr]) -> Vec<String> {
    v.iter().map(|a| a.ip().to_string()).collect()
}

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn answers_per_mode() {
    let _e = default_env();
    let d = after(5000);
    let r = |m| ips(&ipaddr_remotes("www.test", 80, m, d).unwrap());
    assert_eq!(r(IpMode::Ipv4), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(r(IpMode::Ipv6), ["fd00::1"]);
    assert_eq!(r(IpMode::PreferIpv4), ["10.0.0.1", "10.0.0.2", "fd00::1"]);
    assert_eq!(r(IpMode::PreferIpv6), ["fd00::1", "10.0.0.1", "10.0.0.2"]);
    let a = ipaddr_remote("www.test", 443, IpMode::PreferIpv6, d).unwrap();
    assert_eq!(a, "[fd00::1]:443".parse().unwrap());
    let a = ipaddr_remote("WWW.Test.", 443, IpMode::default(), d).unwrap();
    assert_eq!(a, "10.0.0.1:443".parse().unwrap());
}

#[test]
fn preferred_family_missing_falls_back() {
    let _e = default_env();
    let d = after(5000);
    let a = ipaddr_remote("v6only.test", 1, IpMode::PreferIpv4, d).unwrap();
    assert_eq!(a, "[fd00::6]:1".parse().unwrap());
    let a = ipaddr_remote("v4only.test", 1, IpMode::PreferIpv6, d).unwrap();
    assert_eq!(a, "10.1.1.1:1".parse().unwrap());
}

#[test]
fn no_such_name_is_enoent() {
    let _e = default_env();
    let d = after(5000);
    for mode in [
        IpMode::Ipv4,
        IpMode::Ipv6,
        IpMode::PreferIpv4,
        IpMode::PreferIpv6,
    ] {
        assert_eq!(
            errno_of(ipaddr_remote("nx.test", 1, mode, d)),
            errno::ENOENT
        );
        assert_eq!(
            errno_of(ipaddr_remotes("nx.test", 1, mode, d)),
            errno::ENOENT
        );
    }
    // The name exists, but not with an address of the wanted family.
    assert_eq!(
        errno_of(ipaddr_remote("v4only.test", 1, IpMode::Ipv6, d)),
        errno::ENOENT
    );
    assert_eq!(
        errno_of(ipaddr_remotes("v6only.test", 1, IpMode::Ipv4, d)),
        errno::ENOENT
    );
}

#[test]
fn cname_chain_is_followed() {
    let _e = default_env();
    let a = ipaddr_remote("alias.test", 7, IpMode::Ipv4, after(5000)).unwrap();
    assert_eq!(a, "10.2.2.2:7".parse().unwrap());
    // A chain that ends without an address of the type: no data.
    assert_eq!(
        errno_of(ipaddr_remote("alias.test", 7, IpMode::Ipv6, after(5000))),
        errno::ENOENT
    );
}

#[test]
fn answers_not_matching_the_query_are_ignored() {
    let _e = default_env();
    // The server first sends a wrong id, a wrong question and an answer
    // from another port; only the real answer may count.
    let a = ipaddr_remotes("picky.test", 7, IpMode::PreferIpv4, after(5000)).unwrap();
    assert_eq!(ips(&a), ["10.3.3.3"]);
}

#[test]
fn search_domains_and_ndots() {
    let _e = default_env();
    let a = ipaddr_remote("short", 7, IpMode::Ipv4, after(5000)).unwrap();
    assert_eq!(a, "10.0.0.1:7".parse().unwrap());
    // With a final dot the name is taken as is: no search.
    assert_eq!(
        errno_of(ipaddr_remote("short.", 7, IpMode::Ipv4, after(5000))),
        errno::ENOENT
    );
}

#[test]
fn retransmits_after_a_silent_try() {
    let _e = default_env();
    let s = servers();
    let before = s.log.count(0, "retry.test", A);
    let start = now();
    let a = ipaddr_remote("retry.test", 7, IpMode::Ipv4, after(10_000)).unwrap();
    assert_eq!(a, "10.4.4.4:7".parse().unwrap());
    // Server 0 dropped the first query; after its 1 s timeout server 1
    // (or server 0 again in the second round) answered.
    assert!(now() - start >= 1000, "answered before the per-try timeout");
    assert!(s.log.count(0, "retry.test", A) > before);
}

#[test]
fn failing_server_gives_way_to_the_next() {
    let s = servers();
    // A long per-try timeout: moving on must not wait for it.
    let _e = env(
        &format!(
            "nameserver 127.0.0.1\nnameserver 127.0.0.2\noptions port:{} timeout:10",
            s.port
        ),
        "",
    );
    for name in ["servfail.test", "malformed.test", "truncated.test"] {
        let start = now();
        let a = ipaddr_remote(name, 7, IpMode::Ipv4, after(10_000)).unwrap();
        assert_eq!(a, "10.5.5.5:7".parse().unwrap(), "{name}");
        assert!(s.log.count(1, name, A) >= 1, "{name} not asked of server 1");
        // A failed answer moves on at once, without waiting for a timeout.
        assert!(now() - start < 9000, "{name} waited for a timeout");
    }
}

#[test]
fn truncated_answers_are_asked_again_over_tcp() {
    let _e = default_env();
    let s = servers();
    let a = ipaddr_remotes("tcponly.test", 7, IpMode::Ipv4, after(5000)).unwrap();
    assert_eq!(ips(&a), ["10.11.0.1", "10.11.0.2", "10.11.0.3"]);
    assert_eq!(s.log.count(10, "tcponly.test", A), 1, "not asked over TCP");
    // The TCP answer replaces the truncated one's single record.
    let a = ipaddr_remotes("partial.test", 7, IpMode::Ipv4, after(5000)).unwrap();
    assert_eq!(ips(&a), ["10.6.6.6", "10.6.6.7"]);
}

#[test]
fn answer_too_big_for_udp_is_asked_again_over_tcp() {
    let _e = default_env();
    let a = ipaddr_remotes("huge.test", 7, IpMode::Ipv4, after(5000)).unwrap();
    assert_eq!(a.len(), 300);
    assert_eq!(a[299].ip().to_string(), "10.20.1.43");
}

#[test]
fn truncated_answer_is_used_when_tcp_fails() {
    let _e = default_env();
    let s = servers();
    let a = ipaddr_remotes("tcpfail.test", 7, IpMode::Ipv4, after(5000)).unwrap();
    assert_eq!(ips(&a), ["10.12.12.12"]);
    assert_eq!(s.log.count(10, "tcpfail.test", A), 1);
}

#[test]
fn refused_everywhere_is_econnrefused() {
    let _e = default_env();
    assert_eq!(
        errno_of(ipaddr_remote("refused.test", 7, IpMode::Ipv4, after(5000))),
        errno::ECONNREFUSED
    );
}

#[test]
fn unreachable_server_is_econnrefused() {
    let s = servers();
    let _e = env(
        &format!(
            "nameserver 127.0.0.1\noptions port:{} attempts:1 timeout:5",
            s.closed_port
        ),
        "",
    );
    let start = now();
    let r = ipaddr_remote("www.test", 7, IpMode::Ipv4, after(20_000));
    let code = errno_of(r);
    // The kernel reports the closed port (ICMP) at once. Systems that do
    // not report it make this a timeout of the one try.
    if code == errno::ECONNREFUSED {
        assert!(now() - start < 4000);
    } else {
        assert_eq!(code, errno::ETIMEDOUT);
    }
}

#[test]
fn silent_server_is_etimedout_at_the_deadline() {
    let _e = default_env();
    let start = now();
    let r = ipaddr_remote("silent.test", 7, IpMode::PreferIpv4, after(300));
    let took = now() - start;
    assert_eq!(errno_of(r), errno::ETIMEDOUT);
    assert!(took >= 300, "gave up early: {took} ms");
    assert!(took < 3000, "gave up late: {took} ms");
}

#[test]
fn silent_server_is_etimedout_after_the_tries() {
    let s = servers();
    let _e = env(
        &format!(
            "nameserver 127.0.0.1\noptions port:{} attempts:2 timeout:1",
            s.port
        ),
        "",
    );
    let before = s.log.count(0, "silent.test", A);
    let start = now();
    let r = ipaddr_remote("silent.test", 7, IpMode::Ipv4, -1);
    let took = now() - start;
    assert_eq!(errno_of(r), errno::ETIMEDOUT);
    assert!(took >= 2000, "gave up early: {took} ms");
    assert!(took < 10_000, "gave up late: {took} ms");
    assert_eq!(s.log.count(0, "silent.test", A) - before, 2);
}

#[test]
fn one_family_answered_is_enough_when_time_runs_out() {
    let _e = default_env();
    let start = now();
    let a = ipaddr_remotes("nov6answer.test", 7, IpMode::PreferIpv6, after(400)).unwrap();
    assert_eq!(ips(&a), ["10.10.10.10"]);
    assert!(now() - start >= 400, "did not wait for the AAAA answer");
    // IPv6 only: nothing to fall back on.
    assert_eq!(
        errno_of(ipaddr_remote(
            "nov6answer.test",
            7,
            IpMode::Ipv6,
            after(300)
        )),
        errno::ETIMEDOUT
    );
}

#[test]
fn one_family_answered_is_enough_when_the_tries_run_out() {
    let s = servers();
    let _e = env(
        &format!(
            "nameserver 127.0.0.1\noptions port:{} attempts:1 timeout:1",
            s.port
        ),
        "",
    );
    let start = now();
    let a = ipaddr_remote("nov6answer.test", 7, IpMode::PreferIpv6, -1).unwrap();
    assert_eq!(a.ip().to_string(), "10.10.10.10");
    assert!(now() - start >= 1000, "did not wait for the AAAA answer");
}

#[test]
fn one_address_needs_only_the_preferred_family() {
    // nov6answer.test: the AAAA query is never answered. ipaddr_remote
    // with PreferIpv4 has its answer with the A record and does not wait
    // out the 10 s try for AAAA; PreferIpv6 must wait for the AAAA answer
    // (until the deadline here) before settling for IPv4.
    let s = servers();
    let _e = env(
        &format!("nameserver 127.0.0.1\noptions port:{} timeout:10", s.port),
        "",
    );
    let start = now();
    let a = ipaddr_remote("nov6answer.test", 7, IpMode::PreferIpv4, after(30_000)).unwrap();
    assert_eq!(a.ip().to_string(), "10.10.10.10");
    assert!(now() - start < 5000, "waited for the AAAA answer");
    let start = now();
    let a = ipaddr_remote("nov6answer.test", 7, IpMode::PreferIpv6, after(500)).unwrap();
    assert_eq!(a.ip().to_string(), "10.10.10.10");
    assert!(now() - start >= 500, "did not wait for the AAAA answer");
}

#[test]
fn ipv6_name_server() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        return; // no IPv6 here
    }
    let s = servers();
    let _e = env(&format!("nameserver ::1\noptions port:{}", s.port), "");
    let before = s.log.count(2, "www.test", A);
    let a = ipaddr_remotes("www.test", 7, IpMode::PreferIpv4, after(5000)).unwrap();
    assert_eq!(ips(&a), ["10.0.0.1", "10.0.0.2", "fd00::1"]);
    assert_eq!(s.log.count(2, "www.test", A), before + 1);
}

#[test]
fn deadline_zero_is_etimedout_without_waiting() {
    let _e = default_env();
    let start = now();
    assert_eq!(
        errno_of(ipaddr_remote("www.test", 7, IpMode::Ipv4, 0)),
        errno::ETIMEDOUT
    );
    assert!(now() - start < 1000);
    // The hosts file needs no waiting.
    assert!(ipaddr_remote("hosted.test", 7, IpMode::Ipv4, 0).is_ok());
}

#[test]
fn lookup_waits_in_the_coroutine_not_the_thread() {
    let _e = default_env();
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let ticker = go(move || {
        while msleep(after(10)).is_ok() {
            t.set(t.get() + 1);
        }
    })
    .unwrap();
    let r = ipaddr_remote("silent.test", 7, IpMode::Ipv4, after(300));
    assert_eq!(errno_of(r), errno::ETIMEDOUT);
    assert!(
        ticks.get() >= 5,
        "other coroutines did not run: {}",
        ticks.get()
    );
    drop(ticker);
}

#[test]
fn cancelled_mid_lookup_is_ecanceled_without_leaks() {
    let _e = default_env();
    let _ = servers();
    let fds = open_fds();
    let result = Rc::new(Cell::new(None));
    let started = Rc::new(Cell::new(false));
    let (r, s) = (result.clone(), started.clone());
    let c = go(move || {
        s.set(true);
        let res = ipaddr_remote("silent.test", 7, IpMode::PreferIpv6, -1);
        r.set(Some(res.map_err(|e| e.raw_os_error())));
    })
    .unwrap();
    assert!(started.get());
    // Let the lookup send its queries and block.
    let log = &servers().log;
    let deadline = after(5000);
    while log.count(0, "silent.test", AAAA) == 0 && now() < deadline {
        msleep(after(5)).unwrap();
    }
    let start = now();
    drop(c);
    assert!(now() - start < 500, "cancellation did not stop the lookup");
    assert_eq!(result.get(), Some(Err(Some(errno::ECANCELED))));
    assert_eq!(open_fds(), fds, "a descriptor leaked");
}

#[test]
fn cancelled_before_lookup_is_ecanceled() {
    let _e = default_env();
    let out = Rc::new(Cell::new(None));
    let o = out.clone();
    let c = go(move || {
        // Wait to be cancelled, then look names up.
        let _ = msleep(-1);
        o.set(Some((
            ipaddr_remote("www.test", 7, IpMode::Ipv4, -1).map_err(|e| e.raw_os_error()),
            ipaddr_remote("10.0.0.9", 7, IpMode::Ipv4, -1).is_ok(),
        )));
    })
    .unwrap();
    drop(c);
    let (lookup, literal) = out.get().unwrap();
    assert_eq!(lookup, Err(Some(errno::ECANCELED)));
    assert!(literal);
}

#[test]
fn hosts_file_comes_first() {
    let _e = default_env();
    let s = servers();
    let before = s.log.count(0, "hosted.test", A);
    let a = ipaddr_remotes("hosted.test", 7, IpMode::PreferIpv6, after(5000)).unwrap();
    assert_eq!(ips(&a), ["::1", "10.9.9.9"]);
    assert_eq!(s.log.count(0, "hosted.test", A), before, "asked DNS anyway");
    // both.test: the hosts file has IPv4 only; DNS has both.
    let a = ipaddr_remote("both.test", 7, IpMode::Ipv4, after(5000)).unwrap();
    assert_eq!(a.ip(), "10.8.8.8".parse::<IpAddr>().unwrap());
    let a = ipaddr_remote("both.test", 7, IpMode::Ipv6, after(5000)).unwrap();
    assert_eq!(a.ip(), "fd00::7".parse::<IpAddr>().unwrap());
}

#[test]
fn localhost_never_reaches_dns() {
    let _e = default_env();
    let s = servers();
    let before = s.log.count(0, "localhost", A) + s.log.count(0, "db.localhost", A);
    let a = ipaddr_remotes("localhost", 7, IpMode::PreferIpv4, 0).unwrap();
    assert_eq!(ips(&a), ["127.0.0.1", "::1"]);
    let a = ipaddr_remote("db.LOCALHOST.", 7, IpMode::Ipv6, 0).unwrap();
    assert_eq!(a, "[::1]:7".parse().unwrap());
    assert_eq!(
        s.log.count(0, "localhost", A) + s.log.count(0, "db.localhost", A),
        before
    );
}

#[test]
fn lookups_leave_no_descriptor_behind() {
    let _e = default_env();
    let _ = servers();
    let fds = open_fds();
    for name in [
        "www.test",
        "nx.test",
        "servfail.test",
        "refused.test",
        "alias.test",
    ] {
        let _ = ipaddr_remotes(name, 7, IpMode::PreferIpv4, after(5000));
    }
    let _ = ipaddr_remote("silent.test", 7, IpMode::Ipv4, after(50));
    assert_eq!(open_fds(), fds);
}
