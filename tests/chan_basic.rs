//! Channels: rendezvous in both orders, both directions, FIFO among
//! waiters, deadlines, odd-sized values.

use std::cell::RefCell;
use std::rc::Rc;

use dill::{chmake, go, now, yield_now};

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn receiver_waits_for_sender() {
    let (a, b) = chmake::<u32>().unwrap();
    let h = go(move || b.recv(-1).unwrap()).unwrap();
    // The child is blocked in recv now; this send finds it waiting.
    a.send(7, -1).unwrap();
    assert_eq!(h.join(-1).unwrap(), 7);
}

#[test]
fn sender_waits_for_receiver() {
    let (a, b) = chmake::<String>().unwrap();
    let h = go(move || a.send("hello".to_string(), -1)).unwrap();
    assert!(!h.is_finished());
    assert_eq!(b.recv(-1).unwrap(), "hello");
    h.join(-1).unwrap().unwrap();
}

#[test]
fn send_returns_only_after_value_is_taken() {
    let (a, b) = chmake::<u32>().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let h = go(move || {
        a.send(1, -1).unwrap();
        l.borrow_mut().push("sent");
    })
    .unwrap();
    for _ in 0..10 {
        yield_now().unwrap();
    }
    assert!(log.borrow().is_empty());
    assert_eq!(b.recv(-1).unwrap(), 1);
    log.borrow_mut().push("received");
    h.join(-1).unwrap();
    assert_eq!(*log.borrow(), ["received", "sent"]);
}

#[test]
fn both_ends_send_and_receive() {
    let (a, b) = chmake::<i64>().unwrap();
    let h = go(move || {
        let x = b.recv(-1).unwrap();
        b.send(x * 2, -1).unwrap();
        let y = b.recv(-1).unwrap();
        b.send(y + 1, -1).unwrap();
    })
    .unwrap();
    a.send(21, -1).unwrap();
    assert_eq!(a.recv(-1).unwrap(), 42);
    a.send(1, -1).unwrap();
    assert_eq!(a.recv(-1).unwrap(), 2);
    h.join(-1).unwrap();
}

#[test]
fn blocked_sender_is_invisible_to_recv_on_its_own_end() {
    let (a, b) = chmake::<u8>().unwrap();
    let a2 = a.clone();
    let h = go(move || a2.send(5, -1)).unwrap();
    assert_eq!(errno(a.recv(0)), libc::ETIMEDOUT);
    assert_eq!(b.recv(0).unwrap(), 5);
    h.join(-1).unwrap().unwrap();
}

#[test]
fn blocked_senders_are_served_fifo() {
    let (a, b) = chmake::<usize>().unwrap();
    let mut hs = Vec::new();
    for i in 0..5 {
        let a = a.clone();
        hs.push(go(move || a.send(i, -1).unwrap()).unwrap());
    }
    for i in 0..5 {
        assert_eq!(b.recv(-1).unwrap(), i);
    }
    for h in hs {
        h.join(-1).unwrap();
    }
}

#[test]
fn blocked_receivers_are_served_fifo() {
    let (a, b) = chmake::<usize>().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let mut hs = Vec::new();
    for i in 0..5 {
        let b = b.clone();
        let got = got.clone();
        hs.push(
            go(move || {
                let v = b.recv(-1).unwrap();
                got.borrow_mut().push((i, v));
            })
            .unwrap(),
        );
    }
    for v in 100..105 {
        a.send(v, -1).unwrap();
    }
    for h in hs {
        h.join(-1).unwrap();
    }
    let mut got = got.borrow().clone();
    got.sort();
    assert_eq!(got, (0..5).map(|i| (i, 100 + i)).collect::<Vec<_>>());
}

#[test]
fn deadline_zero_needs_a_waiting_partner() {
    let (a, b) = chmake::<u32>().unwrap();
    assert_eq!(errno(a.send(1, 0)), libc::ETIMEDOUT);
    assert_eq!(errno(b.recv(0)), libc::ETIMEDOUT);
    let h = go(move || b.recv(-1).unwrap()).unwrap();
    a.send(9, 0).unwrap();
    assert_eq!(h.join(-1).unwrap(), 9);
}

#[test]
fn past_deadline_behaves_like_zero() {
    let (a, b) = chmake::<u32>().unwrap();
    let past = now() - 1000;
    assert_eq!(errno(a.send(1, past.max(1))), libc::ETIMEDOUT);
    assert_eq!(errno(b.recv(1)), libc::ETIMEDOUT);
}

#[test]
fn bad_deadline_is_einval() {
    let (a, b) = chmake::<u32>().unwrap();
    assert_eq!(errno(a.send(1, -2)), libc::EINVAL);
    assert_eq!(errno(b.recv(-7)), libc::EINVAL);
    assert_eq!(
        errno(a.send_or_return(3, i64::MIN).map_err(|(e, v)| {
            assert_eq!(v, 3);
            e
        })),
        libc::EINVAL
    );
}

