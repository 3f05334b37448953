//! No TCP error, timeout or cancellation path leaks a descriptor, and
//! split halves close their socket with the last of them.
//!
//! One test function only, so nothing else in this process opens or closes
//! descriptors while they are being counted.

mod ipc_util;

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use dill::*;
use ipc_util::*;

/// Runs `f` 20 times and checks the descriptor count is unchanged.
#[track_caller]
fn no_leak(what: &str, mut f: impl FnMut()) {
    let before = fd_count();
    for _ in 0..20 {
        f();
    }
    assert_eq!(fd_count(), before, "{what} leaked descriptors");
}

#[test]
fn no_path_leaks_descriptors() {
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    // A listener that stays open (so the reactor's own descriptor does
    // too, see tests/fd_accounting.rs), registered before counting.
    let l = Rc::new(tcp_listen(lo, 16).unwrap());
    let addr = l.local_addr().unwrap();
    assert_errno(tcp_accept(&l, after(1)), libc::ETIMEDOUT, "warm-up");

    let dead = {
        let s = std::net::TcpListener::bind(lo).unwrap();
        s.local_addr().unwrap()
    };
    no_leak("connect and listen errors", || {
        let mut mem = TcpMem::new();
        assert_errno(
            tcp_connect(dead, after(10_000)),
            libc::ECONNREFUSED,
            "refused",
        );
        assert_errno(
            tcp_connect_mem(dead, &mut mem, after(10_000)),
            libc::ECONNREFUSED,
            "refused mem",
        );
        assert_errno(tcp_listen(addr, 4), libc::EADDRINUSE, "in use");
        assert_errno(tcp_listen(lo, -1), libc::EINVAL, "backlog");
        assert_errno(
            tcp_listen("198.51.100.7:0".parse().unwrap(), 4),
            libc::EADDRNOTAVAIL,
            "not local",
        );
    });

    // A peer that never answers: timeouts and cancellation mid-handshake.
    let full = tcp_listen(lo, 0).unwrap();
    let faddr = full.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match tcp_connect(faddr, after(300)) {
            Ok(s) => queued.push(s),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT));
                break;
            }
        }
    }
    no_leak("connect timeout/cancel", || {
        assert_errno(tcp_connect(faddr, 0), libc::ETIMEDOUT, "deadline 0");
        assert_errno(tcp_connect(faddr, after(2)), libc::ETIMEDOUT, "deadline");
        let co = go(move || {
            let mut mem = TcpMem::new();
            errno(tcp_connect_mem(faddr, &mut mem, -1))
        })
        .unwrap();
        yield_now().unwrap();
        drop(co);
    });
    drop(queued);
    drop(full);

    no_leak("accept timeout/cancel", || {
        assert_errno(tcp_accept(&l, 0), libc::ETIMEDOUT, "accept");
        let l2 = l.clone();
        let co = go(move || errno(tcp_accept(&l2, -1))).unwrap();
        yield_now().unwrap();
        drop(co);
    });

    no_leak("connect/accept/close", || {
        let c = tcp_connect(addr, after(10_000)).unwrap();
        let (s, _) = tcp_accept(&l, after(10_000)).unwrap();
        let peer = go(move || tcp_close(s, after(10_000))).unwrap();
        tcp_close(c, after(10_000)).unwrap();
        peer.join(-1).unwrap().unwrap();
    });

    no_leak("transfer and close errors", || {
        let mut c = tcp_connect(addr, after(10_000)).unwrap();
        let (s, _) = tcp_accept(&l, after(10_000)).unwrap();
        assert_errno(brecv(&mut c, &mut [0u8; 1], 0), libc::ETIMEDOUT, "brecv");
        let co = go(move || {
            let mut s = s;
            errno(brecv(&mut s, &mut [0u8; 1], -1))
        })
        .unwrap();
        yield_now().unwrap();
        drop(co);
        assert_errno(
            tcp_close(c, after(10_000)),
            libc::ECONNRESET,
            "inbound broken",
        );
        let c = tcp_connect(addr, after(10_000)).unwrap();
        let (_s, _) = tcp_accept(&l, after(10_000)).unwrap();
        assert_errno(tcp_close(c, 0), libc::ETIMEDOUT, "close timeout");
    });

    no_leak("split halves", || {
        let c = tcp_connect(addr, after(10_000)).unwrap();
        let (s, _) = tcp_accept(&l, after(10_000)).unwrap();
        let (rx, tx) = c.split();
        let reader = go(move || {
            let mut rx = rx;
            errno(brecv(&mut rx, &mut [0u8; 1], -1))
        })
        .unwrap();
        drop(tx);
        drop(s);
        assert_eq!(reader.join(after(10_000)).unwrap(), libc::EPIPE);
    });

    no_leak("fromfd errors", || {
        let f = std::fs::File::open("/dev/null").unwrap();
        assert_errno(tcp_fromfd(f.into()), libc::ENOTSOCK, "file");
        let udp = std::net::UdpSocket::bind(lo).unwrap();
        assert_errno(tcp_fromfd(OwnedFd::from(udp)), libc::EINVAL, "udp");
        let (x, _y) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_errno(tcp_listener_fromfd(x.into()), libc::EINVAL, "unix");
    });

    no_leak("cancelled constructors", || {
        let co = go(move || {
            let _ = msleep(-1);
            tcp_connect(addr, -1).unwrap_err();
            tcp_listen(lo, 1).unwrap_err();
        })
        .unwrap();
        drop(co);
    });
}
