//! `io::Write::write_vectored` on IPC and TCP streams: the buffers go out
//! in one gathering send (so crates that queue several records, rustls for
//! one, hand them all over in one call), empty buffers are skipped, and
//! the errors are those of `write`.

use std::io::{IoSlice, Read, Write};
use std::net::SocketAddr;

use dill::*;

fn tcp_pair() -> (TcpStream<'static>, TcpStream<'static>) {
    let l = tcp_listen(SocketAddr::from(([127, 0, 0, 1], 0)), 8).unwrap();
    let c = tcp_connect(l.local_addr().unwrap(), after(5000)).unwrap();
    let (s, _) = tcp_accept(&l, after(5000)).unwrap();
    (c, s)
}

/// Writes three buffers (and two empty ones) in one call and reads them
/// back in order on the other end.
fn gathers(mut w: impl Write, mut r: impl Read) {
    let bufs = [
        IoSlice::new(b""),
        IoSlice::new(b"alpha-"),
        IoSlice::new(b""),
        IoSlice::new(b"beta-"),
        IoSlice::new(b"gamma"),
    ];
    // A fresh socket's send buffer takes 16 bytes at once: all of them go
    // out in the one call.
    assert_eq!(w.write_vectored(&bufs).unwrap(), 16);
    let mut got = [0u8; 16];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"alpha-beta-gamma");
    // Nothing to send: Ok(0), nothing sent.
    assert_eq!(w.write_vectored(&[]).unwrap(), 0);
    assert_eq!(w.write_vectored(&[IoSlice::new(b"")]).unwrap(), 0);
}

#[test]
fn tcp_write_vectored_sends_all_buffers_in_order() {
    let (c, s) = tcp_pair();
    gathers(&c, &s);
    let (mut c, s) = (c, s);
    let (_r, w) = s.split();
    gathers(&w, &mut c);
}

#[test]
fn ipc_write_vectored_sends_all_buffers_in_order() {
    let (a, b) = ipc_pair().unwrap();
    gathers(&a, &b);
    let (_r, w) = b.split();
    let mut a = a;
    gathers(&w, &mut a);
}

#[test]
fn write_vectored_after_done_is_epipe() {
    let bufs = [IoSlice::new(b"x"), IoSlice::new(b"y")];

    let (mut c, _s) = tcp_pair();
    tcp_done(&mut c, -1).unwrap();
    let e = c.write_vectored(&bufs).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(errno::EPIPE), "{e}");

    let (mut a, _b) = ipc_pair().unwrap();
    ipc_done(&mut a, -1).unwrap();
    let e = a.write_vectored(&bufs).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(errno::EPIPE), "{e}");
}
