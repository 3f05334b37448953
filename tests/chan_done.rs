//! Channels: `done` and dropping ends wake every blocked party with EPIPE.

use std::cell::RefCell;
use std::rc::Rc;

use dill::{chmake, go, yield_now};

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn done_closes_one_direction_only() {
    let (a, b) = chmake::<u32>().unwrap();
    a.done().unwrap();
    assert_eq!(errno(a.send(1, -1)), libc::EPIPE);
    assert_eq!(errno(b.recv(-1)), libc::EPIPE);
    assert_eq!(errno(a.done()), libc::EPIPE);
    // b -> a still works.
    let h = go(move || a.recv(-1)).unwrap();
    b.send(5, -1).unwrap();
    assert_eq!(h.join(-1).unwrap().unwrap(), 5);
    b.done().unwrap();
}

#[test]
fn done_wakes_every_blocked_receiver_on_the_other_end() {
    let (a, b) = chmake::<u32>().unwrap();
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let b = b.clone();
            go(move || b.recv(-1)).unwrap()
        })
        .collect();
    a.done().unwrap();
    for h in hs {
        assert_eq!(errno(h.join(-1).unwrap()), libc::EPIPE);
    }
}

#[test]
fn done_wakes_every_blocked_sender_on_the_same_end() {
    let (a, _b) = chmake::<u32>().unwrap();
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let a = a.clone();
            go(move || a.send(i, -1)).unwrap()
        })
        .collect();
    a.done().unwrap();
    for h in hs {
        assert_eq!(errno(h.join(-1).unwrap()), libc::EPIPE);
    }
}

#[test]
fn done_from_a_coroutine_wakes_main() {
    let (a, b) = chmake::<u32>().unwrap();
    let h = go(move || {
        yield_now().unwrap();
        a.done().unwrap();
    })
    .unwrap();
    assert_eq!(errno(b.recv(-1)), libc::EPIPE);
    h.join(-1).unwrap();
}

#[test]
fn done_leaves_blocked_parties_of_the_other_direction_alone() {
    let (a, b) = chmake::<u32>().unwrap();
    let a2 = a.clone();
    let h = go(move || a2.recv(-1)).unwrap();
    a.done().unwrap();
    b.send(3, -1).unwrap();
    assert_eq!(h.join(-1).unwrap().unwrap(), 3);
}

#[test]
fn dropping_an_end_wakes_blocked_receivers_and_senders_on_the_other() {
    let (a, b) = chmake::<u32>().unwrap();
    let b1 = b.clone();
    let r = go(move || b1.recv(-1)).unwrap();
    let b2 = b.clone();
    let s = go(move || b2.send(1, -1)).unwrap();
    drop(a);
    assert_eq!(errno(r.join(-1).unwrap()), libc::EPIPE);
    assert_eq!(errno(s.join(-1).unwrap()), libc::EPIPE);
    // And later operations fail at once, even without a deadline.
    assert_eq!(errno(b.recv(-1)), libc::EPIPE);
    assert_eq!(errno(b.send(2, -1)), libc::EPIPE);
    // `done` on the surviving end still works once.
    b.done().unwrap();
    assert_eq!(errno(b.done()), libc::EPIPE);
}

#[test]
fn only_the_last_handle_of_an_end_closes_it() {
    let (a, b) = chmake::<u32>().unwrap();
    let a2 = a.clone();
    drop(a);
    let h = go(move || b.recv(-1)).unwrap();
    a2.send(8, -1).unwrap();
    assert_eq!(h.join(-1).unwrap().unwrap(), 8);
}

#[test]
fn dropping_the_receiving_end_while_a_sender_waits() {
    let (a, b) = chmake::<String>().unwrap();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    let h = go(move || {
        let r = a.send_or_return("x".to_string(), -1);
        *o.borrow_mut() = Some(r.map_err(|(e, v)| (e.raw_os_error(), v)));
    })
    .unwrap();
    drop(b);
    h.join(-1).unwrap();
    assert_eq!(
        out.borrow_mut().take().unwrap(),
        Err((Some(libc::EPIPE), "x".to_string()))
    );
}

#[test]
fn dropping_both_ends_while_waiting_on_a_clone() {
    let (a, b) = chmake::<u32>().unwrap();
    let b2 = b.clone();
    let h = go(move || b2.recv(-1)).unwrap();
    drop(b);
    drop(a);
    assert_eq!(errno(h.join(-1).unwrap()), libc::EPIPE);
}
