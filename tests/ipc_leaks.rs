//! No error, timeout or cancellation path leaks a descriptor.
//!
//! One test function only, so nothing else in this process opens or closes
//! descriptors while they are being counted.

mod ipc_util;

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::symlink;

use dill::*;
use ipc_util::*;

/// Runs `f` 50 times and checks the descriptor count is unchanged.
#[track_caller]
fn no_leak(what: &str, mut f: impl FnMut()) {
    let before = fd_count();
    for _ in 0..50 {
        f();
    }
    assert_eq!(fd_count(), before, "{what} leaked descriptors");
}

#[test]
fn no_path_leaks_descriptors() {
    // The runtime's reactor holds one descriptor (epoll) while at least one
    // descriptor it waited on is open; it closes it with the last one. So
    // each section below that keeps a waited-on descriptor open across its
    // count first waits on it once (tests/fd_accounting.rs checks the
    // reactor's own accounting).

    let dir = TempPath::new("leaks");
    std::fs::create_dir(&dir).unwrap();
    let missing = dir.join("missing");
    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();
    symlink(dir.join("loop2"), dir.join("loop1")).unwrap();
    symlink(dir.join("loop1"), dir.join("loop2")).unwrap();
    let stale = dir.join("stale");
    drop(ipc_listen(&stale, 1).unwrap());

    no_leak("connect errors", || {
        let mut mem = IpcMem::new();
        for p in [&missing, &file, &file.join("x"), &dir.join("loop1"), &stale] {
            ipc_connect(p, -1).unwrap_err();
            ipc_connect_mem(p, &mut mem, 0).unwrap_err();
        }
        ipc_listen(&stale, 1).unwrap_err();
        ipc_listen(file.join("x"), 1).unwrap_err();
    });

    // Full backlog: timeouts and cancellation while backing off.
    let full = dir.join("full");
    let l = ipc_listen(&full, 1).unwrap();
    let mut queued = Vec::new();
    while let Ok(s) = ipc_connect(&full, 0) {
        queued.push(s);
    }
    no_leak("connect timeout", || {
        assert_errno(ipc_connect(&full, 0), libc::ETIMEDOUT, "deadline 0");
    });
    let before = fd_count();
    for _ in 0..3 {
        assert_errno(ipc_connect(&full, now() + 5), libc::ETIMEDOUT, "deadline");
    }
    assert_eq!(fd_count(), before, "connect timeout leaked");
    no_leak("connect cancel", || {
        let path = full.clone();
        let co = go(move || {
            let mut mem = IpcMem::new();
            errno(ipc_connect_mem(&path, &mut mem, -1))
        })
        .unwrap();
        yield_now().unwrap();
        drop(co);
    });
    drop(queued);
    drop(l);

    // Accept timeout and cancellation.
    let lp = dir.join("accept");
    let l = std::rc::Rc::new(ipc_listen(&lp, 8).unwrap());
    // Register the listener with the reactor before counting: a coroutine
    // waits in accept (it runs until it blocks, so the registration is made
    // when `go` returns) and is cancelled. The registration stays until the
    // listener is closed. (A warm-up with a short deadline would register
    // nothing if the deadline passed before the wait, as it can under
    // valgrind.)
    let l2 = l.clone();
    let warm = go(move || errno(ipc_accept(&l2, -1))).unwrap();
    assert!(!warm.is_finished(), "the warm-up accept did not wait");
    drop(warm);
    no_leak("accept timeout/cancel", || {
        assert_errno(ipc_accept(&l, 0), libc::ETIMEDOUT, "accept");
        let l2 = l.clone();
        let co = go(move || errno(ipc_accept(&l2, -1))).unwrap();
        yield_now().unwrap();
        drop(co);
    });
    // Connections accepted and dropped, on both sides.
    no_leak("connect/accept/drop", || {
        let c = ipc_connect(&lp, -1).unwrap();
        let s = ipc_accept(&l, -1).unwrap();
        drop((c, s));
    });

    no_leak("transfer errors", || {
        let (mut a, b) = ipc_pair().unwrap();
        assert_errno(brecv(&mut a, &mut [0u8; 1], 0), libc::ETIMEDOUT, "brecv");
        let co = go(move || {
            let mut b = b;
            errno(brecv(&mut b, &mut [0u8; 1], -1))
        })
        .unwrap();
        yield_now().unwrap();
        drop(co);
        assert_errno(bsend(&mut a, b"x", -1), libc::ECONNRESET, "peer gone");
    });

    no_leak("close errors", || {
        let (a, _b) = ipc_pair().unwrap();
        assert_errno(ipc_close(a, 0), libc::ETIMEDOUT, "close");
        let (a, _b) = ipc_pair().unwrap();
        assert_errno(ipc_close(a, -2), libc::EINVAL, "close");
        let (mut a, b) = ipc_pair().unwrap();
        bsend(&mut a, b"x", -1).unwrap();
        drop(b);
        assert_errno(ipc_close(a, -1), libc::ECONNRESET, "close");
    });

    no_leak("fd passing errors", || {
        let (mut a, mut b) = ipc_pair().unwrap();
        // Two descriptors in one message: both must be closed.
        send_byte_with_fds(a.as_raw_fd(), &[b.as_raw_fd(), b.as_raw_fd()]);
        assert_errno(ipc_recvfd(&mut b, -1), libc::EPROTO, "two fds");
        bsend(&mut a, b"z", -1).unwrap();
        let (mut c, mut d) = ipc_pair().unwrap();
        bsend(&mut c, b"z", -1).unwrap();
        assert_errno(ipc_recvfd(&mut d, -1), libc::EPROTO, "no fd");
        ipc_sendfd(&mut c, a.as_fd(), -1).unwrap();
        drop(ipc_recvfd(&mut b, 0).unwrap_err());
        drop(d); // a descriptor in flight is released with the socket
    });

    no_leak("fromfd errors", || {
        let f = std::fs::File::open("/dev/null").unwrap();
        assert_errno(ipc_fromfd(f.into()), libc::ENOTSOCK, "file");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_errno(ipc_fromfd(udp.into()), libc::EINVAL, "udp");
        let (x, _y) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(ipc_fromfd(x.into()).unwrap());
    });

    no_leak("cancelled constructors", || {
        let lp2 = lp.clone();
        let co = go(move || {
            let _ = msleep(-1);
            ipc_connect(&lp2, -1).unwrap_err();
            ipc_pair().unwrap_err();
        })
        .unwrap();
        drop(co);
    });
}
