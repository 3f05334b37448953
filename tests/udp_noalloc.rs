//! `udp_open`, `udp_send[l]`, `udp_recv[l]` and the `MsgStream` calls on a
//! UDP socket make no heap allocation, blocking receives included.
//!
//! Runs without the test harness (one thread, nothing else allocating)
//! under a counting global allocator.

mod alloc_counter;

use std::io::{IoSlice, IoSliceMut};

use dill::*;

use alloc_counter::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let any = ipaddr_local(Some("127.0.0.1"), 0, IpMode::Ipv4).unwrap();
    let mut server = udp_open(Some(any), None).unwrap();
    let server_addr = server.local_addr().unwrap();
    // Echo peer in a coroutine: the client's receives block until it runs.
    let echo = go(move || {
        let mut buf = [0u8; 64];
        while let Ok((n, from)) = udp_recv(&mut server, &mut buf, -1) {
            if udp_send(&mut server, Some(from), &buf[..n]).is_err() {
                break;
            }
        }
    })
    .unwrap();

    let round = |client: &mut UdpSocket| {
        msend(client, b"ping", -1).unwrap();
        let mut buf = [0u8; 8];
        let n = mrecv(client, &mut buf, now() + 10_000).unwrap();
        assert_eq!(&buf[..n], b"ping");
        udp_sendl(client, None, &[IoSlice::new(b"pi"), IoSlice::new(b"ng")]).unwrap();
        let (mut a, mut b) = ([0u8; 2], [0u8; 6]);
        let (n, from) = udp_recvl(
            client,
            &mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)],
            now() + 10_000,
        )
        .unwrap();
        assert_eq!((n, from), (4, server_addr));
    };
    // Warm up: the runtime sizes its tables for these descriptors.
    for _ in 0..3 {
        let mut c = udp_open(None, Some(server_addr)).unwrap();
        round(&mut c);
    }
    let before = allocs();
    for _ in 0..200 {
        let mut c = udp_open(None, Some(server_addr)).unwrap();
        round(&mut c);
        round(&mut c);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} heap allocations in 200 rounds");
    drop(echo);
    println!("udp_noalloc: 200 udp_open and 400 send/receive round trips, 0 allocations");
}
