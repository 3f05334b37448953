//! Channels and cancellation: blocking calls fail with ECANCELED, calls
//! that complete at once may still succeed.

use std::cell::RefCell;
use std::rc::Rc;

use dill::{bundle, chmake, go, now, Chan};

fn code<T>(r: &std::io::Result<T>) -> Option<i32> {
    r.as_ref().err().and_then(|e| e.raw_os_error())
}

#[test]
fn blocked_recv_fails_with_ecanceled() {
    let (_a, b) = chmake::<u32>().unwrap();
    let res = Rc::new(RefCell::new(None));
    let r = res.clone();
    let h = go(move || *r.borrow_mut() = Some(code(&b.recv(-1)))).unwrap();
    drop(h);
    assert_eq!(*res.borrow(), Some(Some(libc::ECANCELED)));
}

#[test]
fn blocked_send_fails_with_ecanceled() {
    let (a, _b) = chmake::<u32>().unwrap();
    let res = Rc::new(RefCell::new(None));
    let r = res.clone();
    let h = go(move || *r.borrow_mut() = Some(code(&a.send(1, now() + 60_000)))).unwrap();
    drop(h);
    assert_eq!(*res.borrow(), Some(Some(libc::ECANCELED)));
}

#[test]
fn a_cancelled_coroutine_can_still_complete_without_blocking() {
    let (a, b) = chmake::<u32>().unwrap();
    // A receiver waits on the far end, so a send can complete at once.
    let receiver = go(move || b.recv(-1)).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let victim = go(move || {
        let (_x, y): (Chan<u8>, Chan<u8>) = chmake().unwrap();
        l.borrow_mut().push(code(&y.recv(-1))); // blocks until cancelled
        l.borrow_mut().push(code(&chmake::<u8>()));
        l.borrow_mut().push(code(&y.recv(0)));
        l.borrow_mut().push(code(&a.send(11, -1))); // partner waiting: succeeds
        l.borrow_mut().push(code(&a.send(12, -1))); // nobody waiting: ECANCELED
    })
    .unwrap();
    drop(victim);
    assert_eq!(
        *log.borrow(),
        [
            Some(libc::ECANCELED),
            Some(libc::ECANCELED),
            Some(libc::ECANCELED),
            None,
            Some(libc::ECANCELED)
        ]
    );
    assert_eq!(receiver.join(-1).unwrap().unwrap(), 11);
}

#[test]
fn dropping_a_bundle_cancels_its_channel_waiters() {
    let (_a, b) = chmake::<u32>().unwrap();
    let count = Rc::new(RefCell::new(0));
    let bu = bundle().unwrap();
    for _ in 0..3 {
        let b = b.clone();
        let c = count.clone();
        bu.go(move || {
            if code(&b.recv(-1)) == Some(libc::ECANCELED) {
                *c.borrow_mut() += 1;
            }
        })
        .unwrap();
    }
    for _ in 0..2 {
        // Sends out of `b` go to `a`, where nobody receives.
        let a = b.clone();
        let c = count.clone();
        bu.go(move || {
            if code(&a.send(1, now() + 60_000)) == Some(libc::ECANCELED) {
                *c.borrow_mut() += 1;
            }
        })
        .unwrap();
    }
    // Every member ran until it blocked inside `go`.
    assert_eq!(bu.len(), 5);
    drop(bu);
    assert_eq!(*count.borrow(), 5);
}

#[test]
fn a_cancelled_waiter_is_skipped_by_later_partners() {
    let (a, b) = chmake::<u32>().unwrap();
    let b1 = b.clone();
    let first = go(move || b1.recv(-1)).unwrap();
    let second = go(move || b.recv(-1)).unwrap();
    drop(first);
    a.send(3, -1).unwrap();
    assert_eq!(second.join(-1).unwrap().unwrap(), 3);
}
