//! `happyeyeballs_connect` against listeners on `::1` and `127.0.0.1`
//! (`localhost` resolves to both): an IPv6 address that hangs (a listener
//! whose accept queue is full drops SYNs), one that refuses, both working,
//! none working, deadlines, cancellation, descriptors.

mod dns_util;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use dill::*;
use dns_util::{default_env, env, open_fds, servers};

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

fn have_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// A listener on 127.0.0.1 with a free port.
fn v4_listener() -> TcpListener<'static> {
    tcp_listen("127.0.0.1:0".parse().unwrap(), 16).unwrap()
}

/// A port on `::1` (the same number as `port`) whose connects hang: a
/// listener with a full accept queue. Returns the listener and the
/// connections that fill its queue.
fn hanging(addr: SocketAddr) -> (TcpListener<'static>, Vec<TcpStream<'static>>) {
    let l = tcp_listen(addr, 0).unwrap();
    let addr = l.local_addr().unwrap();
    let mut held = Vec::new();
    loop {
        match tcp_connect(addr, after(200)) {
            Ok(s) => held.push(s),
            Err(e) if e.raw_os_error() == Some(errno::ETIMEDOUT) => break,
            Err(e) => panic!("filling the queue: {e}"),
        }
        assert!(held.len() < 64, "the accept queue never filled");
    }
    (l, held)
}

#[test]
fn hanging_ipv6_loses_to_ipv4() {
    let _e = default_env();
    if !have_ipv6() {
        return;
    }
    let l4 = v4_listener();
    let port = l4.local_addr().unwrap().port();
    let (_l6, _held) = hanging(SocketAddr::new("::1".parse().unwrap(), port));
    let fds = open_fds();
    let start = now();
    let s = happyeyeballs_connect("localhost", port, after(10_000)).unwrap();
    let took = now() - start;
    assert_eq!(s.peer_addr().unwrap(), l4.local_addr().unwrap());
    // IPv4 started only after the attempt delay given to IPv6.
    assert!(took >= 300, "IPv4 started after {took} ms");
    assert!(took < 5000, "took {took} ms");
    // The hanging IPv6 attempt is gone with its socket: one more
    // descriptor, the stream.
    assert_eq!(open_fds(), fds + 1);
    let (_c, from) = tcp_accept(&l4, after(1000)).unwrap();
    assert_eq!(from, s.local_addr().unwrap());
}

#[test]
fn refusing_ipv6_gives_way_at_once() {
    let _e = default_env();
    let l4 = v4_listener();
    let port = l4.local_addr().unwrap().port();
    let start = now();
    let s = happyeyeballs_connect("localhost", port, after(10_000)).unwrap();
    let took = now() - start;
    assert_eq!(s.peer_addr().unwrap(), l4.local_addr().unwrap());
    // A refused attempt does not wait out the 300 ms attempt delay.
    assert!(took < 290, "took {took} ms");
}

#[test]
fn ipv6_first_when_both_work() {
    let _e = default_env();
    if !have_ipv6() {
        return;
    }
    let l4 = v4_listener();
    let port = l4.local_addr().unwrap().port();
    let l6 = tcp_listen(SocketAddr::new("::1".parse().unwrap(), port), 16).unwrap();
    let s = happyeyeballs_connect("localhost", port, after(10_000)).unwrap();
    assert_eq!(s.peer_addr().unwrap(), l6.local_addr().unwrap());
}

#[test]
fn literal_connects_directly() {
    let _e = default_env();
    let l4 = v4_listener();
    let a = l4.local_addr().unwrap();
    let s = happyeyeballs_connect("127.0.0.1", a.port(), after(10_000)).unwrap();
    assert_eq!(s.peer_addr().unwrap(), a);
}

#[test]
fn nobody_listening_is_econnrefused() {
    let _e = default_env();
    let port = v4_listener().local_addr().unwrap().port(); // closed again
    let fds = open_fds();
    assert_eq!(
        errno_of(happyeyeballs_connect("localhost", port, after(10_000))),
        errno::ECONNREFUSED
    );
    assert_eq!(open_fds(), fds);
}

