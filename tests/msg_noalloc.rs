//! PREFIX, SUFFIX and TERM make no heap allocation, over IPC and TCP: not
//! to attach or detach, not per message (msend/mrecv and their vectored forms, blocking
//! or not), not on EMSGSIZE, and not for the TERM handshake.
//!
//! Runs without the test harness (one thread, nothing else allocating)
//! under a counting global allocator.

mod alloc_counter;

use std::io::{IoSlice, IoSliceMut};

use dill::*;

use alloc_counter::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Echoes PREFIX messages on `s` until the stream ends.
fn prefix_echo(s: IpcStream<'static>) -> Coroutine<()> {
    go(move || {
        let mut p = prefix_attach(s, 4, PREFIX_BIG_ENDIAN).unwrap();
        let mut buf = [0u8; 256];
        while let Ok(n) = mrecv(&mut p, &mut buf, -1) {
            if msend(&mut p, &buf[..n], -1).is_err() {
                break;
            }
        }
    })
    .unwrap()
}

/// Echoes SUFFIX lines on `s` until the stream ends.
fn suffix_echo(s: IpcStream<'static>) -> Coroutine<()> {
    go(move || {
        let mut p = suffix_attach(s, b"\r\n").unwrap();
        let mut buf = [0u8; 256];
        while let Ok(n) = mrecv(&mut p, &mut buf, -1) {
            if msend(&mut p, &buf[..n], -1).is_err() {
                break;
            }
        }
    })
    .unwrap()
}

/// One round of everything, on streams in caller memory.
fn round(
    pp: &mut PrefixStream<IpcStream<'static>>,
    sp: &mut SuffixStream<IpcStream<'static>>,
    tp: &mut TermStream<PrefixStream<TcpStream<'static>>>,
) {
    let payload = [b'q'; 100];
    let mut back = [0u8; 256];

    // TERM over PREFIX over TCP loopback, through an echo coroutine.
    msend(tp, &payload, -1).unwrap();
    assert_eq!(mrecv(tp, &mut back, now() + 10_000).unwrap(), 100);

    // Blocking round trips through the echo coroutines.
    msend(pp, &payload, -1).unwrap();
    assert_eq!(mrecv(pp, &mut back, now() + 10_000).unwrap(), 100);
    msendl(pp, &[IoSlice::new(b"ab"), IoSlice::new(b"cd")], -1).unwrap();
    let (mut x, mut y) = ([0u8; 1], [0u8; 10]);
    let n = mrecvl(
        pp,
        &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)],
        now() + 10_000,
    )
    .unwrap();
    assert_eq!(n, 4);
    msend(sp, &payload, -1).unwrap();
    assert_eq!(mrecv(sp, &mut back, now() + 10_000).unwrap(), 100);

    // Attach, EMSGSIZE both ways, TERM handshake, detach: on a pair in
    // caller memory.
    let (mut ma, mut mb) = (IpcMem::new(), IpcMem::new());
    let (a, b) = ipc_pair_mem(&mut ma, &mut mb).unwrap();
    let mut a = prefix_attach(a, 1, PREFIX_BIG_ENDIAN).unwrap();
    let mut b = prefix_attach(b, 1, PREFIX_BIG_ENDIAN).unwrap();
    assert!(msend(&mut a, &[0u8; 300], -1).is_err());
    msend(&mut a, &[1u8; 200], -1).unwrap();
    assert!(mrecv(&mut b, &mut back[..10], 0).is_err());
    let mut a = term_attach(a, b"STOP").unwrap();
    let mut b = term_attach(b, b"STOP").unwrap();
    msend(&mut a, b"hi", 0).unwrap();
    assert_eq!(mrecv(&mut b, &mut back, 0).unwrap(), 2);
    term_done(&mut a, 0).unwrap();
    let b = b.detach(0).unwrap();
    let a = a.detach(0).unwrap();
    let (a, b) = (a.detach().unwrap(), b.detach().unwrap());
    let mut a = suffix_attach(a, b"\n").unwrap();
    let mut b = suffix_attach(b, b"\n").unwrap();
    msend(&mut a, b"0123456789abc", 0).unwrap();
    assert!(mrecv(&mut b, &mut back[..4], 0).is_err());
    msend(&mut a, b"line", 0).unwrap();
    assert_eq!(mrecv(&mut b, &mut back, 0).unwrap(), 4);
    drop(a.detach(0).unwrap());
    drop(b.detach(0).unwrap());
}

fn main() {
    let (p1, p2) = ipc_pair().unwrap();
    let (s1, s2) = ipc_pair().unwrap();
    let e1 = prefix_echo(p2);
    let e2 = suffix_echo(s2);
    let mut pp = prefix_attach(p1, 4, PREFIX_BIG_ENDIAN).unwrap();
    let mut sp = suffix_attach(s1, b"\r\n").unwrap();
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    let t1 = tcp_connect(l.local_addr().unwrap(), -1).unwrap();
    let (t2, _) = tcp_accept(&l, -1).unwrap();
    let e3 = go(move || {
        let mut p = term_attach(prefix_attach(t2, 4, PREFIX_BIG_ENDIAN).unwrap(), b"STOP").unwrap();
        let mut buf = [0u8; 256];
        while let Ok(n) = mrecv(&mut p, &mut buf, -1) {
            if msend(&mut p, &buf[..n], -1).is_err() {
                break;
            }
        }
        // The peer's terminal message: answer it, then wait for the end
        // of the stream (outside the counted region).
        let mut below = p.detach(-1).unwrap();
        let _ = mrecv(&mut below, &mut buf, -1);
    })
    .unwrap();
    let mut tp = term_attach(prefix_attach(t1, 4, PREFIX_BIG_ENDIAN).unwrap(), b"STOP").unwrap();

    for _ in 0..3 {
        round(&mut pp, &mut sp, &mut tp);
    }
    let before = allocs();
    for _ in 0..200 {
        round(&mut pp, &mut sp, &mut tp);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} heap allocations in 200 rounds");
    println!("msg_noalloc: 200 rounds of PREFIX/SUFFIX/TERM attach, messages, EMSGSIZE, handshake, detach: 0 allocations");

    // The TERM handshake over TCP, counted too (before the other echo
    // coroutines finish: recycling their stacks is the runtime's business).
    let before = allocs();
    let p = tp.detach(now() + 10_000).unwrap();
    assert_eq!(allocs() - before, 0, "TERM detach over TCP allocated");
    println!("msg_noalloc: TERM handshake over TCP: 0 allocations");
    drop(p);
    drop(pp);
    drop(sp);
    e3.join(-1).unwrap();
    e1.join(-1).unwrap();
    e2.join(-1).unwrap();
}
