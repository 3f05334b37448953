//! Half-close with `ipc_done` and orderly close with `ipc_close`.

mod ipc_util;

use dill::*;
use ipc_util::*;

#[test]
fn done_half_closes() {
    let (mut a, mut b) = ipc_pair().unwrap();
    bsend(&mut a, b"last words", -1).unwrap();
    ipc_done(&mut a, -1).unwrap();
    assert_errno(bsend(&mut a, b"x", -1), libc::EPIPE, "bsend after done");
    assert_errno(ipc_done(&mut a, -1), libc::EPIPE, "done twice");
    // The peer reads everything sent before, then EPIPE.
    let mut buf = [0u8; 10];
    brecv(&mut b, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"last words");
    assert_errno(
        brecv(&mut b, &mut buf[..1], -1),
        libc::EPIPE,
        "peer after done",
    );
    // The other direction still works.
    bsend(&mut b, b"reply", -1).unwrap();
    let mut r = [0u8; 5];
    brecv(&mut a, &mut r, -1).unwrap();
    assert_eq!(&r, b"reply");
}

#[test]
fn done_rejects_bad_deadline() {
    let (mut a, _b) = ipc_pair().unwrap();
    assert_errno(ipc_done(&mut a, -2), libc::EINVAL, "deadline");
    bsend(&mut a, b"x", -1).unwrap();
}

#[test]
fn orderly_close_on_both_sides() {
    let (mut a, b) = ipc_pair().unwrap();
    let peer = go(move || {
        let mut b = b;
        let mut buf = [0u8; 3];
        brecv(&mut b, &mut buf, -1).unwrap();
        bsend(&mut b, b"bye", -1).unwrap();
        ipc_close(b, now() + 5000)
    })
    .unwrap();
    bsend(&mut a, b"end", -1).unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut a, &mut buf, -1).unwrap();
    ipc_close(a, now() + 5000).unwrap();
    peer.join(-1).unwrap().unwrap();
}

#[test]
fn close_discards_unread_inbound_data() {
    let (a, mut b) = ipc_pair().unwrap();
    // Data `a` will never read explicitly: ipc_close drains it.
    bsend(&mut b, &[1u8; 10_000], -1).unwrap();
    let closer = go(move || ipc_close(a, now() + 5000)).unwrap();
    assert_errno(
        brecv(&mut b, &mut [0u8; 1], now() + 5000),
        libc::EPIPE,
        "peer sees EOF",
    );
    ipc_done(&mut b, -1).unwrap();
    closer.join(-1).unwrap().unwrap();
}

#[test]
fn close_times_out_when_the_peer_never_finishes() {
    let (a, mut b) = ipc_pair().unwrap();
    let deadline = now() + 30;
    assert_errno(ipc_close(a, deadline), libc::ETIMEDOUT, "close");
    let t = now();
    assert!(t >= deadline, "woke {} ms early", deadline - t);
    assert!(t < deadline + 1000, "woke {} ms late", t - deadline);
    // The socket was closed anyway: the peer sees EOF, then a reset on send.
    assert_errno(brecv(&mut b, &mut [0u8; 1], -1), libc::EPIPE, "EOF");
    assert_errno(bsend(&mut b, b"x", -1), libc::ECONNRESET, "closed");
}

#[test]
fn close_after_done_only_waits_for_the_peer() {
    let (mut a, mut b) = ipc_pair().unwrap();
    ipc_done(&mut a, -1).unwrap();
    ipc_done(&mut b, -1).unwrap();
    ipc_close(a, 0).unwrap();
    assert_errno(brecv(&mut b, &mut [0u8; 1], 0), libc::EPIPE, "EOF");
}

#[test]
fn close_reports_a_reset_peer() {
    let (mut a, mut b) = ipc_pair().unwrap();
    // `b` closes with data from `a` it never read: a reset.
    bsend(&mut a, b"unread", -1).unwrap();
    bsend(&mut b, b"x", -1).unwrap();
    drop(b);
    assert_errno(ipc_close(a, now() + 5000), libc::ECONNRESET, "close");
}

#[test]
fn close_in_a_cancelled_coroutine() {
    use std::cell::Cell;
    use std::rc::Rc;
    let (a, mut b) = ipc_pair().unwrap();
    let (c, d) = ipc_pair().unwrap();
    ipc_done(&mut b, -1).unwrap();
    let res = Rc::new(Cell::new([0; 2]));
    let r = res.clone();
    let co = go(move || {
        let _ = msleep(-1);
        // Peer already finished: completes without blocking.
        let x = ipc_close(a, -1).map_or_else(|e| e.raw_os_error().unwrap(), |()| 0);
        // Peer still open: would block.
        let y = ipc_close(c, -1).map_or_else(|e| e.raw_os_error().unwrap(), |()| 0);
        r.set([x, y]);
    })
    .unwrap();
    drop(co);
    assert_eq!(res.get(), [0, libc::ECANCELED]);
    drop(d);
}

#[test]
fn close_rejects_bad_deadline_but_still_closes() {
    let (a, mut b) = ipc_pair().unwrap();
    assert_errno(ipc_close(a, -5), libc::EINVAL, "deadline");
    assert_errno(bsend(&mut b, b"x", -1), libc::ECONNRESET, "closed");
}
