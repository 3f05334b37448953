//! TCP streams: connect/accept, addresses, transfers, half-close, orderly
//! close, broken directions, split halves, adopting descriptors.

mod ipc_util;

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;

use dill::*;
use ipc_util::*;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A listener on a free loopback port, and its address.
fn listener() -> (TcpListener<'static>, SocketAddr) {
    let l = tcp_listen(loopback(), 16).unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A connected pair: (client, server side).
fn pair() -> (TcpStream<'static>, TcpStream<'static>) {
    let (l, addr) = listener();
    let c = tcp_connect(addr, after(10_000)).unwrap();
    let (s, peer) = tcp_accept(&l, after(10_000)).unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    (c, s)
}

#[test]
fn listen_on_port_zero_picks_a_port() {
    let (l, a) = listener();
    assert_ne!(a.port(), 0);
    assert_eq!(a.ip(), loopback().ip());
    assert!(is_cloexec(l.as_raw_fd()));
    assert!(is_nonblocking(l.as_raw_fd()));
}

#[test]
fn connect_accept_round_trip_and_addresses() {
    let (l, addr) = listener();
    let server = go(move || -> std::io::Result<SocketAddr> {
        let (mut s, peer) = tcp_accept(&l, after(10_000))?;
        assert_eq!(s.peer_addr()?, peer);
        assert_eq!(s.local_addr()?, addr);
        let mut buf = [0u8; 5];
        brecv(&mut s, &mut buf, after(10_000))?;
        bsend(&mut s, &buf, after(10_000))?;
        tcp_close(s, after(10_000))?;
        Ok(peer)
    })
    .unwrap();
    let mut c = tcp_connect(addr, after(10_000)).unwrap();
    assert!(is_cloexec(c.as_raw_fd()));
    assert!(is_nonblocking(c.as_raw_fd()));
    assert_eq!(c.peer_addr().unwrap(), addr);
    bsend(&mut c, b"hello", after(10_000)).unwrap();
    let mut buf = [0u8; 5];
    brecv(&mut c, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"hello");
    let local = c.local_addr().unwrap();
    tcp_close(c, after(10_000)).unwrap();
    assert_eq!(server.join(-1).unwrap().unwrap(), local);
}

#[test]
fn mem_variants() {
    let mut lm = TcpListenerMem::new();
    let l = tcp_listen_mem(loopback(), &mut lm, 4).unwrap();
    let addr = l.local_addr().unwrap();
    let (mut cm, mut sm) = (TcpMem::new(), TcpMem::new());
    let mut c = tcp_connect_mem(addr, &mut cm, after(10_000)).unwrap();
    let (mut s, _) = tcp_accept_mem(&l, &mut sm, after(10_000)).unwrap();
    bsendl(
        &mut c,
        &[IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cde")],
        -1,
    )
    .unwrap();
    let (mut x, mut y) = ([0u8; 1], [0u8; 4]);
    brecvl(
        &mut s,
        &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)],
        after(10_000),
    )
    .unwrap();
    assert_eq!((&x, &y), (b"a", b"bcde"));
    assert_eq!(TCP_SIZE, std::mem::size_of::<TcpMem>());
    assert_eq!(TCP_LISTENER_SIZE, std::mem::size_of::<TcpListenerMem>());
    assert!(format!("{c:?}").contains("TcpStream"));
    assert!(format!("{l:?}").contains("TcpListener"));
    drop((c, s));
    // The memory is free for another connection.
    let _c2 = tcp_connect_mem(addr, &mut cm, after(10_000)).unwrap();
}

#[test]
fn ipv6_loopback() {
    let Ok(l) = tcp_listen("[::1]:0".parse().unwrap(), 4) else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let addr = l.local_addr().unwrap();
    assert!(addr.is_ipv6());
    let mut c = tcp_connect(addr, after(10_000)).unwrap();
    let (mut s, peer) = tcp_accept(&l, after(10_000)).unwrap();
    assert!(peer.is_ipv6());
    bsend(&mut c, b"6", -1).unwrap();
    let mut one = [0u8; 1];
    brecv(&mut s, &mut one, after(10_000)).unwrap();
    assert_eq!(&one, b"6");
}

