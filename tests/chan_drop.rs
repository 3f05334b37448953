//! Channels own their values: nothing leaks and nothing is dropped twice,
//! on success and on every failure path.

use std::cell::Cell;
use std::rc::Rc;

use dill::{chmake, choose, go, now, Clause};

/// Counts its drops in a shared counter.
#[derive(Debug)]
struct Tracked(Rc<Cell<usize>>, u32);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn counter() -> Rc<Cell<usize>> {
    Rc::new(Cell::new(0))
}

#[test]
fn a_delivered_value_is_dropped_once_by_the_receiver() {
    let c = counter();
    let (a, b) = chmake::<Tracked>().unwrap();
    let h = go(move || b.recv(-1).unwrap().1).unwrap();
    a.send(Tracked(c.clone(), 5), -1).unwrap();
    assert_eq!(h.join(-1).unwrap(), 5);
    assert_eq!(c.get(), 1);
}

#[test]
fn a_timed_out_send_drops_its_value_once() {
    let c = counter();
    let (a, _b) = chmake::<Tracked>().unwrap();
    assert!(a.send(Tracked(c.clone(), 1), 0).is_err());
    assert_eq!(c.get(), 1);
    assert!(a.send(Tracked(c.clone(), 1), now() + 10).is_err());
    assert_eq!(c.get(), 2);
}

#[test]
fn a_refused_send_drops_its_value_once() {
    let c = counter();
    let (a, b) = chmake::<Tracked>().unwrap();
    drop(b);
    assert!(a.send(Tracked(c.clone(), 1), -1).is_err());
    assert!(a.send(Tracked(c.clone(), 1), -2).is_err());
    assert_eq!(c.get(), 2);
}

#[test]
fn send_or_return_keeps_the_value_alive() {
    let c = counter();
    let (a, _b) = chmake::<Tracked>().unwrap();
    let (_, v) = a.send_or_return(Tracked(c.clone(), 9), 0).unwrap_err();
    assert_eq!(c.get(), 0);
    assert_eq!(v.1, 9);
    drop(v);
    assert_eq!(c.get(), 1);
}

#[test]
fn a_cancelled_blocked_sender_drops_its_value_once() {
    let c = counter();
    let (a, _b) = chmake::<Tracked>().unwrap();
    let cc = c.clone();
    let h = go(move || a.send(Tracked(cc, 1), -1).is_err()).unwrap();
    drop(h);
    assert_eq!(c.get(), 1);
}

#[test]
fn a_sender_woken_by_done_drops_its_value_once() {
    let c = counter();
    let (a, _b) = chmake::<Tracked>().unwrap();
    let a2 = a.clone();
    let cc = c.clone();
    let h = go(move || a2.send(Tracked(cc, 1), -1).is_err()).unwrap();
    a.done().unwrap();
    assert!(h.join(-1).unwrap());
    assert_eq!(c.get(), 1);
}

#[test]
fn unfired_send_clauses_keep_their_values() {
    let c = counter();
    let (a, b) = chmake::<Tracked>().unwrap();
    let (x, y) = chmake::<Tracked>().unwrap();
    let h = go(move || y.recv(-1).unwrap().1).unwrap();
    let mut v1 = Some(Tracked(c.clone(), 1));
    let mut v2 = Some(Tracked(c.clone(), 2));
    let i = choose(
        &mut [Clause::send(&a, &mut v1), Clause::send(&x, &mut v2)],
        -1,
    )
    .unwrap();
    assert_eq!(i, 1);
    assert_eq!(h.join(-1).unwrap(), 2);
    assert_eq!(c.get(), 1);
    assert_eq!(v1.as_ref().unwrap().1, 1);
    assert!(v2.is_none());
    // Timing out leaves the value in place too.
    assert!(choose(&mut [Clause::send(&a, &mut v1)], now() + 5).is_err());
    assert_eq!(c.get(), 1);
    drop(v1);
    assert_eq!(c.get(), 2);
    drop(b);
}

#[test]
fn a_recv_clause_drops_the_old_content_of_its_slot() {
    let c = counter();
    let (_a, b) = chmake::<Tracked>().unwrap();
    let mut out = Some(Tracked(c.clone(), 0));
    assert!(choose(&mut [Clause::recv(&b, &mut out)], 0).is_err());
    assert_eq!(c.get(), 1);
    assert!(out.is_none());
}

#[test]
fn dropping_the_channel_with_no_traffic_drops_nothing() {
    let c = counter();
    let (a, b) = chmake::<Tracked>().unwrap();
    drop((a, b));
    assert_eq!(c.get(), 0);
}