#[test]
fn recv_times_out_not_early() {
    let (_a, b) = chmake::<u32>().unwrap();
    let start = now();
    let deadline = start + 50;
    assert_eq!(errno(b.recv(deadline)), libc::ETIMEDOUT);
    let end = now();
    assert!(end >= deadline, "woke {} ms early", deadline - end);
    assert!(end - start < 2000, "took {} ms", end - start);
}

#[test]
fn send_times_out_not_early_in_a_coroutine() {
    let (a, _b) = chmake::<u32>().unwrap();
    let h = go(move || {
        let deadline = now() + 30;
        let r = a.send(1, deadline);
        (r.unwrap_err().raw_os_error(), deadline, now())
    })
    .unwrap();
    let (e, deadline, end) = h.join(-1).unwrap();
    assert_eq!(e, Some(libc::ETIMEDOUT));
    assert!(end >= deadline);
    assert!(end - deadline < 2000);
}

#[test]
fn a_timed_out_waiter_is_skipped() {
    let (a, b) = chmake::<u32>().unwrap();
    let b2 = b.clone();
    let h1 = go(move || b2.recv(now() + 20)).unwrap();
    let b3 = b.clone();
    let h2 = go(move || b3.recv(-1)).unwrap();
    assert_eq!(errno(h1.join(-1).unwrap()), libc::ETIMEDOUT);
    a.send(4, -1).unwrap();
    assert_eq!(h2.join(-1).unwrap().unwrap(), 4);
}

#[test]
fn zero_sized_values() {
    let (a, b) = chmake::<()>().unwrap();
    let h = go(move || {
        for _ in 0..100 {
            b.recv(-1).unwrap();
        }
    })
    .unwrap();
    for _ in 0..100 {
        a.send((), -1).unwrap();
    }
    h.join(-1).unwrap();
}

#[test]
fn large_boxed_values() {
    let (a, b) = chmake::<Box<[u8; 65536]>>().unwrap();
    let h = go(move || {
        let v = b.recv(-1).unwrap();
        v.iter().map(|&x| x as u64).sum::<u64>()
    })
    .unwrap();
    let mut v = Box::new([0u8; 65536]);
    for (i, x) in v.iter_mut().enumerate() {
        *x = (i % 251) as u8;
    }
    let expect: u64 = v.iter().map(|&x| x as u64).sum();
    a.send(v, -1).unwrap();
    assert_eq!(h.join(-1).unwrap(), expect);
}

#[test]
fn large_values_by_value() {
    type Big = [u64; 2048]; // 16 KiB moved from stack to stack
    let (a, b) = chmake::<Big>().unwrap();
    let h = dill::go_with_stack_size(1 << 20, move || {
        let v = b.recv(-1).unwrap();
        let w = b.recv(-1).unwrap();
        v.iter().zip(w.iter()).all(|(x, y)| *y == x + 1) && v[2047] == 2047
    })
    .unwrap();
    let mut v: Big = [0; 2048];
    for (i, x) in v.iter_mut().enumerate() {
        *x = i as u64;
    }
    a.send(v, -1).unwrap();
    for x in v.iter_mut() {
        *x += 1;
    }
    a.send(v, -1).unwrap();
    assert!(h.join(-1).unwrap());
}

#[test]
fn send_or_return_gives_the_value_back() {
    let (a, b) = chmake::<Vec<u8>>().unwrap();
    let (e, v) = a.send_or_return(vec![1, 2, 3], 0).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT));
    assert_eq!(v, [1, 2, 3]);
    let h = go(move || b.recv(-1).unwrap()).unwrap();
    a.send_or_return(v, -1).unwrap();
    assert_eq!(h.join(-1).unwrap(), [1, 2, 3]);
}

#[test]
fn many_messages_between_coroutines() {
    let (a, b) = chmake::<u64>().unwrap();
    let h = go(move || {
        let mut sum = 0;
        while let Ok(v) = b.recv(-1) {
            sum += v;
        }
        sum
    })
    .unwrap();
    for i in 0..10_000 {
        a.send(i, -1).unwrap();
    }
    drop(a);
    assert_eq!(h.join(-1).unwrap(), (0..10_000).sum::<u64>());
}

#[test]
fn debug_shows_the_end_and_state() {
    let (a, b) = chmake::<u8>().unwrap();
    a.done().unwrap();
    let s = format!("{a:?} {b:?}");
    assert!(s.contains("end: 0"), "{s}");
    assert!(s.contains("end: 1"), "{s}");
    assert!(s.contains("done: true"), "{s}");
    assert_eq!(a.end(), 0);
    assert_eq!(b.end(), 1);
}
