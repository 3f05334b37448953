//! Buffered shared channels keep their buffer in a lock-free ring and take
//! the lock only to block or to wake someone. These tests aim at what that
//! design risks: a receiver going to sleep just as a sender pushes without
//! the lock (and the reverse for a full buffer), per-sender order with
//! senders blocked on a full buffer, blocked senders overtaken by new ones,
//! and `done` or a dropped end while values sit in the buffer or pushes are
//! under way. No test sleeps to let things settle; waits that would hang on
//! a lost wake-up carry a generous deadline instead, so a lost wake-up
//! fails as `ETIMEDOUT`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use dill::errno::EPIPE;
use dill::{after, chmake, chmake_shared, choose, go, yield_now, Clause, SharedChan};

mod util;
use util::errno;

/// A deadline no healthy run reaches, even under valgrind on a loaded box.
fn far() -> i64 {
    after(60_000)
}

/// Counts its drops.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A consumer that empties the buffer faster than the producer fills it
/// goes to sleep over and over while the producer pushes without the lock:
/// every value must arrive (a lost wake-up shows as `ETIMEDOUT`).
#[test]
fn receiver_parking_against_lock_free_pushes() {
    for cap in [1, 2, 128] {
        let (tx, rx) = chmake_shared::<u64>(cap).unwrap();
        const N: u64 = 50_000;
        let t = thread::spawn(move || {
            for i in 0..N {
                tx.send(i, far()).unwrap();
                // Let the consumer catch up now and then, so that it finds
                // the buffer empty and blocks.
                if i % 7 == 0 {
                    thread::yield_now();
                }
            }
        });
        for i in 0..N {
            assert_eq!(rx.recv(far()).unwrap(), i);
        }
        // The producer's end is dropped: EPIPE once the buffer is empty.
        t.join().unwrap();
        assert_eq!(errno(rx.recv(far())), EPIPE);
    }
}

/// The reverse: a producer that fills the buffer blocks over and over
/// while the consumer pops without the lock.
#[test]
fn sender_parking_against_lock_free_pops() {
    for cap in [1, 3] {
        let (tx, rx) = chmake_shared::<u64>(cap).unwrap();
        const N: u64 = 50_000;
        let t = thread::spawn(move || {
            for i in 0..N {
                assert_eq!(rx.recv(far()).unwrap(), i);
                if i % 7 == 0 {
                    thread::yield_now();
                }
            }
            rx
        });
        for i in 0..N {
            tx.send(i, far()).unwrap();
        }
        let rx = t.join().unwrap();
        assert_eq!(errno(rx.recv(0)), dill::errno::ETIMEDOUT);
    }
}

