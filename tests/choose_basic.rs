//! `choose`: typed clauses over channels of different element types, one
//! deadline, first listed wins.

use std::cell::RefCell;
use std::rc::Rc;

use dill::{chmake, choose, go, now, Clause};

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn first_listed_ready_clause_wins() {
    let (a, b) = chmake::<u32>().unwrap();
    let (x, y) = chmake::<String>().unwrap();
    let h1 = go(move || a.send(1, -1)).unwrap();
    let h2 = go(move || x.send("two".into(), -1)).unwrap();
    let mut n = None;
    let mut s = None;
    let i = choose(
        &mut [Clause::recv(&y, &mut s), Clause::recv(&b, &mut n)],
        -1,
    )
    .unwrap();
    assert_eq!(i, 0);
    assert_eq!(s.as_deref(), Some("two"));
    assert_eq!(n, None);
    let i = choose(
        &mut [Clause::recv(&y, &mut s), Clause::recv(&b, &mut n)],
        -1,
    )
    .unwrap();
    assert_eq!(i, 1);
    assert_eq!(s, None);
    assert_eq!(n, Some(1));
    h1.join(-1).unwrap().unwrap();
    h2.join(-1).unwrap().unwrap();
}

#[test]
fn blocks_until_a_clause_becomes_ready() {
    let (a, b) = chmake::<u64>().unwrap();
    let (x, y) = chmake::<(u8, char)>().unwrap();
    let h = go(move || {
        let mut n = None;
        let mut pair = None;
        let i = choose(
            &mut [Clause::recv(&b, &mut n), Clause::recv(&y, &mut pair)],
            -1,
        )
        .unwrap();
        (i, n, pair)
    })
    .unwrap();
    x.send((3, 'c'), -1).unwrap();
    assert_eq!(h.join(-1).unwrap(), (1, None, Some((3, 'c'))));
    drop(a);
}

#[test]
fn a_blocked_send_clause_fires() {
    let (a, b) = chmake::<u32>().unwrap();
    let (_x, y) = chmake::<u32>().unwrap();
    let h = go(move || {
        let mut out = None;
        let mut v = Some(77);
        let i = choose(
            &mut [Clause::recv(&y, &mut out), Clause::send(&a, &mut v)],
            -1,
        )
        .unwrap();
        (i, out, v)
    })
    .unwrap();
    assert_eq!(b.recv(-1).unwrap(), 77);
    assert_eq!(h.join(-1).unwrap(), (1, None, None));
}

#[test]
fn mixed_send_and_receive_in_one_call() {
    let (a, b) = chmake::<i32>().unwrap();
    // Partner on the far end is ready to receive; our receive clause comes
    // first but nobody sends, so the send fires.
    let h = go(move || b.recv(-1)).unwrap();
    let mut got = None;
    let mut out = Some(-5);
    let i = choose(
        &mut [Clause::recv(&a, &mut got), Clause::send(&a, &mut out)],
        0,
    )
    .unwrap();
    assert_eq!(i, 1);
    assert_eq!(h.join(-1).unwrap().unwrap(), -5);
}

#[test]
fn same_channel_twice_fires_exactly_once() {
    let (a, b) = chmake::<u32>().unwrap();
    let h = go(move || {
        let mut r1 = None;
        let mut r2 = None;
        let i = choose(
            &mut [Clause::recv(&b, &mut r1), Clause::recv(&b, &mut r2)],
            -1,
        )
        .unwrap();
        // The second clause was withdrawn: nothing waits on `b` any more.
        let later = b.recv(0).unwrap_err().raw_os_error();
        (i, r1, r2, later)
    })
    .unwrap();
    a.send(10, -1).unwrap();
    // The choose fired once; a second send finds nobody.
    assert_eq!(errno(a.send(11, 0)), libc::ETIMEDOUT);
    assert_eq!(
        h.join(-1).unwrap(),
        (0, Some(10), None, Some(libc::ETIMEDOUT))
    );
}