#[test]
fn large_transfer_both_ways() {
    const N: usize = 8 << 20;
    let (c, s) = pair();
    let data: Vec<u8> = (0..N).map(|i| (i * 7 % 256) as u8).collect();
    let d = data.clone();
    let echo = go(move || -> std::io::Result<()> {
        let (mut rx, mut tx) = s.split();
        let fwd = go(move || -> std::io::Result<()> {
            let mut buf = vec![0u8; 65536];
            for _ in 0..N / buf.len() {
                brecv(&mut rx, &mut buf, after(30_000))?;
                bsend(&mut tx, &buf, after(30_000))?;
            }
            Ok(())
        })?;
        fwd.join(-1)?
    })
    .unwrap();
    let (mut rx, mut tx) = c.split();
    let w = go(move || bsend(&mut tx, &d, after(30_000))).unwrap();
    let mut got = vec![0u8; N];
    brecv(&mut rx, &mut got, after(30_000)).unwrap();
    w.join(-1).unwrap().unwrap();
    echo.join(-1).unwrap().unwrap();
    assert!(got == data);
}

#[test]
fn done_half_closes_and_the_other_direction_works() {
    let (mut c, mut s) = pair();
    bsend(&mut c, b"req", -1).unwrap();
    tcp_done(&mut c, -1).unwrap();
    assert_errno(bsend(&mut c, b"x", -1), libc::EPIPE, "send after done");
    assert_errno(tcp_done(&mut c, -1), libc::EPIPE, "done twice");
    let mut buf = [0u8; 3];
    brecv(&mut s, &mut buf, after(10_000)).unwrap();
    assert_errno(brecv(&mut s, &mut buf, after(10_000)), libc::EPIPE, "eof");
    // EOF stays EOF.
    assert_errno(
        brecv(&mut s, &mut buf, after(10_000)),
        libc::EPIPE,
        "eof again",
    );
    bsend(&mut s, b"rep", -1).unwrap();
    brecv(&mut c, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"rep");
    tcp_close(s, after(10_000)).unwrap();
    tcp_close(c, after(10_000)).unwrap();
}

#[test]
fn done_with_bad_deadline_is_einval() {
    let (mut c, _s) = pair();
    assert_errno(tcp_done(&mut c, -2), libc::EINVAL, "done");
    bsend(&mut c, b"still open", 0).unwrap();
    assert_errno(tcp_close(c, -5), libc::EINVAL, "close");
}

#[test]
fn close_waits_for_the_peer() {
    let (c, s) = pair();
    let peer = go(move || -> std::io::Result<Vec<u8>> {
        let mut s = s;
        let mut all = Vec::new();
        s.read_to_end(&mut all)?;
        tcp_close(s, after(10_000))?;
        Ok(all)
    })
    .unwrap();
    let mut c = c;
    c.write_all(b"last words").unwrap();
    tcp_close(c, after(10_000)).unwrap();
    assert_eq!(peer.join(-1).unwrap().unwrap(), b"last words");
}

#[test]
fn close_times_out_when_the_peer_never_closes() {
    let (c, _s) = pair();
    let d = after(50);
    assert_errno(tcp_close(c, d), libc::ETIMEDOUT, "close");
    assert!(now() >= d);
}

#[test]
fn close_of_a_reset_connection_is_econnreset() {
    let (mut c, mut s) = pair();
    bsend(&mut c, b"unread", -1).unwrap();
    // Once the data is there, the peer closes with some of it unread: its
    // kernel resets the connection.
    let mut one = [0u8; 1];
    brecv(&mut s, &mut one, after(10_000)).unwrap();
    drop(s);
    assert_errno(tcp_close(c, after(10_000)), libc::ECONNRESET, "close");
}

#[test]
fn reset_peer_is_econnreset_and_stays_broken() {
    let (mut c, s) = pair();
    let mut s = s;
    bsend(&mut c, b"unread", -1).unwrap();
    let mut one = [0u8; 1];
    // Wait until the data is there, then drop with it unread: RST.
    brecv(&mut s, &mut one, after(10_000)).unwrap();
    drop(s);
    let mut buf = [0u8; 8];
    assert_errno(
        brecv(&mut c, &mut buf, after(10_000)),
        libc::ECONNRESET,
        "recv",
    );
    assert_errno(
        brecv(&mut c, &mut buf, after(10_000)),
        libc::ECONNRESET,
        "again",
    );
    // Sending to a reset peer: ECONNRESET, never SIGPIPE.
    let mut res = Ok(());
    for _ in 0..100 {
        res = bsend(&mut c, &[0u8; 1024], after(10_000));
        if res.is_err() {
            break;
        }
    }
    assert_errno(res, libc::ECONNRESET, "send");
}

