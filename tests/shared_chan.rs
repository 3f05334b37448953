//! Shared channels between threads: rendezvous and buffered transfer, the
//! errnos of `Chan`, wake-ups through the waiting thread's scheduler, and
//! `choose` over local and shared channels together.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use dill::errno::{ECANCELED, EPIPE, ETIMEDOUT};
use dill::{after, chmake, chmake_shared, choose, go, msleep, now, yield_now, Clause, SharedChan};

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn ends_are_send_sync_clone() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<SharedChan<String>>();
    check::<SharedChan<Box<u8>>>();
}

#[test]
fn rendezvous_across_threads_both_ways() {
    let (a, b) = chmake_shared::<u64>(0).unwrap();
    let t = thread::spawn(move || {
        for _ in 0..1000 {
            let v = b.recv(-1).unwrap();
            b.send(v + 1, -1).unwrap();
        }
    });
    let mut v = 0;
    for _ in 0..1000 {
        a.send(v, -1).unwrap();
        v = a.recv(-1).unwrap();
    }
    assert_eq!(v, 1000);
    t.join().unwrap();
}

#[test]
fn buffered_across_threads_keeps_fifo_order() {
    let (a, b) = chmake_shared::<u64>(16).unwrap();
    let t = thread::spawn(move || {
        for i in 0..20_000u64 {
            a.send(i, -1).unwrap();
        }
        a.done().unwrap();
    });
    let mut expect = 0;
    loop {
        match b.recv(-1) {
            Ok(v) => {
                assert_eq!(v, expect);
                expect += 1;
            }
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(EPIPE));
                break;
            }
        }
    }
    assert_eq!(expect, 20_000);
    t.join().unwrap();
}

#[test]
fn a_blocked_receive_suspends_only_its_coroutine() {
    let (a, b) = chmake_shared::<u32>(0).unwrap();
    let (go_tx, go_rx) = chmake_shared::<()>(0).unwrap();
    let waiter = go(move || b.recv(-1)).unwrap();
    // Other coroutines of this thread run while `waiter` waits.
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
    let t2 = ticks.clone();
    let ticker = go(move || {
        for _ in 0..10 {
            t2.set(t2.get() + 1);
            yield_now().unwrap();
        }
    })
    .unwrap();
    ticker.join(-1).unwrap();
    assert_eq!(ticks.get(), 10);
    // Only now does the other thread send.
    let t = thread::spawn(move || {
        go_rx.recv(-1).unwrap();
        a.send(42, -1).unwrap();
    });
    go_tx.send((), -1).unwrap();
    assert_eq!(waiter.join(-1).unwrap().unwrap(), 42);
    t.join().unwrap();
}

