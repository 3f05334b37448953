//! `send`, `recv`, `done` and `choose` make no heap allocation, blocking or
//! not, including timeouts on the timer heap.
//!
//! Runs without the test harness (one thread, nothing else allocating)
//! under a counting global allocator.

mod alloc_counter;

use dill::{chmake, choose, go, now, Clause};

use alloc_counter::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A mix of every operation: rendezvous in both orders, choose against a
/// blocked peer, timeouts with a real timer and with deadline 0.
fn round(a: &dill::Chan<[u64; 4]>, x: &dill::Chan<u32>, y: &dill::Chan<u32>) {
    for i in 0..100u64 {
        a.send([i; 4], -1).unwrap();
        assert_eq!(a.recv(-1).unwrap(), [i + 1; 4]);
    }
    let mut got = None;
    let mut out = Some(7u32);
    let fired = choose(
        &mut [Clause::recv(y, &mut got), Clause::send(x, &mut out)],
        -1,
    )
    .unwrap();
    assert_eq!(fired, 1);
    assert!(a.recv(0).is_err());
    let mut v = Some(1u32);
    assert!(choose(&mut [Clause::send(y, &mut v)], now() + 1).is_err());
}

fn main() {
    let (a, b) = chmake::<[u64; 4]>().unwrap();
    let (x, x_peer) = chmake::<u32>().unwrap();
    let (y, _y_peer) = chmake::<u32>().unwrap();
    let echo = go(move || {
        while let Ok(v) = b.recv(-1) {
            let mut back = Some([v[0] + 1; 4]);
            let mut ignored = None;
            if choose(
                &mut [Clause::send(&b, &mut back), Clause::recv(&b, &mut ignored)],
                -1,
            )
            .is_err()
            {
                break;
            }
        }
    })
    .unwrap();
    let sink = go(move || while x_peer.recv(-1).is_ok() {}).unwrap();

    // Warm up: the scheduler's queues and timer heap reach their size.
    round(&a, &x, &y);
    round(&a, &x, &y);

    let before = allocs();
    for _ in 0..10 {
        round(&a, &x, &y);
    }
    let after = allocs();
    assert_eq!(after - before, 0, "channel operations allocated");

    let before = allocs();
    a.done().unwrap();
    x.done().unwrap();
    assert_eq!(allocs() - before, 0, "done allocated");

    echo.join(-1).unwrap();
    sink.join(-1).unwrap();
    println!("chan_noalloc: ok");
}
