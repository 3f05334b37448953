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

/// Both sides wait in `choose` over two shared channels at once (and the
/// receivers over a local one too), so one wait's nodes sit in several
/// shared queues and partners on other threads race to claim them.
fn run_choose_both_sides(capacity: usize, seed: u64) {
    const PRODUCERS: usize = 2;
    const PER: usize = 300;
    let n = PRODUCERS * CORO_PER_THREAD * PER;
    let ledger = Ledger::new(n);
    let got = Arc::new(AtomicUsize::new(0));
    let (a_tx, a_rx) = chmake_shared::<Val>(capacity).unwrap();
    let (b_tx, b_rx) = chmake_shared::<Val>(capacity).unwrap();
    let consumers: Vec<_> = (0..2u64)
        .map(|k| {
            let (a_rx, b_rx, got) = (a_rx.clone(), b_rx.clone(), got.clone());
            thread::spawn(move || {
                let (_never, local) = chmake::<Val>().unwrap();
                let local = std::rc::Rc::new(local);
                let hs: Vec<_> = (0..CORO_PER_THREAD as u64)
                    .map(|c| {
                        let (a_rx, b_rx, got, local) =
                            (a_rx.clone(), b_rx.clone(), got.clone(), local.clone());
                        go(move || {
                            let mut rng = Rng(seed * 13 + k * 7 + c + 3);
                            let mut open = [true, true];
                            while open[0] || open[1] {
                                let (mut x, mut y, mut z) = (None, None, None);
                                let mut cl = [
                                    Clause::recv(&a_rx, &mut x),
                                    Clause::recv(&*local, &mut z),
                                    Clause::recv(&b_rx, &mut y),
                                ];
                                // A drained, done channel would end every
                                // call with EPIPE: leave it out.
                                let r = match open {
                                    [true, true] => choose(&mut cl, rng.deadline()),
                                    [true, false] => choose(&mut cl[..2], rng.deadline()),
                                    _ => choose(&mut cl[1..], rng.deadline()).map(|i| i + 1),
                                };
                                let done = [cl[0].is_done(), cl[2].is_done()];
                                let v = match r {
                                    Ok(0) => x.take().unwrap(),
                                    Ok(2) => y.take().unwrap(),
                                    Ok(i) => panic!("clause {i} fired"),
                                    Err(e) => match e.raw_os_error().unwrap() {
                                        ETIMEDOUT => continue,
                                        EPIPE => {
                                            assert!(done[0] != done[1], "one clause is done");
                                            if done[0] {
                                                open[0] = false;
                                            } else {
                                                open[1] = false;
                                            }
                                            continue;
                                        }
                                        _ => panic!("{e}"),
                                    },
                                };
                                v.ledger.received[v.id].fetch_add(1, Ordering::Relaxed);
                                got.fetch_add(1, Ordering::Relaxed);
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
    drop((a_rx, b_rx));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|k| {
            let (a_tx, b_tx, ledger) = (a_tx.clone(), b_tx.clone(), ledger.clone());
            thread::spawn(move || {
                let hs: Vec<_> = (0..CORO_PER_THREAD)
                    .map(|c| {
                        let (a_tx, b_tx, ledger) = (a_tx.clone(), b_tx.clone(), ledger.clone());
                        let base = (k * CORO_PER_THREAD + c) * PER;
                        go(move || {
                            let mut rng = Rng(seed * 29 + (k * 5 + c) as u64 + 11);
                            let mut ids = base..base + PER;
                            // One value waits in each send clause; exactly
                            // one of them goes per successful call.
                            let (mut va, mut vb) = (None, None);
                            loop {
                                for slot in [&mut va, &mut vb] {
                                    if slot.is_none() {
                                        *slot = ids.next().map(|id| Val {
                                            id,
                                            ledger: ledger.clone(),
                                        });
                                    }
                                }
                                let before = (va.is_some(), vb.is_some());
                                let r = match before {
                                    (false, false) => break,
                                    (true, true) => choose(
                                        &mut [
                                            Clause::send(&a_tx, &mut va),
                                            Clause::send(&b_tx, &mut vb),
                                        ],
                                        rng.deadline(),
                                    ),
                                    (true, false) => {
                                        choose(&mut [Clause::send(&a_tx, &mut va)], rng.deadline())
                                    }
                                    (false, true) => {
                                        choose(&mut [Clause::send(&b_tx, &mut vb)], rng.deadline())
                                            .map(|_| 1)
                                    }
                                };
                                match r {
                                    Ok(0) => assert!(va.is_none() && vb.is_some() == before.1),
                                    Ok(1) => assert!(vb.is_none() && va.is_some() == before.0),
                                    Ok(i) => panic!("clause {i} fired"),
                                    Err(e) => {
                                        assert_eq!(e.raw_os_error(), Some(ETIMEDOUT));
                                        assert_eq!((va.is_some(), vb.is_some()), before);
                                        if rng.below(8) == 0 {
                                            // Give one value up: it came back.
                                            let slot = if va.is_some() { &mut va } else { &mut vb };
                                            let back = slot.take().unwrap();
                                            ledger.returned[back.id]
                                                .fetch_add(1, Ordering::Relaxed);
                                        }
                                    }
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
    for p in producers {
        p.join().unwrap();
    }
    a_tx.done().unwrap();
    b_tx.done().unwrap();
    drop((a_tx, b_tx));
    for c in consumers {
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
    eprintln!("choose on both sides, capacity {capacity}: {received} of {n} received");
}

#[test]
fn choose_on_both_sides_rendezvous() {
    run_choose_both_sides(0, 21);
}

#[test]
fn choose_on_both_sides_buffered() {
    run_choose_both_sides(2, 22);
}
