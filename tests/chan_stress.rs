//! Many coroutines doing random sends, receives and chooses (with
//! deadlines of 0, a few ms, or none while a partner is known to exist) on
//! a few shared channels, then cancelled. Every value is received at most
//! once, every successful send is received, and every value is dropped
//! exactly once.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use dill::{bundle, chmake, choose, now, yield_now, Chan, Clause};

#[derive(Debug)]
struct Val {
    id: u64,
    drops: Rc<Cell<u64>>,
}

impl Drop for Val {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// xorshift64*: deterministic, good enough to shuffle operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[derive(Default)]
struct Ledger {
    sent: HashSet<u64>,
    received: HashSet<u64>,
    created: u64,
}

#[test]
fn random_operations_keep_every_value_accounted_for() {
    const CHANS: usize = 3;
    const WORKERS: u64 = 8;
    const OPS: usize = 400;

    let drops = Rc::new(Cell::new(0));
    let ledger = Rc::new(RefCell::new(Ledger::default()));
    let ends: Vec<(Chan<Val>, Chan<Val>)> = (0..CHANS).map(|_| chmake().unwrap()).collect();
    let ends = Rc::new(ends);
    let b = bundle().unwrap();
    for w in 0..WORKERS {
        let (drops, ledger, ends) = (drops.clone(), ledger.clone(), ends.clone());
        b.go(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w + 1));
            let pick = |rng: &mut Rng| {
                let (a, b) = &ends[rng.next(CHANS as u64) as usize];
                if rng.next(2) == 0 {
                    a
                } else {
                    b
                }
            };
            let deadline = |rng: &mut Rng| match rng.next(3) {
                0 => 0,
                _ => now() + 1 + rng.next(3) as i64,
            };
            for i in 0..OPS {
                let fresh = |ledger: &RefCell<Ledger>| {
                    ledger.borrow_mut().created += 1;
                    Val {
                        id: w << 32 | i as u64,
                        drops: drops.clone(),
                    }
                };
                let r = match rng.next(4) {
                    0 => {
                        let v = fresh(&ledger);
                        let id = v.id;
                        let ch = pick(&mut rng);
                        match ch.send_or_return(v, deadline(&mut rng)) {
                            Ok(()) => {
                                ledger.borrow_mut().sent.insert(id);
                                Ok(())
                            }
                            Err((e, v)) => {
                                assert_eq!(v.id, id);
                                Err(e)
                            }
                        }
                    }
                    1 => pick(&mut rng).recv(deadline(&mut rng)).map(|v| {
                        assert!(ledger.borrow_mut().received.insert(v.id), "received twice");
                    }),
                    2 => {
                        let mut s = Some(fresh(&ledger));
                        let id = s.as_ref().unwrap().id;
                        let mut r1 = None;
                        let mut r2 = None;
                        let (c1, c2, c3) = (pick(&mut rng), pick(&mut rng), pick(&mut rng));
                        let res = choose(
                            &mut [
                                Clause::recv(c1, &mut r1),
                                Clause::send(c2, &mut s),
                                Clause::recv(c3, &mut r2),
                            ],
                            deadline(&mut rng),
                        );
                        let mut l = ledger.borrow_mut();
                        match res {
                            Ok(0) => assert!(l.received.insert(r1.take().unwrap().id)),
                            Ok(1) => {
                                assert!(s.is_none());
                                l.sent.insert(id);
                            }
                            Ok(2) => assert!(l.received.insert(r2.take().unwrap().id)),
                            _ => assert!(r1.is_none() && r2.is_none()),
                        }
                        if res.is_ok() {
                            assert!(r1.is_none() && r2.is_none());
                        }
                        Ok(())
                    }
                    _ => yield_now(),
                };
                if let Err(e) = r {
                    if e.raw_os_error() == Some(libc::ECANCELED) {
                        return;
                    }
                }
            }
        })
        .unwrap();
    }
    // Let the workers run for a while, then cancel whoever is still going
    // (on a slow machine that is some of them, in the middle of anything).
    let _ = b.wait(now() + 30);
    drop(b);
    let l = ledger.borrow();
    assert_eq!(l.sent, l.received, "a sent value was lost or invented");
    assert!(!l.sent.is_empty());
    assert_eq!(drops.get(), l.created, "every value dropped exactly once");
}