/// Many senders (coroutines on three threads) against a buffer of one or
/// three that is full most of the time, so senders block and are woken
/// while others push; two consumers on two threads. Every value arrives
/// exactly once and each sender's values in the order sent.
#[test]
fn per_sender_order_with_a_full_buffer_and_blocked_senders() {
    for cap in [1, 3] {
        const THREADS: usize = 3;
        const CORO: usize = 4;
        const PER: u64 = 2_000;
        let senders = THREADS * CORO;
        let (tx, rx) = chmake_shared::<(usize, u64)>(cap).unwrap();
        let producers: Vec<_> = (0..THREADS)
            .map(|t| {
                let tx = tx.clone();
                thread::spawn(move || {
                    let hs: Vec<_> = (0..CORO)
                        .map(|c| {
                            let tx = tx.clone();
                            go(move || {
                                let who = t * CORO + c;
                                for i in 0..PER {
                                    tx.send((who, i), far()).unwrap();
                                    if i % 64 == 0 {
                                        yield_now().unwrap();
                                    }
                                }
                            })
                            .unwrap()
                        })
                        .collect();
                    for h in hs {
                        h.join(-1).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    let mut next = vec![0u64; senders];
                    let mut got = vec![Vec::new(); senders];
                    loop {
                        match rx.recv(far()) {
                            Ok((who, i)) => {
                                assert!(i >= next[who], "sender {who}: {i} after {}", next[who]);
                                next[who] = i + 1;
                                got[who].push(i);
                            }
                            Err(e) => {
                                assert_eq!(e.raw_os_error(), Some(EPIPE));
                                return got;
                            }
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        for p in producers {
            p.join().unwrap();
        }
        let mut all = vec![Vec::new(); senders];
        for c in consumers {
            for (who, v) in c.join().unwrap().into_iter().enumerate() {
                all[who].extend(v);
            }
        }
        for v in &mut all {
            v.sort_unstable();
            assert_eq!(*v, (0..PER).collect::<Vec<_>>());
        }
    }
}

/// A sender that blocked on a full buffer is not overtaken by a sender
/// that comes later on another thread, even though the later one would
/// find room the moment the buffer frees up.
#[test]
fn a_blocked_sender_keeps_its_turn() {
    for _ in 0..50 {
        let (tx, rx) = chmake_shared::<&'static str>(1).unwrap();
        tx.send("first", 0).unwrap();
        let t1 = tx.clone();
        let blocked = go(move || t1.send("blocked", far()).unwrap()).unwrap();
        // Wait (in steps of the scheduler) until it is queued.
        while !format!("{tx:?}").contains("blocked_senders: 1") {
            yield_now().unwrap();
        }
        let t2 = tx.clone();
        let later = thread::spawn(move || {
            for _ in 0..5 {
                t2.send("later", far()).unwrap();
            }
        });
        assert_eq!(rx.recv(far()).unwrap(), "first");
        assert_eq!(rx.recv(far()).unwrap(), "blocked");
        for _ in 0..5 {
            assert_eq!(rx.recv(far()).unwrap(), "later");
        }
        blocked.join(-1).unwrap();
        later.join().unwrap();
    }
}

/// `done` with values in the buffer and the consumer on another thread,
/// blocked or not: it gets every value, then `EPIPE`. Many short rounds,
/// so `done` lands at every point of the consumer's loop.
#[test]
fn done_delivers_what_is_buffered_then_epipe() {
    const ROUNDS: usize = 2_000;
    let (chans_tx, chans_rx) = chmake_shared::<(SharedChan<u64>, u64)>(4).unwrap();
    let consumer = thread::spawn(move || {
        while let Ok((rx, n)) = chans_rx.recv(far()) {
            for i in 0..n {
                assert_eq!(rx.recv(far()).unwrap(), i);
            }
            assert_eq!(errno(rx.recv(far())), EPIPE);
            assert_eq!(errno(rx.recv(0)), EPIPE);
        }
    });
    for round in 0..ROUNDS {
        let cap = 1 + round % 4;
        let n = (round % 7) as u64;
        let (tx, rx) = chmake_shared::<u64>(cap).unwrap();
        chans_tx.send((rx, n), far()).unwrap();
        for i in 0..n {
            tx.send(i, far()).unwrap();
        }
        tx.done().unwrap();
        assert_eq!(errno(tx.send(99, 0)), EPIPE);
        assert_eq!(errno(tx.done()), EPIPE);
    }
    drop(chans_tx);
    consumer.join().unwrap();
}

/// Senders on two threads keep pushing while the receiving end is dropped
/// on a third: every value is dropped exactly once, either by its sender
/// (the send failed with `EPIPE`) or by the channel (it was buffered).
#[test]
fn dropping_the_receiving_end_under_pushes_drops_each_value_once() {
    for round in 0..200 {
        let drops = Arc::new(AtomicUsize::new(0));
        let made = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = chmake_shared::<Counted>(1 + round % 5).unwrap();
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let (tx, drops, made) = (tx.clone(), drops.clone(), made.clone());
                thread::spawn(move || loop {
                    made.fetch_add(1, Ordering::Relaxed);
                    if tx.send(Counted(drops.clone()), far()).is_err() {
                        return;
                    }
                })
            })
            .collect();
        drop(tx);
        // Take a few (so senders block and wake), then drop the end.
        for _ in 0..round % 9 {
            drop(rx.recv(far()).unwrap());
        }
        drop(rx);
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(drops.load(Ordering::Relaxed), made.load(Ordering::Relaxed));
    }
}

/// Dropping the last handles with values still buffered in both directions
/// drops each of them once, and a value received is dropped by its
/// receiver only.
#[test]
fn values_buffered_both_ways_are_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (a, b) = chmake_shared::<Counted>(8).unwrap();
    for _ in 0..5 {
        a.send(Counted(drops.clone()), 0).unwrap();
        b.send(Counted(drops.clone()), 0).unwrap();
    }
    drop(b.recv(0).unwrap());
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    // Dropping `b` drops what was buffered for it (4 values); what it sent
    // to `a` stays receivable.
    drop(b);
    assert_eq!(drops.load(Ordering::Relaxed), 5);
    for _ in 0..5 {
        drop(a.recv(0).unwrap());
    }
    assert_eq!(errno(a.recv(0)), EPIPE);
    assert_eq!(errno(a.send(Counted(drops.clone()), 0)), EPIPE);
    assert_eq!(drops.load(Ordering::Relaxed), 11);
    drop(a);
    assert_eq!(drops.load(Ordering::Relaxed), 11);
}

/// `choose` over a buffered shared channel (and a local one that never
/// fires) against a partner that pushes or pops without the lock on
/// another thread: a `choose` that queues just as the partner acts must
/// notice (or be woken), in both directions, many times over.
#[test]
fn choose_against_lock_free_partners() {
    const N: u64 = 20_000;
    for cap in [1, 4] {
        // Receiving in `choose`.
        let (tx, rx) = chmake_shared::<u64>(cap).unwrap();
        let t = thread::spawn(move || {
            for i in 0..N {
                tx.send(i, far()).unwrap();
                if i % 5 == 0 {
                    thread::yield_now();
                }
            }
        });
        let (_keep, local) = chmake::<u64>().unwrap();
        for i in 0..N {
            let (mut a, mut b) = (None, None);
            let mut cl = [Clause::recv(&local, &mut a), Clause::recv(&rx, &mut b)];
            assert_eq!(choose(&mut cl, far()).unwrap(), 1);
            assert_eq!(b, Some(i));
        }
        t.join().unwrap();
        let mut b = None;
        let mut cl = [Clause::recv(&rx, &mut b)];
        assert_eq!(errno(choose(&mut cl, far())), EPIPE);
        assert!(cl[0].is_done());

        // Sending in `choose`.
        let (tx, rx) = chmake_shared::<u64>(cap).unwrap();
        let t = thread::spawn(move || {
            for i in 0..N {
                assert_eq!(rx.recv(far()).unwrap(), i);
                if i % 5 == 0 {
                    thread::yield_now();
                }
            }
        });
        for i in 0..N {
            let (mut a, mut b) = (None, Some(i));
            let mut cl = [Clause::recv(&local, &mut a), Clause::send(&tx, &mut b)];
            assert_eq!(choose(&mut cl, far()).unwrap(), 1);
            assert_eq!(b, None);
        }
        t.join().unwrap();
    }
}
