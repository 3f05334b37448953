//! A thread's doorbell (the descriptor through which other threads wake
//! its scheduler) exists only once the thread has blocked on a shared
//! channel, and is closed when the thread exits: no descriptor leaks.
//! One test in this binary, so that nothing else opens descriptors
//! meanwhile.

use std::thread;

use dill::{blocking, chmake_shared, go};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn doorbells_are_closed_when_their_threads_exit() {
    let (a, b) = chmake_shared::<u32>(0).unwrap();
    // Warm up: this thread's own scheduler gets its reactor and doorbell
    // now, by blocking on a shared channel for sure (the sender waits until
    // it sees the receiver queued); the blocking pool's helper thread runs
    // no scheduler and opens nothing.
    let (x, y) = chmake_shared::<u32>(0).unwrap();
    let y2 = y.clone();
    let t = thread::spawn(move || {
        while !format!("{y2:?}").contains("blocked_receivers: 1") {
            thread::yield_now();
        }
        x.send(1, -1).unwrap();
    });
    assert_eq!(y.recv(-1).unwrap(), 1);
    t.join().unwrap();
    assert_eq!(blocking(|| 1, -1).unwrap(), 1);
    // That wait may not have blocked (the helper can answer first), so make
    // sure: a coroutine that waits on a shared channel (it runs until it
    // blocks, so the doorbell exists when `go` returns), then is cancelled.
    let (x, _y) = chmake_shared::<u32>(0).unwrap();
    let parked = go(move || x.recv(-1)).unwrap();
    assert!(!parked.is_finished());
    drop(parked);
    let before = open_fds();
    for round in 0..20 {
        let b = b.clone();
        let t = thread::spawn(move || {
            // Blocks on the shared channel: creates this thread's doorbell.
            let h = go(move || b.recv(-1).unwrap()).unwrap();
            h.join(-1).unwrap()
        });
        a.send(round, -1).unwrap();
        assert_eq!(t.join().unwrap(), round);
    }
    // Sending without blocking from a thread with no scheduler opens
    // nothing either.
    let (c, d) = chmake_shared::<u32>(4).unwrap();
    thread::spawn(move || c.send(1, 0).unwrap()).join().unwrap();
    assert_eq!(d.recv(0).unwrap(), 1);
    assert_eq!(open_fds(), before);
}
