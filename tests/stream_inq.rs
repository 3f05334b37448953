//! Streams that have learnt their socket is empty (the kernel reports the
//! bytes left after each receive: `SO_INQ` for IPC, `TCP_INQ` for TCP) wait
//! for the next readable event instead of trying a receive that would say
//! `EAGAIN`. These tests write from outside the scheduler (a blocking std
//! socket on the same thread, so no reactor poll happens between the write
//! and the receive) and check that nothing written is ever missed: with a
//! deadline of 0, with an ordinary deadline, across several writes, from a
//! cancelled coroutine, at end of stream, and after the descriptor is taken
//! out of the stream. On kernels without the report every receive is tried
//! first, and the same assertions hold.

use std::cell::RefCell;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcp};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use dill::*;

mod util;

/// A coroutine receives one byte on `s` (it finds nothing, so the stream
/// asks for the report, then waits); `w` writes it; the stream is handed
/// back once that receive has completed (it emptied the socket).
fn learn<S: ByteStream + 'static>(s: S, w: &mut impl Write) -> S {
    let h = go(move || {
        let mut s = s;
        let mut b = [0u8; 1];
        brecv(&mut s, &mut b, after(30_000)).unwrap();
        assert_eq!(&b, b"a");
        s
    })
    .unwrap();
    w.write_all(b"a").unwrap();
    h.join(after(30_000)).unwrap()
}

/// The receive paths after `learn`, with bytes written behind the
/// scheduler's back each time. Consumes the stream (the last check drops
/// it in a cancelled coroutine).
fn check<S: ByteStream + std::io::Read + 'static>(mut s: S, w: &mut impl Write) {
    let mut b = [0u8; 1];
    // Deadline 0: the receive is tried, whatever the scheduler believes.
    w.write_all(b"b").unwrap();
    brecv(&mut s, &mut b, 0).unwrap();
    assert_eq!(&b, b"b");
    // An ordinary deadline: the byte is found (at once or after the
    // reactor reports it).
    w.write_all(b"c").unwrap();
    brecv(&mut s, &mut b, after(30_000)).unwrap();
    assert_eq!(&b, b"c");
    // Several writes, then exact reads across them.
    w.write_all(b"de").unwrap();
    w.write_all(b"fgh").unwrap();
    let mut b3 = [0u8; 3];
    brecv(&mut s, &mut b3, after(30_000)).unwrap();
    assert_eq!(&b3, b"def");
    brecv(&mut s, &mut b3[..2], after(30_000)).unwrap();
    assert_eq!(&b3[..2], b"gh");
    // A coroutine waiting for bytes gets them.
    let h = go(move || {
        let mut b = [0u8; 2];
        brecv(&mut s, &mut b, after(30_000)).unwrap();
        assert_eq!(&b, b"jk");
        s
    })
    .unwrap();
    w.write_all(b"j").unwrap();
    w.write_all(b"k").unwrap();
    let mut s = h.join(after(30_000)).unwrap();
    // std's Read goes the same way.
    w.write_all(b"l").unwrap();
    assert_eq!(s.read_some_byte(), b'l');
    // A cancelled coroutine still gets what has arrived.
    w.write_all(b"m").unwrap();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let co = go(move || {
        assert_eq!(util::errno(msleep(-1)), errno::ECANCELED);
        let mut b = [0u8; 1];
        *g.borrow_mut() = Some(
            brecv(&mut s, &mut b, -1)
                .map(|()| b[0])
                .map_err(|e| e.raw_os_error()),
        );
    })
    .unwrap();
    drop(co);
    assert_eq!(*got.borrow(), Some(Ok(b'm')));
}

/// One byte through `std::io::Read`, for streams that implement it.
trait ReadByte {
    fn read_some_byte(&mut self) -> u8;
}

impl<S: std::io::Read> ReadByte for S {
    fn read_some_byte(&mut self) -> u8 {
        let mut b = [0u8; 1];
        assert_eq!(self.read(&mut b).unwrap(), 1);
        b[0]
    }
}

fn ipc_pair_std() -> (UnixStream, IpcStream<'static>) {
    let (w, r) = UnixStream::pair().unwrap();
    (w, ipc_fromfd(OwnedFd::from(r)).unwrap())
}

fn tcp_pair_std() -> (StdTcp, TcpStream<'static>) {
    let l = tcp_listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 8).unwrap();
    let w = StdTcp::connect(l.local_addr().unwrap()).unwrap();
    w.set_nodelay(true).unwrap();
    let (s, _) = tcp_accept(&l, after(30_000)).unwrap();
    (w, s)
}

#[test]
fn ipc_receives_see_bytes_written_behind_the_schedulers_back() {
    let (mut w, s) = ipc_pair_std();
    let s = learn(s, &mut w);
    check(s, &mut w);
}

#[test]
fn tcp_receives_see_bytes_written_behind_the_schedulers_back() {
    let (mut w, s) = tcp_pair_std();
    let s = learn(s, &mut w);
    check(s, &mut w);
}

#[test]
fn end_of_stream_after_the_socket_was_emptied() {
    let (mut w, s) = ipc_pair_std();
    let mut s = learn(s, &mut w);
    drop(w);
    assert_eq!(
        util::errno(brecv(&mut s, &mut [0u8; 1], after(30_000))),
        errno::EPIPE
    );
    let (mut w, s) = tcp_pair_std();
    let mut s = learn(s, &mut w);
    drop(w);
    assert_eq!(
        util::errno(brecv(&mut s, &mut [0u8; 1], after(30_000))),
        errno::EPIPE
    );
}

/// A plain `recvmsg` with room for control messages on `fd`: the bytes
/// read and the control bytes the kernel returned.
fn recvmsg_control(fd: i32) -> (usize, usize) {
    let mut data = [0u8; 16];
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; the pointers below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` describes live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    (n as usize, msg.msg_controllen as usize)
}

#[test]
fn a_descriptor_taken_out_receives_no_control_messages() {
    let (mut w, s) = ipc_pair_std();
    let s = learn(s, &mut w);
    let fd = OwnedFd::from(s);
    w.write_all(b"xy").unwrap();
    assert_eq!(recvmsg_control(fd.as_raw_fd()), (2, 0));

    let (mut w, s) = tcp_pair_std();
    let s = learn(s, &mut w);
    let fd = OwnedFd::from(s);
    w.write_all(b"xy").unwrap();
    // A blocking read on a non-blocking socket: wait for the bytes first.
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    assert_eq!(unsafe { libc::poll(&mut p, 1, 30_000) }, 1);
    let (n, control) = recvmsg_control(fd.as_raw_fd());
    assert!(n >= 1);
    assert_eq!(control, 0);
}