#[test]
fn many_coroutines_of_one_thread_woken_by_another() {
    let (a, b) = chmake_shared::<u32>(0).unwrap();
    let hs: Vec<_> = (0..50)
        .map(|_| {
            let b = b.clone();
            go(move || b.recv(-1).unwrap()).unwrap()
        })
        .collect();
    let t = thread::spawn(move || {
        for i in 0..50 {
            a.send(i, -1).unwrap();
        }
    });
    let mut got: Vec<u32> = hs.into_iter().map(|h| h.join(-1).unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    t.join().unwrap();
}

#[test]
fn timeouts_and_no_wait() {
    let (a, b) = chmake_shared::<u32>(1).unwrap();
    assert_eq!(errno(b.recv(0)), ETIMEDOUT);
    let d = after(30);
    assert_eq!(errno(b.recv(d)), ETIMEDOUT);
    assert!(now() >= d);
    a.send(1, 0).unwrap();
    let (e, v) = a.send_or_return(2, after(20)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(ETIMEDOUT));
    assert_eq!(v, 2);
    assert_eq!(b.recv(0).unwrap(), 1);
    assert_eq!(errno(b.recv(-2)), dill::errno::EINVAL);
}

#[test]
fn cancelling_a_blocked_coroutine_withdraws_it() {
    let (a, b) = chmake_shared::<u32>(0).unwrap();
    let b2 = b.clone();
    let h = go(move || b2.recv(-1)).unwrap();
    yield_now().unwrap();
    drop(h); // cancels and waits
             // The cancelled receiver is gone: a send finds nobody.
    assert_eq!(errno(a.send(1, 0)), ETIMEDOUT);
    // A value sent from another thread goes to the live receiver only.
    let t = thread::spawn(move || a.send(2, -1).unwrap());
    assert_eq!(b.recv(-1).unwrap(), 2);
    t.join().unwrap();
}

#[test]
fn a_cancelled_coroutine_gets_ecanceled() {
    let (_a, b) = chmake_shared::<u32>(0).unwrap();
    let (tx, rx) = chmake::<i32>().unwrap();
    let bun = dill::bundle().unwrap();
    bun.go(move || {
        let e = errno(b.recv(-1));
        let _ = tx.send(e, 0);
    })
    .unwrap();
    let reader = go(move || rx.recv(-1)).unwrap();
    drop(bun);
    assert_eq!(reader.join(-1).unwrap().unwrap(), ECANCELED);
    // Already cancelled before the call: ECANCELED at once, also in choose.
    let (_c, d) = chmake_shared::<u32>(0).unwrap();
    let (tx, rx) = chmake::<(i32, i32)>().unwrap();
    let bun = dill::bundle().unwrap();
    bun.go(move || {
        let _ = msleep(-1);
        let mut v = None;
        let r = (
            errno(d.recv(-1)),
            errno(choose(&mut [Clause::recv(&d, &mut v)], -1)),
        );
        let _ = tx.send(r, 0);
    })
    .unwrap();
    let reader = go(move || rx.recv(-1)).unwrap();
    yield_now().unwrap();
    drop(bun);
    assert_eq!(reader.join(-1).unwrap().unwrap(), (ECANCELED, ECANCELED));
}

#[test]
fn done_and_drop_give_epipe_across_threads() {
    let (a, b) = chmake_shared::<u32>(0).unwrap();
    let h = go(move || errno(b.recv(-1))).unwrap();
    yield_now().unwrap();
    thread::spawn(move || {
        a.done().unwrap();
        assert_eq!(errno(a.done()), EPIPE);
        assert_eq!(errno(a.send(1, 0)), EPIPE);
    })
    .join()
    .unwrap();
    assert_eq!(h.join(-1).unwrap(), EPIPE);

    let (a, b) = chmake_shared::<u32>(4).unwrap();
    let (e, v) = {
        drop(b);
        a.send_or_return(3, 0).unwrap_err()
    };
    assert_eq!((e.raw_os_error(), v), (Some(EPIPE), 3));

    // Buffered values are received after the sender's end is dropped.
    let (a, b) = chmake_shared::<u32>(4).unwrap();
    thread::spawn(move || {
        a.send(1, 0).unwrap();
        a.send(2, 0).unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(b.recv(0).unwrap(), 1);
    assert_eq!(b.recv(0).unwrap(), 2);
    assert_eq!(errno(b.recv(-1)), EPIPE);
}

#[test]
fn clones_are_the_same_end() {
    let (a, b) = chmake_shared::<u32>(2).unwrap();
    let a2 = a.clone();
    drop(a);
    a2.send(1, 0).unwrap();
    assert_eq!(b.recv(0).unwrap(), 1);
    drop(a2);
    assert_eq!(errno(b.recv(0)), EPIPE);
}

#[test]
fn choose_mixes_local_and_shared_channels() {
    let (local, local_peer) = chmake::<&'static str>().unwrap();
    let (shared, shared_peer) = chmake_shared::<u64>(0).unwrap();
    // Kept alive here: a dropped peer would make the shared clause EPIPE.
    let keep = shared_peer.clone();
    let t = thread::spawn(move || shared_peer.send(7, -1).unwrap());
    let (mut x, mut y) = (None, None);
    let i = choose(
        &mut [Clause::recv(&local, &mut x), Clause::recv(&shared, &mut y)],
        -1,
    )
    .unwrap();
    assert_eq!((i, x, y), (1, None, Some(7)));
    t.join().unwrap();

    // And the local clause can win while a shared one waits.
    let sender = go(move || local_peer.send("local", -1).unwrap()).unwrap();
    let (mut x, mut y) = (None, None);
    let i = choose(
        &mut [Clause::recv(&shared, &mut y), Clause::recv(&local, &mut x)],
        -1,
    )
    .unwrap();
    assert_eq!((i, x, y), (1, Some("local"), None));
    sender.join(-1).unwrap();
    drop(keep);
}

#[test]
fn choose_on_two_shared_channels_fed_by_two_threads() {
    let (a, a_peer) = chmake_shared::<u32>(0).unwrap();
    let (b, b_peer) = chmake_shared::<u32>(2).unwrap();
    // Kept alive here, so that a finished sender does not make its clause
    // EPIPE while the other still sends.
    let keep = (a_peer.clone(), b_peer.clone());
    let ta = thread::spawn(move || {
        for i in 0..500 {
            a_peer.send(i, -1).unwrap();
        }
    });
    let tb = thread::spawn(move || {
        for i in 0..500 {
            b_peer.send(1000 + i, -1).unwrap();
        }
    });
    let (mut na, mut nb) = (0, 0);
    while na + nb < 1000 {
        let (mut x, mut y) = (None, None);
        match choose(
            &mut [Clause::recv(&a, &mut x), Clause::recv(&b, &mut y)],
            -1,
        )
        .unwrap()
        {
            0 => {
                assert_eq!(x, Some(na));
                na += 1;
            }
            1 => {
                assert_eq!(y, Some(1000 + nb));
                nb += 1;
            }
            _ => unreachable!(),
        }
    }
    ta.join().unwrap();
    tb.join().unwrap();
    drop(keep);
}

#[test]
fn choose_send_clause_on_a_shared_channel() {
    let (a, b) = chmake_shared::<String>(0).unwrap();
    let (_l, l_peer) = chmake::<u8>().unwrap();
    let t = thread::spawn(move || b.recv(-1).unwrap());
    let mut v = Some("hi".to_string());
    let mut w = None;
    let i = choose(
        &mut [Clause::recv(&l_peer, &mut w), Clause::send(&a, &mut v)],
        -1,
    )
    .unwrap();
    assert_eq!(i, 1);
    assert_eq!(v, None);
    assert_eq!(t.join().unwrap(), "hi");
}

#[test]
fn same_thread_partners_on_a_shared_channel() {
    let (a, b) = chmake_shared::<u32>(0).unwrap();
    let h = go(move || b.recv(-1).unwrap()).unwrap();
    a.send(5, -1).unwrap();
    assert_eq!(h.join(-1).unwrap(), 5);
}

#[test]
fn coroutines_on_several_threads_each_with_its_scheduler() {
    // Four threads, each with three coroutines receiving from one channel.
    let (a, b) = chmake_shared::<u32>(0).unwrap();
    let total = Arc::new(AtomicUsize::new(0));
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let b = b.clone();
            let total = total.clone();
            thread::spawn(move || {
                let hs: Vec<_> = (0..3)
                    .map(|_| {
                        let b = b.clone();
                        let total = total.clone();
                        go(move || {
                            while let Ok(v) = b.recv(-1) {
                                total.fetch_add(v as usize, Ordering::Relaxed);
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
    drop(b);
    for i in 1..=1000 {
        a.send(i, -1).unwrap();
    }
    a.done().unwrap();
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(total.load(Ordering::Relaxed), 500_500);
}

#[test]
fn debug_output_names_the_state() {
    let (a, _b) = chmake_shared::<u32>(3).unwrap();
    a.send(1, 0).unwrap();
    let s = format!("{a:?}");
    assert!(
        s.contains("capacity: 3") && s.contains("buffered_out: 1"),
        "{s}"
    );
}

#[test]
fn huge_capacity_is_enomem() {
    assert_eq!(
        errno(chmake_shared::<u64>(usize::MAX / 4)),
        dill::errno::ENOMEM
    );
}
