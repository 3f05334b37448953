//! Shared channels under contention: 2 to 8 threads, several coroutines
//! each, random deadlines (none, zero, short), cancellations on both sides,
//! and `choose` mixing a local channel in. Every value is either received
//! exactly once or handed back to its sender (and dropped there) exactly
//! once, and every value is dropped exactly once.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use dill::errno::{ECANCELED, EPIPE, ETIMEDOUT};
use dill::{after, chmake, chmake_shared, choose, go, msleep, Clause, SharedChan};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn deadline(&mut self) -> i64 {
        match self.below(4) {
            0 => -1,
            1 => 0,
            _ => after(self.below(3) as i64),
        }
    }
}

struct Ledger {
    received: Vec<AtomicU32>,
    returned: Vec<AtomicU32>,
    dropped: Vec<AtomicU32>,
}

impl Ledger {
    fn new(n: usize) -> Arc<Ledger> {
        let v = |_| (0..n).map(|_| AtomicU32::new(0)).collect();
        Arc::new(Ledger {
            received: v(0),
            returned: v(1),
            dropped: v(2),
        })
    }
}

struct Val {
    id: usize,
    ledger: Arc<Ledger>,
}

impl Drop for Val {
    fn drop(&mut self) {
        self.ledger.dropped[self.id].fetch_add(1, Ordering::Relaxed);
    }
}

const PER_CORO: usize = 400;
const CORO_PER_THREAD: usize = 4;

fn producer(tx: SharedChan<Val>, ledger: Arc<Ledger>, first: usize, seed: u64) {
    let mut hs = Vec::new();
    for c in 0..CORO_PER_THREAD {
        let tx = tx.clone();
        let ledger = ledger.clone();
        let base = first + c * PER_CORO;
        hs.push(
            go(move || {
                let mut rng = Rng(seed * 31 + c as u64 + 1);
                let mut cancelled = false;
                for id in base..base + PER_CORO {
                    let mut v = Val {
                        id,
                        ledger: ledger.clone(),
                    };
                    if cancelled {
                        ledger.returned[id].fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    loop {
                        match tx.send_or_return(v, rng.deadline()) {
                            Ok(()) => break,
                            Err((e, back)) => {
                                let code = e.raw_os_error().unwrap();
                                assert!(code == ETIMEDOUT || code == ECANCELED, "{e}");
                                if code == ECANCELED || rng.below(8) == 0 {
                                    // Given up: the value came back.
                                    ledger.returned[back.id].fetch_add(1, Ordering::Relaxed);
                                    cancelled |= code == ECANCELED;
                                    break;
                                }
                                v = back;
                            }
                        }
                    }
                }
            })
            .unwrap(),
        );
    }
    // Cancel the first sender after a while (it may have finished).
    let mut rng = Rng(seed + 99);
    msleep(after(rng.below(4) as i64)).unwrap();
    let mut hs = hs.into_iter();
    drop(hs.next());
    for h in hs {
        h.join(-1).unwrap();
    }
}

fn consumer(rx: SharedChan<Val>, seed: u64, got: Arc<AtomicUsize>) {
    let (_never, local) = chmake::<Val>().unwrap();
    let local = std::rc::Rc::new(local);
    let mut hs = Vec::new();
    for c in 0..CORO_PER_THREAD {
        let rx = rx.clone();
        let local = local.clone();
        let got = got.clone();
        hs.push(
            go(move || {
                let mut rng = Rng(seed * 17 + c as u64 + 5);
                loop {
                    let r = if rng.below(2) == 0 {
                        rx.recv(rng.deadline())
                    } else {
                        let (mut a, mut b) = (None, None);
                        let mut cl = [Clause::recv(&*local, &mut a), Clause::recv(&rx, &mut b)];
                        match choose(&mut cl, rng.deadline()) {
                            Ok(i) => {
                                assert_eq!(i, 1);
                                Ok(b.take().unwrap())
                            }
                            Err(e) => {
                                if e.raw_os_error() == Some(EPIPE) {
                                    assert!(cl[1].is_done() && !cl[0].is_done());
                                }
                                Err(e)
                            }
                        }
                    };
                    match r {
                        Ok(v) => {
                            v.ledger.received[v.id].fetch_add(1, Ordering::Relaxed);
                            got.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => match e.raw_os_error().unwrap() {
                            ETIMEDOUT => {}
                            EPIPE | ECANCELED => return,
                            _ => panic!("{e}"),
                        },
                    }
                }
            })
            .unwrap(),
        );
    }
    for h in hs {
        h.join(-1).unwrap();
    }
}

fn run(threads: usize, capacity: usize, seed: u64) {
    let producers = threads / 2;
    let consumers = threads - producers;
    let n = producers * CORO_PER_THREAD * PER_CORO;
    let ledger = Ledger::new(n);
    let got = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = chmake_shared::<Val>(capacity).unwrap();
    let cs: Vec<_> = (0..consumers)
        .map(|k| {
            let rx = rx.clone();
            let got = got.clone();
            thread::spawn(move || consumer(rx, seed + k as u64, got))
        })
        .collect();
    drop(rx);
    let ps: Vec<_> = (0..producers)
        .map(|k| {
            let tx = tx.clone();
            let ledger = ledger.clone();
            thread::spawn(move || {
                producer(
                    tx,
                    ledger,
                    k * CORO_PER_THREAD * PER_CORO,
                    seed + 7 * k as u64,
                )
            })
        })
        .collect();
    drop(tx);
    for p in ps {
        p.join().unwrap();
    }
    for c in cs {
        c.join().unwrap();
    }
    let mut received = 0;
    for id in 0..n {
        let r = ledger.received[id].load(Ordering::Relaxed);
        let b = ledger.returned[id].load(Ordering::Relaxed);
        let d = ledger.dropped[id].load(Ordering::Relaxed);
        assert_eq!(
            (r + b, d),
            (1, 1),
            "value {id}: received {r}, returned {b}, dropped {d}"
        );
        received += r as usize;
    }
    assert_eq!(received, got.load(Ordering::Relaxed));
    assert!(received > 0);
    eprintln!("threads {threads} cap {capacity}: {received} of {n} received");
}

#[test]
fn two_threads_rendezvous() {
    run(2, 0, 1);
}

#[test]
fn two_threads_buffered() {
    run(2, 8, 2);
}

#[test]
fn four_threads_rendezvous() {
    run(4, 0, 3);
}

#[test]
fn four_threads_buffered() {
    run(4, 3, 4);
}

#[test]
fn eight_threads_rendezvous() {
    run(8, 0, 5);
}

#[test]
fn eight_threads_buffered() {
    run(8, 16, 6);
}

/// Values dropped with the channel (never received, never returned) are
/// dropped exactly once as well.
#[test]
fn values_left_in_a_dropped_buffer_are_dropped_once() {
    let ledger = Ledger::new(64);
    let (tx, rx) = chmake_shared::<Val>(64).unwrap();
    let l = ledger.clone();
    thread::spawn(move || {
        for id in 0..64 {
            tx.send(
                Val {
                    id,
                    ledger: l.clone(),
                },
                0,
            )
            .unwrap();
        }
    })
    .join()
    .unwrap();
    drop(rx.recv(0).unwrap());
    drop(rx);
    for id in 0..64 {
        assert_eq!(ledger.dropped[id].load(Ordering::Relaxed), 1);
    }
}