#[test]
fn timeout_breaks_only_that_direction() {
    let (mut c, mut s) = pair();
    let mut buf = [0u8; 4];
    let d = after(20);
    assert_errno(brecv(&mut c, &mut buf, d), libc::ETIMEDOUT, "recv");
    assert!(now() >= d);
    assert_errno(brecv(&mut c, &mut buf, 0), libc::ECONNRESET, "broken");
    bsend(&mut c, b"abcd", -1).unwrap();
    brecv(&mut s, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"abcd");
    assert_errno(brecv(&mut c, &mut buf, -3), libc::ECONNRESET, "state first");
    assert_errno(bsend(&mut s, b"x", -3), libc::EINVAL, "bad deadline");
}

#[test]
fn cancelled_receive_is_ecanceled() {
    let (c, mut s) = pair();
    let seen = Rc::new(std::cell::Cell::new(None));
    let seen2 = seen.clone();
    let co = go(move || {
        let mut c = c;
        let mut buf = [0u8; 1];
        let e = errno(brecv(&mut c, &mut buf, -1));
        // The inbound direction is broken; a send that need not block
        // still works in a cancelled coroutine.
        let again = errno(brecv(&mut c, &mut buf, 0));
        let sent = bsend(&mut c, b"x", 0).is_ok();
        seen2.set(Some((e, again, sent)));
    })
    .unwrap();
    yield_now().unwrap();
    drop(co);
    assert_eq!(seen.get(), Some((libc::ECANCELED, libc::ECONNRESET, true)));
    let mut one = [0u8; 1];
    brecv(&mut s, &mut one, after(10_000)).unwrap();
    assert_eq!(&one, b"x");
}

#[test]
fn split_halves_move_into_coroutines_and_a_second_reader_is_ebusy() {
    let (c, mut s) = pair();
    let (rx, mut tx) = c.split();
    let rx = Rc::new(rx);
    let (out, results) = chmake::<std::io::Result<[u8; 3]>>().unwrap();
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (rx, out) = (rx.clone(), out.clone());
        readers.push(
            go(move || {
                let mut buf = [0u8; 3];
                let r = brecv(&mut &*rx, &mut buf, after(10_000)).map(|()| buf);
                out.send(r, -1).unwrap();
            })
            .unwrap(),
        );
    }
    assert_errno(
        results.recv(after(10_000)).unwrap(),
        libc::EBUSY,
        "second reader",
    );
    let writer = go(move || -> std::io::Result<()> {
        bsend(&mut tx, b"out", after(10_000))?;
        assert_eq!(errno(brecv(&mut tx, &mut [0u8; 1], 0)), libc::ENOTSUP);
        tx.done(after(10_000))
    })
    .unwrap();
    bsend(&mut s, b"in!", -1).unwrap();
    assert_eq!(&results.recv(after(10_000)).unwrap().unwrap(), b"in!");
    let mut buf = [0u8; 3];
    brecv(&mut s, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"out");
    assert_errno(brecv(&mut s, &mut buf, after(10_000)), libc::EPIPE, "done");
    writer.join(-1).unwrap().unwrap();
    for r in readers {
        r.join(-1).unwrap();
    }
    assert_errno(
        bsend(&mut &*rx, b"x", -1),
        libc::ENOTSUP,
        "send on read half",
    );
}

#[test]
fn unsplit_then_close_in_order() {
    let (c, s) = pair();
    let (rx, tx) = c.split();
    let c = TcpStream::unsplit(rx, tx).unwrap();
    let peer = go(move || {
        let mut s = s;
        let mut buf = [0u8; 1];
        let e = errno(brecv(&mut s, &mut buf, after(10_000)));
        tcp_close(s, after(10_000)).map(|()| e)
    })
    .unwrap();
    tcp_close(c, after(10_000)).unwrap();
    assert_eq!(peer.join(-1).unwrap().unwrap(), libc::EPIPE);
}