#[test]
fn send_and_receive_on_the_same_direction_do_not_pair_with_each_other() {
    let (a, b) = chmake::<u32>().unwrap();
    let mut out = Some(1);
    let mut got = None;
    let r = choose(
        &mut [Clause::send(&a, &mut out), Clause::recv(&b, &mut got)],
        now() + 10,
    );
    assert_eq!(errno(r), libc::ETIMEDOUT);
    assert_eq!(out, Some(1));
    assert_eq!(got, None);
}

#[test]
fn choose_against_choose() {
    let (a, b) = chmake::<u32>().unwrap();
    let (c, d) = chmake::<&'static str>().unwrap();
    let h = go(move || {
        let mut n = None;
        let mut s = None;
        let i = choose(
            &mut [Clause::recv(&b, &mut n), Clause::recv(&d, &mut s)],
            -1,
        )
        .unwrap();
        (i, n, s)
    })
    .unwrap();
    let mut n = Some(5);
    let mut s = Some("hi");
    let i = choose(
        &mut [Clause::send(&c, &mut s), Clause::send(&a, &mut n)],
        -1,
    )
    .unwrap();
    assert_eq!(i, 0);
    assert_eq!(s, None);
    assert_eq!(n, Some(5));
    assert_eq!(h.join(-1).unwrap(), (1, None, Some("hi")));
}

#[test]
fn blocked_choose_against_blocked_choose_many_rounds() {
    let (a, b) = chmake::<u32>().unwrap();
    let (c, d) = chmake::<u32>().unwrap();
    let h = go(move || {
        let mut total = 0;
        for _ in 0..1000 {
            let mut x = None;
            let mut y = None;
            choose(
                &mut [Clause::recv(&b, &mut x), Clause::recv(&d, &mut y)],
                -1,
            )
            .unwrap();
            total += x.or(y).unwrap();
        }
        total
    })
    .unwrap();
    for i in 0..1000u32 {
        let mut p = Some(i);
        let mut q = Some(i);
        let k = if i % 2 == 0 {
            choose(&mut [Clause::send(&a, &mut p)], -1).unwrap()
        } else {
            choose(&mut [Clause::send(&c, &mut q)], -1).unwrap()
        };
        assert_eq!(k, 0);
    }
    assert_eq!(h.join(-1).unwrap(), (0..1000).sum::<u32>());
}

#[test]
fn deadline_zero_and_timeouts() {
    let (_a, b) = chmake::<u32>().unwrap();
    let (_c, d) = chmake::<u8>().unwrap();
    let mut x = None;
    let mut y = None;
    assert_eq!(
        errno(choose(
            &mut [Clause::recv(&b, &mut x), Clause::recv(&d, &mut y)],
            0
        )),
        libc::ETIMEDOUT
    );
    let start = now();
    let deadline = start + 40;
    assert_eq!(
        errno(choose(
            &mut [Clause::recv(&b, &mut x), Clause::recv(&d, &mut y)],
            deadline
        )),
        libc::ETIMEDOUT
    );
    let end = now();
    assert!(end >= deadline, "woke {} ms early", deadline - end);
    assert!(end - start < 2000);
    // Nothing is left queued.
    assert!(format!("{b:?}").contains("blocked_receivers: 0"));
}

#[test]
fn no_clauses_waits_for_the_deadline() {
    let deadline = now() + 20;
    assert_eq!(errno(choose(&mut [], deadline)), libc::ETIMEDOUT);
    assert!(now() >= deadline);
    assert_eq!(errno(choose(&mut [], 0)), libc::ETIMEDOUT);
}

#[test]
fn invalid_arguments() {
    let (a, _b) = chmake::<u32>().unwrap();
    let mut empty = None;
    assert_eq!(
        errno(choose(&mut [Clause::send(&a, &mut empty)], -1)),
        libc::EINVAL
    );
    let mut v = Some(1);
    assert_eq!(
        errno(choose(&mut [Clause::send(&a, &mut v)], -3)),
        libc::EINVAL
    );
    assert_eq!(v, Some(1));
}

