//! Split halves and shared streams: one reader and one writer per stream,
//! in separate coroutines; a second concurrent reader gets EBUSY.

mod ipc_util;

use std::io::{Read, Write};
use std::rc::Rc;

use dill::*;
use ipc_util::*;

#[test]
fn halves_move_into_two_coroutines_full_duplex() {
    // Both directions carry a megabyte at the same time: with one
    // coroutine per direction this cannot deadlock on full buffers.
    const N: usize = 1 << 20;
    let (a, b) = ipc_pair().unwrap();
    let (mut arx, mut atx) = a.split();
    let (mut brx, mut btx) = b.split();
    let data: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
    let d1 = data.clone();
    let d2 = data.clone();
    let w1 = go(move || bsend(&mut atx, &d1, after(20_000))).unwrap();
    let w2 = go(move || bsend(&mut btx, &d2, after(20_000))).unwrap();
    let r1 = go(move || {
        let mut got = vec![0u8; N];
        brecv(&mut arx, &mut got, after(20_000)).map(|()| got)
    })
    .unwrap();
    let r2 = go(move || {
        let mut got = vec![0u8; N];
        brecv(&mut brx, &mut got, after(20_000)).map(|()| got)
    })
    .unwrap();
    w1.join(-1).unwrap().unwrap();
    w2.join(-1).unwrap().unwrap();
    assert!(r1.join(-1).unwrap().unwrap() == data);
    assert!(r2.join(-1).unwrap().unwrap() == data);
}

#[test]
fn second_concurrent_reader_gets_ebusy() {
    let (a, mut b) = ipc_pair().unwrap();
    let (rx, mut tx) = a.split();
    let rx = Rc::new(rx);
    let (out, results) = chmake::<std::io::Result<[u8; 4]>>().unwrap();
    let mut readers = Vec::new();
    for _ in 0..2 {
        let rx = rx.clone();
        let out = out.clone();
        readers.push(
            go(move || {
                let mut buf = [0u8; 4];
                let r = brecv(&mut &*rx, &mut buf, after(10_000)).map(|()| buf);
                out.send(r, -1).unwrap();
            })
            .unwrap(),
        );
    }
    // No data has been sent: the only way a reader can finish now is being
    // turned away because the other one is receiving.
    let first = results.recv(after(10_000)).unwrap();
    assert_eq!(errno(first), libc::EBUSY);
    // The refusal did not break the direction: the waiting reader gets the
    // data, and the write half works from here meanwhile.
    bsend(&mut b, b"data", -1).unwrap();
    let second = results.recv(after(10_000)).unwrap().unwrap();
    assert_eq!(&second, b"data");
    bsend(&mut tx, b"back", -1).unwrap();
    let mut buf = [0u8; 4];
    brecv(&mut b, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"back");
    for r in readers {
        r.join(-1).unwrap();
    }
}

#[test]
fn second_concurrent_writer_gets_ebusy() {
    const N: usize = 4 << 20;
    let (a, mut b) = ipc_pair().unwrap();
    let a = Rc::new(a);
    let (out, results) = chmake::<std::io::Result<()>>().unwrap();
    let mut writers = Vec::new();
    for _ in 0..2 {
        let a = a.clone();
        let out = out.clone();
        writers.push(
            go(move || {
                // Far more than the socket buffers hold: whichever writer
                // starts first blocks in the middle of its send.
                let big = vec![7u8; N];
                out.send(bsend(&mut &*a, &big, after(20_000)), -1).unwrap();
            })
            .unwrap(),
        );
    }
    assert_errno(
        results.recv(after(10_000)).unwrap(),
        libc::EBUSY,
        "second writer",
    );
    let mut sink = vec![0u8; N];
    brecv(&mut b, &mut sink, after(20_000)).unwrap();
    results.recv(after(20_000)).unwrap().unwrap();
    assert!(sink.iter().all(|&x| x == 7));
    for w in writers {
        w.join(-1).unwrap();
    }
}

