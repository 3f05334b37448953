//! `ipc_connect_mem`, `ipc_accept_mem`, `ipc_pair_mem`, `bsend` and `brecv`
//! make no heap allocation, and the heap variants turn an allocation failure
//! into ENOMEM.
//!
//! Runs without the test harness (one thread, nothing else allocating)
//! under a counting global allocator.

mod alloc_counter;

use std::path::Path;

use dill::*;

use alloc_counter::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One client round trip through the echo server: connect, send, receive
/// (blocking until the server coroutine answers), close.
fn client_round(path: &Path, payload: &[u8; 64]) {
    let mut mem = IpcMem::new();
    let mut s = ipc_connect_mem(path, &mut mem, now() + 10_000).unwrap();
    bsend(&mut s, payload, -1).unwrap();
    let mut back = [0u8; 64];
    brecv(&mut s, &mut back, now() + 10_000).unwrap();
    assert_eq!(&back, payload);
    drop(s);
}

/// A pair in caller memory, with a blocking receive on one side.
fn pair_round(peer: &mut IpcStream<'_>) {
    let (mut ma, mut mb) = (IpcMem::new(), IpcMem::new());
    let (mut a, mut b) = ipc_pair_mem(&mut ma, &mut mb).unwrap();
    bsend(&mut a, b"0123456789", 0).unwrap();
    let mut buf = [0u8; 10];
    brecv(&mut b, &mut buf, 0).unwrap();
    // Blocking receive: the echo peer answers.
    bsend(peer, b"x", -1).unwrap();
    brecv(peer, &mut buf[..1], now() + 10_000).unwrap();
}

fn main() {
    let path = std::env::temp_dir().join(format!("dill-noalloc-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = ipc_listen(&path, 16).unwrap();

    // Echo server: accepts into one reused IpcMem, echoes until EOF.
    let server = go(move || {
        let mut mem = IpcMem::new();
        loop {
            let mut s = match ipc_accept_mem(&listener, &mut mem, -1) {
                Ok(s) => s,
                Err(_) => return,
            };
            let mut buf = [0u8; 64];
            loop {
                let n = if brecv(&mut s, &mut buf, -1).is_ok() {
                    64
                } else {
                    break;
                };
                if bsend(&mut s, &buf[..n], -1).is_err() {
                    break;
                }
            }
        }
    })
    .unwrap();
    // Second peer, on a pair, echoing single bytes.
    let (mut ours, theirs) = ipc_pair().unwrap();
    let echo1 = go(move || {
        let mut s = theirs;
        let mut b = [0u8; 1];
        while brecv(&mut s, &mut b, -1).is_ok() {
            if bsend(&mut s, &b, -1).is_err() {
                break;
            }
        }
    })
    .unwrap();

    let payload = [7u8; 64];
    // Warm up: the runtime sizes its tables for these descriptors.
    for _ in 0..3 {
        client_round(&path, &payload);
        pair_round(&mut ours);
    }
    let before = allocs();
    for _ in 0..200 {
        client_round(&path, &payload);
        pair_round(&mut ours);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} heap allocations in 200 rounds");
    println!("ipc_noalloc: 200 connect/accept/bsend/brecv and pair rounds, 0 allocations");

    // ENOMEM from the heap variants, without leaking a descriptor and
    // without a connection reaching the listener.
    let fds = fd_count();
    let mut lmem = IpcListenerMem::new();
    let other = path.with_extension("l2");
    let probe = ipc_listen_mem(&other, &mut lmem, 4).unwrap();
    let fds_probe = fd_count();
    let enomem = |name: &str, nth: usize, r: std::io::Result<()>| {
        assert_eq!(
            r.map_err(|e| e.raw_os_error()),
            Err(Some(libc::ENOMEM)),
            "{name} (allocation #{nth} failing)"
        );
        alloc_counter::fail_in(0);
    };
    alloc_counter::fail_in(1);
    enomem("ipc_connect", 1, ipc_connect(&other, -1).map(drop));
    alloc_counter::fail_in(1);
    enomem("ipc_pair", 1, ipc_pair().map(drop));
    alloc_counter::fail_in(2);
    enomem("ipc_pair", 2, ipc_pair().map(drop));
    let third = path.with_extension("l3");
    alloc_counter::fail_in(1);
    enomem("ipc_listen", 1, ipc_listen(&third, 4).map(drop));
    assert!(!third.exists());
    let _queued = ipc_connect(&other, -1).unwrap();
    alloc_counter::fail_in(1);
    enomem("ipc_accept", 1, ipc_accept(&probe, -1).map(drop));
    drop(_queued);
    assert_eq!(fd_count(), fds_probe, "descriptor leaked on ENOMEM");
    // The failed ipc_accept did not consume the queued connection, and the
    // failed ipc_connect never reached the listener.
    let mut m = IpcMem::new();
    ipc_accept_mem(&probe, &mut m, 0).unwrap();
    assert_eq!(
        ipc_accept_mem(&probe, &mut m, 0)
            .map(drop)
            .map_err(|e| e.raw_os_error()),
        Err(Some(libc::ETIMEDOUT))
    );
    drop(probe);
    assert_eq!(fd_count(), fds);
    println!("ipc_noalloc: ENOMEM from ipc_connect, ipc_pair, ipc_listen, ipc_accept; no leaks");

    drop(ours);
    drop(echo1);
    drop(server);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&other);
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}