#[test]
fn epipe_from_done_and_dropped_ends() {
    let (a, b) = chmake::<u32>().unwrap();
    let (c, d) = chmake::<u32>().unwrap();
    a.done().unwrap();
    let mut x = None;
    let mut y = None;
    // First clause fails at once: the whole choose fails.
    assert_eq!(
        errno(choose(
            &mut [Clause::recv(&b, &mut x), Clause::recv(&d, &mut y)],
            -1
        )),
        libc::EPIPE
    );
    // A blocked choose is woken by a drop.
    let h = go(move || {
        let mut y = None;
        let mut v = Some(1);
        choose(
            &mut [Clause::recv(&d, &mut y), Clause::send(&d, &mut v)],
            -1,
        )
        .map_err(|e| e.raw_os_error())
    })
    .unwrap();
    drop(c);
    assert_eq!(h.join(-1).unwrap(), Err(Some(libc::EPIPE)));
}

#[test]
fn cancellation() {
    let (_a, b) = chmake::<u32>().unwrap();
    let (c, d) = chmake::<u32>().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let receiver = go(move || d.recv(-1)).unwrap();
    let victim = go(move || {
        let mut x = None;
        let r = choose(&mut [Clause::recv(&b, &mut x)], -1);
        l.borrow_mut().push(r.map_err(|e| e.raw_os_error()));
        let r = choose(&mut [Clause::recv(&b, &mut x)], -1);
        l.borrow_mut().push(r.map_err(|e| e.raw_os_error()));
        // Completes without blocking: succeeds even though cancelled.
        let mut v = Some(4);
        let r = choose(
            &mut [Clause::recv(&b, &mut x), Clause::send(&c, &mut v)],
            -1,
        );
        l.borrow_mut().push(r.map_err(|e| e.raw_os_error()));
    })
    .unwrap();
    drop(victim);
    assert_eq!(
        *log.borrow(),
        [
            Err(Some(libc::ECANCELED)),
            Err(Some(libc::ECANCELED)),
            Ok(1)
        ]
    );
    assert_eq!(receiver.join(-1).unwrap().unwrap(), 4);
}

#[test]
fn clause_debug() {
    let (a, _b) = chmake::<u32>().unwrap();
    let mut v = Some(1);
    let c = Clause::send(&a, &mut v);
    assert!(c.is_send());
    assert!(format!("{c:?}").contains("send"));
}

#[test]
fn plain_receivers_and_choosers_share_one_fifo() {
    let (a, b) = chmake::<u32>().unwrap();
    let (_c, d) = chmake::<u32>().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let (b1, o1) = (b.clone(), order.clone());
    let h1 = go(move || {
        let v = b1.recv(-1).unwrap();
        o1.borrow_mut().push(("plain", v));
    })
    .unwrap();
    let (b2, o2) = (b.clone(), order.clone());
    let h2 = go(move || {
        let mut x = None;
        let mut y = None;
        let i = choose(
            &mut [Clause::recv(&d, &mut y), Clause::recv(&b2, &mut x)],
            -1,
        )
        .unwrap();
        assert_eq!(i, 1);
        o2.borrow_mut().push(("choose", x.unwrap()));
    })
    .unwrap();
    let o3 = order.clone();
    let h3 = go(move || {
        let v = b.recv(-1).unwrap();
        o3.borrow_mut().push(("plain", v));
    })
    .unwrap();
    for v in 1..=3 {
        a.send(v, -1).unwrap();
    }
    h1.join(-1).unwrap();
    h2.join(-1).unwrap();
    h3.join(-1).unwrap();
    assert_eq!(*order.borrow(), [("plain", 1), ("choose", 2), ("plain", 3)]);
}

#[test]
fn a_timed_out_chooser_is_skipped() {
    let (a, b) = chmake::<u32>().unwrap();
    let b1 = b.clone();
    let early = go(move || {
        let mut x = None;
        let mut x2 = None;
        choose(
            &mut [Clause::recv(&b1, &mut x), Clause::recv(&b1, &mut x2)],
            now() + 10,
        )
        .map_err(|e| e.raw_os_error())
    })
    .unwrap();
    let late = go(move || b.recv(-1).unwrap()).unwrap();
    assert_eq!(early.join(-1).unwrap(), Err(Some(libc::ETIMEDOUT)));
    a.send(6, -1).unwrap();
    assert_eq!(late.join(-1).unwrap(), 6);
}