#[test]
fn shared_stream_serves_a_reader_and_a_writer() {
    let (a, mut b) = ipc_pair().unwrap();
    let a = Rc::new(a);
    let ar = a.clone();
    let reader = go(move || {
        let mut buf = [0u8; 5];
        (&*ar).read_exact(&mut buf).map(|()| buf)
    })
    .unwrap();
    let aw = a.clone();
    let writer = go(move || (&*aw).write_all(b"hello")).unwrap();
    let mut buf = [0u8; 5];
    brecv(&mut b, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"hello");
    bsend(&mut b, b"world", -1).unwrap();
    writer.join(-1).unwrap().unwrap();
    assert_eq!(&reader.join(-1).unwrap().unwrap(), b"world");
}

#[test]
fn wrong_direction_is_enotsup() {
    let (a, _b) = ipc_pair().unwrap();
    let (mut rx, mut tx) = a.split();
    assert_errno(bsend(&mut rx, b"x", -1), libc::ENOTSUP, "send on read half");
    let mut buf = [0u8; 1];
    assert_errno(
        brecv(&mut tx, &mut buf, -1),
        libc::ENOTSUP,
        "recv on write half",
    );
    assert_errno(
        bsendl(&mut rx, &[std::io::IoSlice::new(b"x")], -1),
        libc::ENOTSUP,
        "sendl",
    );
    assert_errno(
        brecvl(&mut tx, &mut [std::io::IoSliceMut::new(&mut buf)], -1),
        libc::ENOTSUP,
        "recvl",
    );
    // The refusals broke nothing.
    let mut s = IpcStream::unsplit(rx, tx).unwrap();
    bsend(&mut s, b"x", 0).unwrap();
}

#[test]
fn dropping_both_halves_closes() {
    let (a, mut b) = ipc_pair().unwrap();
    let (rx, tx) = a.split();
    drop(tx);
    // One half alive: the socket is still open.
    bsend(&mut b, b"x", 0).unwrap();
    let mut one = [0u8; 1];
    let mut rx = rx;
    brecv(&mut rx, &mut one, 0).unwrap();
    drop(rx);
    // Both gone: the peer sees the end of stream.
    assert_errno(brecv(&mut b, &mut one, after(10_000)), libc::EPIPE, "eof");
}

#[test]
fn halves_in_caller_memory() {
    let (mut ma, mut mb) = (IpcMem::new(), IpcMem::new());
    let (a, mut b) = ipc_pair_mem(&mut ma, &mut mb).unwrap();
    let (mut rx, tx) = a.split();
    tx.done(-1).unwrap();
    let mut buf = [0u8; 1];
    assert_errno(brecv(&mut b, &mut buf, after(10_000)), libc::EPIPE, "done");
    bsend(&mut b, b"y", -1).unwrap();
    brecv(&mut rx, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"y");
    // Done twice is EPIPE, on the half as on the stream.
    assert_errno(tx.done(-1), libc::EPIPE, "done twice");
    drop((rx, tx, b));
    // The memory is free for reuse once both halves are gone.
    let (_a, _b) = ipc_pair_mem(&mut ma, &mut mb).unwrap();
}

#[test]
fn unsplit_refuses_halves_of_different_streams() {
    let (a, b) = ipc_pair().unwrap();
    let (arx, _atx) = a.split();
    let (_brx, btx) = b.split();
    let (arx, btx) = IpcStream::unsplit(arx, btx).unwrap_err();
    drop((arx, btx));
}

#[test]
fn unsplit_stream_closes_in_order() {
    let (a, b) = ipc_pair().unwrap();
    let (rx, tx) = a.split();
    let s = IpcStream::unsplit(rx, tx).unwrap();
    let peer = go(move || {
        let mut b = b;
        let mut buf = [0u8; 1];
        let e = errno(brecv(&mut b, &mut buf, after(10_000)));
        ipc_close(b, after(10_000)).map(|()| e)
    })
    .unwrap();
    ipc_close(s, after(10_000)).unwrap();
    assert_eq!(peer.join(-1).unwrap().unwrap(), libc::EPIPE);
}