#[test]
fn io_read_write_for_blocking_crates() {
    let (c, s) = pair();
    let srv = go(move || -> std::io::Result<()> {
        let mut s = s;
        let mut line = String::new();
        std::io::BufReader::new(&mut s).read_line_compat(&mut line)?;
        s.write_all(line.to_uppercase().as_bytes())?;
        s.flush()
    })
    .unwrap();
    let mut c = c;
    writeln!(c, "shout").unwrap();
    let mut buf = [0u8; 6];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"SHOUT\n");
    srv.join(-1).unwrap().unwrap();
    // Read after the peer finished: 0 bytes, as io::Read says.
    assert_eq!(c.read(&mut buf).unwrap(), 0);
}

trait ReadLineCompat {
    fn read_line_compat(&mut self, s: &mut String) -> std::io::Result<usize>;
}

impl<R: Read> ReadLineCompat for std::io::BufReader<R> {
    fn read_line_compat(&mut self, s: &mut String) -> std::io::Result<usize> {
        std::io::BufRead::read_line(self, s)
    }
}

#[test]
fn fromfd_adopts_std_sockets() {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let c = StdStream::connect(addr).unwrap();
    let (srv, _) = l.accept().unwrap();
    let mut s = tcp_fromfd(OwnedFd::from(srv)).unwrap();
    assert!(is_nonblocking(s.as_raw_fd()));
    let mut c = c;
    c.write_all(b"std").unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut s, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"std");
    // The listener too.
    let dl = tcp_listener_fromfd(OwnedFd::from(l)).unwrap();
    assert_eq!(dl.local_addr().unwrap(), addr);
    let _c2 = tcp_connect(addr, after(10_000)).unwrap();
    let (_s2, _) = tcp_accept(&dl, after(10_000)).unwrap();
}

#[test]
fn descriptors_come_back_out() {
    let (c, mut s) = pair();
    let fd = OwnedFd::from(c);
    let mut std_c = StdStream::from(fd);
    std_c.set_nonblocking(false).unwrap();
    std_c.write_all(b"raw").unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut s, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"raw");
    let raw = s.into_raw_fd();
    // SAFETY: into_raw_fd handed over an open descriptor.
    let back = tcp_fromfd(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) });
    let mut back = back.unwrap();
    std_c.write_all(b"again").unwrap();
    let mut five = [0u8; 5];
    brecv(&mut back, &mut five, after(10_000)).unwrap();
    assert_eq!(&five, b"again");
    let (l, addr) = listener();
    let lfd = OwnedFd::from(l);
    let l = tcp_listener_fromfd(lfd).unwrap();
    assert_eq!(l.local_addr().unwrap(), addr);
}

#[test]
fn loopback_ends_on_one_thread_find_each_other() {
    let (mut c, mut s) = pair();
    let (cfd, sfd) = (c.as_raw_fd(), s.as_raw_fd());
    let echo = go(move || -> std::io::Result<TcpStream<'static>> {
        let mut buf = [0u8; 1];
        for _ in 0..10 {
            brecv(&mut s, &mut buf, after(10_000))?;
            bsend(&mut s, &buf, after(10_000))?;
        }
        Ok(s)
    })
    .unwrap();
    let mut buf = [0u8; 1];
    for i in 0..10u8 {
        bsend(&mut c, &[i], after(10_000)).unwrap();
        brecv(&mut c, &mut buf, after(10_000)).unwrap();
        assert_eq!(buf[0], i);
    }
    let s = echo.join(-1).unwrap().unwrap();
    // Each end wakes the other directly now.
    assert!(
        format!("{c:?}").contains(&format!("same_thread_peer: {sfd}")),
        "{c:?}"
    );
    assert!(
        format!("{s:?}").contains(&format!("same_thread_peer: {cfd}")),
        "{s:?}"
    );
    // Closing one end still reaches the other, linked or not.
    let (mut rx, _tx) = s.split();
    drop(c);
    assert_errno(brecv(&mut rx, &mut buf, after(10_000)), libc::EPIPE, "eof");
}

#[test]
fn std_peer_on_loopback_is_never_linked() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut c = tcp_connect(addr, after(10_000)).unwrap();
    let (mut p, _) = l.accept().unwrap();
    let mut buf = [0u8; 1];
    for _ in 0..10 {
        bsend(&mut c, b"x", after(10_000)).unwrap();
        p.read_exact(&mut buf).unwrap();
        p.write_all(b"y").unwrap();
        brecv(&mut c, &mut buf, after(10_000)).unwrap();
        assert_eq!(&buf, b"y");
    }
    assert!(!format!("{c:?}").contains("same_thread_peer"), "{c:?}");
}
