//! Buffered and shared channels allocate nothing per message once made:
//! buffered sends and receives (also with senders blocked behind a full
//! buffer), `choose` over them, and shared-channel transfers between two
//! threads, cross-thread wake-ups included.
//!
//! Runs without the test harness under a counting global allocator, which
//! counts the allocations of every thread of the process.

mod alloc_counter;

use std::thread;

use dill::{chmake_buffered, chmake_shared, choose, go, Clause};

use alloc_counter::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn buffered_round(a: &dill::Chan<[u64; 2]>, b: &dill::Chan<[u64; 2]>) {
    for i in 0..4 {
        a.send([i; 2], 0).unwrap();
    }
    for i in 0..4 {
        assert_eq!(b.recv(-1).unwrap(), [i; 2]);
    }
    let mut v = Some([7; 2]);
    let mut got = None;
    assert_eq!(
        choose(
            &mut [Clause::recv(a, &mut got), Clause::send(a, &mut v)],
            -1
        )
        .unwrap(),
        1
    );
    let mut got = None;
    assert_eq!(choose(&mut [Clause::recv(b, &mut got)], -1).unwrap(), 0);
    assert_eq!(got, Some([7; 2]));
}

fn main() {
    // Buffered local channels; `filler` stays blocked behind a full buffer
    // and is let through one value at a time.
    let (a, b) = chmake_buffered::<[u64; 2]>(4).unwrap();
    let (fill_tx, fill_rx) = chmake_buffered::<u64>(2).unwrap();
    let filler = go(move || {
        let mut i = 0;
        while fill_tx.send(i, -1).is_ok() {
            i += 1;
        }
    })
    .unwrap();
    for _ in 0..3 {
        buffered_round(&a, &b);
        fill_rx.recv(-1).unwrap();
    }
    let before = allocs();
    for _ in 0..100 {
        buffered_round(&a, &b);
        fill_rx.recv(-1).unwrap();
    }
    assert_eq!(
        allocs() - before,
        0,
        "buffered channel operations allocated"
    );
    drop(fill_rx);
    filler.join(-1).unwrap();

    // Shared channels between two threads: rendezvous and buffered, with
    // the peer's coroutine blocked (woken across threads) most of the time.
    for cap in [0, 3] {
        let (x, y) = chmake_shared::<u64>(cap).unwrap();
        let (stop_tx, stop_rx) = chmake_shared::<()>(0).unwrap();
        let echo = thread::spawn(move || {
            let h = go(move || loop {
                let mut v = None;
                let mut s = None;
                match choose(
                    &mut [Clause::recv(&y, &mut v), Clause::recv(&stop_rx, &mut s)],
                    -1,
                ) {
                    Ok(0) => y.send(v.unwrap() + 1, -1).unwrap(),
                    _ => break,
                }
            })
            .unwrap();
            h.join(-1).unwrap();
        });
        let round = |n: u64| {
            for i in 0..n {
                x.send(i, -1).unwrap();
                assert_eq!(x.recv(-1).unwrap(), i + 1);
            }
        };
        round(1000);
        let before = allocs();
        round(20_000);
        assert_eq!(
            allocs() - before,
            0,
            "shared channel transfers allocated (capacity {cap})"
        );
        stop_tx.done().unwrap();
        echo.join().unwrap();
    }
    println!("chan_more_noalloc: ok");
}
