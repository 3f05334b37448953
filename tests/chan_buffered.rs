//! Buffered channels (`chmake_buffered`): FIFO through the buffer and the
//! blocked senders behind it, drain after `done`, EPIPE rules, values
//! dropped exactly once.

use std::cell::Cell;
use std::rc::Rc;

use dill::errno::{EPIPE, ETIMEDOUT};
use dill::{chmake_buffered, choose, go, yield_now, Clause};

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn sends_complete_at_once_until_the_buffer_is_full() {
    let (a, b) = chmake_buffered::<u32>(3).unwrap();
    for i in 0..3 {
        a.send(i, 0).unwrap();
    }
    assert_eq!(errno(a.send(3, 0)), ETIMEDOUT);
    for i in 0..3 {
        assert_eq!(b.recv(0).unwrap(), i);
    }
    assert_eq!(errno(b.recv(0)), ETIMEDOUT);
}

#[test]
fn one_buffer_per_direction() {
    let (a, b) = chmake_buffered::<u32>(1).unwrap();
    a.send(1, 0).unwrap();
    b.send(2, 0).unwrap();
    assert_eq!(errno(a.send(3, 0)), ETIMEDOUT);
    assert_eq!(errno(b.send(4, 0)), ETIMEDOUT);
    assert_eq!(a.recv(0).unwrap(), 2);
    assert_eq!(b.recv(0).unwrap(), 1);
}

#[test]
fn blocked_senders_follow_the_buffer_in_fifo_order() {
    let (a, b) = chmake_buffered::<u32>(2).unwrap();
    a.send(0, 0).unwrap();
    a.send(1, 0).unwrap();
    // Three senders block behind the full buffer, in order.
    let hs: Vec<_> = (2..5)
        .map(|i| {
            let a = a.clone();
            go(move || a.send(i, -1)).unwrap()
        })
        .collect();
    let got: Vec<u32> = (0..5).map(|_| b.recv(-1).unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    for h in hs {
        h.join(-1).unwrap().unwrap();
    }
}

#[test]
fn a_waiting_receiver_gets_the_value_directly() {
    let (a, b) = chmake_buffered::<u32>(4).unwrap();
    let h = go(move || b.recv(-1)).unwrap();
    a.send(9, 0).unwrap();
    assert_eq!(h.join(-1).unwrap().unwrap(), 9);
}

#[test]
fn done_lets_receivers_drain_then_epipe() {
    let (a, b) = chmake_buffered::<String>(4).unwrap();
    a.send("x".into(), 0).unwrap();
    a.send("y".into(), 0).unwrap();
    a.done().unwrap();
    assert_eq!(errno(a.send("z".into(), 0)), EPIPE);
    assert_eq!(b.recv(0).unwrap(), "x");
    assert_eq!(b.recv(-1).unwrap(), "y");
    assert_eq!(errno(b.recv(-1)), EPIPE);
    // The other direction still works.
    b.send("back".into(), 0).unwrap();
    assert_eq!(a.recv(0).unwrap(), "back");
}

#[test]
fn dropping_the_sender_end_also_lets_receivers_drain() {
    let (a, b) = chmake_buffered::<u32>(2).unwrap();
    a.send(1, 0).unwrap();
    drop(a);
    assert_eq!(b.recv(0).unwrap(), 1);
    assert_eq!(errno(b.recv(-1)), EPIPE);
}

#[test]
fn done_fails_blocked_senders_and_keeps_their_values() {
    let (a, b) = chmake_buffered::<u32>(1).unwrap();
    a.send(1, 0).unwrap();
    let a2 = a.clone();
    let h = go(move || a2.send_or_return(2, -1)).unwrap();
    a.done().unwrap();
    let (e, v) = h.join(-1).unwrap().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(EPIPE));
    assert_eq!(v, 2);
    assert_eq!(b.recv(0).unwrap(), 1);
    assert_eq!(errno(b.recv(0)), EPIPE);
}

#[test]
fn send_to_a_dropped_peer_is_epipe_even_with_room() {
    let (a, b) = chmake_buffered::<u32>(8).unwrap();
    drop(b);
    let (e, v) = a.send_or_return(5, 0).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(EPIPE));
    assert_eq!(v, 5);
}

#[test]
fn capacity_zero_is_a_rendezvous() {
    let (a, b) = chmake_buffered::<u32>(0).unwrap();
    assert_eq!(errno(a.send(1, 0)), ETIMEDOUT);
    let h = go(move || b.recv(-1)).unwrap();
    a.send(2, -1).unwrap();
    assert_eq!(h.join(-1).unwrap().unwrap(), 2);
}

#[test]
fn choose_sends_into_room_and_receives_from_the_buffer() {
    let (a, b) = chmake_buffered::<u32>(1).unwrap();
    let mut v = Some(3);
    assert_eq!(choose(&mut [Clause::send(&a, &mut v)], 0).unwrap(), 0);
    assert_eq!(v, None);
    let mut v = Some(4);
    assert_eq!(errno(choose(&mut [Clause::send(&a, &mut v)], 0)), ETIMEDOUT);
    assert_eq!(v, Some(4));
    let mut got = None;
    assert_eq!(choose(&mut [Clause::recv(&b, &mut got)], 0).unwrap(), 0);
    assert_eq!(got, Some(3));
}

/// Counts drops of its values.
struct Counted(Rc<Cell<usize>>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn buffered_values_are_dropped_once_with_the_channel() {
    let drops = Rc::new(Cell::new(0));
    let (a, b) = chmake_buffered::<Counted>(4).unwrap();
    for _ in 0..3 {
        a.send(Counted(drops.clone()), 0).unwrap();
    }
    b.send(Counted(drops.clone()), 0).unwrap();
    drop(b.recv(0).unwrap());
    assert_eq!(drops.get(), 1);
    // Dropping the receiving end drops what waits for it at once.
    drop(b);
    assert_eq!(drops.get(), 3);
    // What waits for `a` goes when the last handle goes.
    drop(a);
    assert_eq!(drops.get(), 4);
}

#[test]
fn a_channel_end_inside_a_dropped_buffered_value_closes() {
    // Dropping the buffered value drops the channel end it carries.
    let drops = Rc::new(Cell::new(0));
    let (a, b) = chmake_buffered::<(Counted, Option<dill::Chan<u8>>)>(1).unwrap();
    let (x, y) = chmake_buffered::<u8>(1).unwrap();
    a.send((Counted(drops.clone()), Some(x)), 0).unwrap();
    drop(b);
    assert_eq!(drops.get(), 1);
    assert_eq!(errno(y.recv(0)), EPIPE);
    drop(a);
}

#[test]
fn many_values_through_a_small_buffer_keep_their_order() {
    let (a, b) = chmake_buffered::<u64>(3).unwrap();
    let producer = go(move || {
        for i in 0..10_000u64 {
            a.send(i, -1).unwrap();
            if i % 7 == 0 {
                yield_now().unwrap();
            }
        }
    })
    .unwrap();
    for i in 0..10_000u64 {
        assert_eq!(b.recv(-1).unwrap(), i);
    }
    producer.join(-1).unwrap();
}

#[test]
fn zero_sized_values() {
    let (a, b) = chmake_buffered::<()>(2).unwrap();
    a.send((), 0).unwrap();
    a.send((), 0).unwrap();
    assert_eq!(errno(a.send((), 0)), ETIMEDOUT);
    b.recv(0).unwrap();
    b.recv(0).unwrap();
}

#[test]
fn huge_capacity_is_enomem() {
    assert_eq!(
        errno(chmake_buffered::<u64>(usize::MAX / 4)),
        dill::errno::ENOMEM
    );
}
