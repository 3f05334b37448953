//! `tcp_listen_mem`, `tcp_connect_mem`, `tcp_accept_mem`, `bsend` and
//! `brecv` over TCP make no heap allocation, and the heap variants turn an
//! allocation failure into ENOMEM without leaking a descriptor.
//!
//! Runs without the test harness (one thread, nothing else allocating)
//! under a counting global allocator.

mod alloc_counter;

use std::net::SocketAddr;

use dill::*;

use alloc_counter::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One client round trip through the echo server: connect, send, receive
/// (blocking until the server coroutine answers), orderly close.
fn client_round(addr: SocketAddr, payload: &[u8; 64]) {
    let mut mem = TcpMem::new();
    let mut s = tcp_connect_mem(addr, &mut mem, after(10_000)).unwrap();
    bsend(&mut s, payload, -1).unwrap();
    let mut back = [0u8; 64];
    brecv(&mut s, &mut back, after(10_000)).unwrap();
    assert_eq!(&back, payload);
    // Through a shared reference, and through split halves.
    bsend(&mut &s, payload, -1).unwrap();
    brecv(&mut &s, &mut back, after(10_000)).unwrap();
    let (mut rx, mut tx) = s.split();
    bsend(&mut tx, payload, -1).unwrap();
    brecv(&mut rx, &mut back, after(10_000)).unwrap();
    assert_eq!(&back, payload);
    let s = TcpStream::unsplit(rx, tx).unwrap();
    tcp_close(s, after(10_000)).unwrap();
}

fn main() {
    // tcp_listen_mem allocates nothing either.
    // (The thread's scheduler is made on first use: warm it up first.)
    yield_now().unwrap();
    let mut lmem = TcpListenerMem::new();
    let before_listen = allocs();
    let l = tcp_listen_mem("127.0.0.1:0".parse().unwrap(), &mut lmem, 16).unwrap();
    assert!(l.local_addr().unwrap().port() != 0);
    drop(l);
    assert_eq!(allocs(), before_listen, "tcp_listen_mem allocated");

    let listener = tcp_listen("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let addr = listener.local_addr().unwrap();

    // Echo server: accepts into one reused TcpMem, echoes until EOF, then
    // closes in order.
    let server = go(move || {
        let mut mem = TcpMem::new();
        loop {
            let (mut s, _) = match tcp_accept_mem(&listener, &mut mem, -1) {
                Ok(s) => s,
                Err(_) => return,
            };
            let mut buf = [0u8; 64];
            while brecv(&mut s, &mut buf, -1).is_ok() {
                if bsend(&mut s, &buf, -1).is_err() {
                    break;
                }
            }
            let _ = tcp_close(s, after(10_000));
        }
    })
    .unwrap();

    let payload = [7u8; 64];
    // Warm up: the runtime sizes its tables for these descriptors.
    for _ in 0..3 {
        client_round(addr, &payload);
    }
    let before = allocs();
    for _ in 0..200 {
        client_round(addr, &payload);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} heap allocations in 200 rounds");
    println!("tcp_noalloc: 200 connect/accept/bsend/brecv/split/close rounds, 0 allocations");

    // ENOMEM from the heap variants, without leaking a descriptor and
    // without a connection reaching the listener.
    let fds = fd_count();
    let mut pmem = TcpListenerMem::new();
    let probe = tcp_listen_mem("127.0.0.1:0".parse().unwrap(), &mut pmem, 4).unwrap();
    let paddr = probe.local_addr().unwrap();
    let enomem = |name: &str, r: std::io::Result<()>| {
        assert_eq!(
            r.map_err(|e| e.raw_os_error()),
            Err(Some(libc::ENOMEM)),
            "{name}"
        );
        alloc_counter::fail_in(0);
    };
    alloc_counter::fail_in(1);
    enomem("tcp_connect", tcp_connect(paddr, after(10_000)).map(drop));
    alloc_counter::fail_in(1);
    enomem(
        "tcp_listen",
        tcp_listen("127.0.0.1:0".parse().unwrap(), 4).map(drop),
    );
    let queued = tcp_connect(paddr, after(10_000)).unwrap();
    let fds_queued = fd_count();
    alloc_counter::fail_in(1);
    enomem("tcp_accept", tcp_accept(&probe, after(10_000)).map(drop));
    assert_eq!(fd_count(), fds_queued, "descriptor leaked on ENOMEM");
    // The failed tcp_accept did not consume the queued connection, and the
    // failed tcp_connect never reached the listener.
    let mut m = TcpMem::new();
    let (got, from) = tcp_accept_mem(&probe, &mut m, after(10_000)).unwrap();
    assert_eq!(from, queued.local_addr().unwrap());
    drop(got);
    assert_eq!(
        tcp_accept_mem(&probe, &mut m, 0)
            .map(drop)
            .map_err(|e| e.raw_os_error()),
        Err(Some(libc::ETIMEDOUT))
    );
    drop(queued);
    drop(probe);
    assert_eq!(fd_count(), fds, "descriptor leaked");
    println!("tcp_noalloc: ENOMEM from tcp_connect, tcp_listen, tcp_accept; no leaks");
    drop(server);
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}