#[test]
fn all_hanging_is_etimedout_at_the_deadline() {
    let _e = default_env();
    if !have_ipv6() {
        return;
    }
    let (l4, _held4) = hanging("127.0.0.1:0".parse().unwrap());
    let port = l4.local_addr().unwrap().port();
    let (_l6, _held6) = hanging(SocketAddr::new("::1".parse().unwrap(), port));
    let fds = open_fds();
    let start = now();
    let r = happyeyeballs_connect("localhost", port, after(700));
    let took = now() - start;
    assert_eq!(errno_of(r), errno::ETIMEDOUT);
    assert!(took >= 700, "gave up after {took} ms");
    assert!(took < 5000, "gave up after {took} ms");
    assert_eq!(open_fds(), fds);
}

#[test]
fn cancelled_mid_race_is_ecanceled_without_leaks() {
    let _e = default_env();
    if !have_ipv6() {
        return;
    }
    let (l4, _held4) = hanging("127.0.0.1:0".parse().unwrap());
    let port = l4.local_addr().unwrap().port();
    let (_l6, _held6) = hanging(SocketAddr::new("::1".parse().unwrap(), port));
    let fds = open_fds();
    let out = Rc::new(Cell::new(None));
    let o = out.clone();
    let c = go(move || {
        o.set(Some(
            happyeyeballs_connect("localhost", port, -1)
                .map(drop)
                .map_err(|e| e.raw_os_error()),
        ));
    })
    .unwrap();
    // Both attempts are under way after the attempt delay.
    msleep(after(400)).unwrap();
    assert!(out.get().is_none());
    drop(c);
    assert_eq!(out.get(), Some(Err(Some(errno::ECANCELED))));
    assert_eq!(open_fds(), fds);
}

#[test]
fn bad_arguments_and_unknown_names() {
    let _e = default_env();
    assert_eq!(
        errno_of(happyeyeballs_connect("localhost", 80, -2)),
        errno::EINVAL
    );
    assert_eq!(
        errno_of(happyeyeballs_connect("bad name", 80, -1)),
        errno::EINVAL
    );
    assert_eq!(errno_of(happyeyeballs_connect("", 80, -1)), errno::EINVAL);
    // Port 0 cannot be connected to.
    assert_eq!(
        errno_of(happyeyeballs_connect("127.0.0.1", 0, -1)),
        errno::EINVAL
    );
    // nx.test does not exist on the test name server.
    assert_eq!(
        errno_of(happyeyeballs_connect("nx.test", 80, after(5000))),
        errno::ENOENT
    );
}

#[test]
fn cancelled_before_is_ecanceled() {
    let _e = default_env();
    let l4 = v4_listener();
    let port = l4.local_addr().unwrap().port();
    let out = Rc::new(Cell::new(None));
    let o = out.clone();
    let c = go(move || {
        let _ = msleep(-1);
        o.set(Some(
            happyeyeballs_connect("localhost", port, -1)
                .map(drop)
                .map_err(|e| e.raw_os_error()),
        ));
    })
    .unwrap();
    drop(c);
    assert_eq!(out.get(), Some(Err(Some(errno::ECANCELED))));
}

#[test]
fn lost_aaaa_answer_delays_the_race_only_briefly() {
    // lo4.test: A is 127.0.0.1, AAAA queries are never answered. With a
    // 10 s per-try timeout, waiting for the AAAA answer would take 10 s;
    // RFC 8305 waits 50 ms once the A answer is in.
    let s = servers();
    let _e = env(
        &format!("nameserver 127.0.0.1\noptions port:{} timeout:10", s.port),
        "",
    );
    let l4 = v4_listener();
    let port = l4.local_addr().unwrap().port();
    let start = now();
    let c = happyeyeballs_connect("lo4.test", port, after(30_000)).unwrap();
    let took = now() - start;
    assert_eq!(c.peer_addr().unwrap(), l4.local_addr().unwrap());
    assert!(took >= 50, "did not wait for the AAAA answer: {took} ms");
    assert!(took < 5000, "waited for the AAAA answer: {took} ms");
}
