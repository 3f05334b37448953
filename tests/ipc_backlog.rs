//! A listener whose backlog is full is waited on, not refused.

mod ipc_util;

use std::cell::Cell;
use std::rc::Rc;

use dill::*;
use ipc_util::*;

/// Connects with deadline 0 until the backlog of `l`'s socket is full;
/// returns the queued (never accepted) client streams.
fn fill_backlog(p: &TempPath) -> Vec<IpcStream<'static>> {
    let mut queued = Vec::new();
    loop {
        match ipc_connect(p, 0) {
            Ok(s) => queued.push(s),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT), "{e}");
                break;
            }
        }
        assert!(queued.len() < 1000, "backlog never filled up");
    }
    assert!(!queued.is_empty());
    queued
}

#[test]
fn deadline_zero_is_etimedout_at_once() {
    let p = TempPath::new("bl-zero");
    let _l = ipc_listen(&p, 1).unwrap();
    let _q = fill_backlog(&p);
    let start = now();
    assert_errno(ipc_connect(&p, 0), libc::ETIMEDOUT, "deadline 0");
    let mut mem = IpcMem::new();
    assert_errno(ipc_connect_mem(&p, &mut mem, 0), libc::ETIMEDOUT, "_mem");
    // A deadline in the past behaves like 0.
    assert_errno(ipc_connect(&p, 1), libc::ETIMEDOUT, "past deadline");
    assert!(now() - start < 1000);
}

#[test]
fn full_backlog_times_out_at_the_deadline() {
    let p = TempPath::new("bl-timeout");
    let _l = ipc_listen(&p, 1).unwrap();
    let q = fill_backlog(&p);
    let deadline = now() + 50;
    let mut mem = IpcMem::new();
    assert_errno(
        ipc_connect_mem(&p, &mut mem, deadline),
        libc::ETIMEDOUT,
        "connect",
    );
    let end = now();
    assert!(end >= deadline, "woke {} ms early", deadline - end);
    assert!(end < deadline + 1000, "woke {} ms late", end - deadline);
    drop(q);
}

#[test]
fn full_backlog_wait_is_cancelled_by_dropping_the_coroutine() {
    let p = TempPath::new("bl-cancel");
    let _l = ipc_listen(&p, 1).unwrap();
    let _q = fill_backlog(&p);
    let started = Rc::new(Cell::new(false));
    let result = Rc::new(Cell::new(0));
    let (path, st, res) = (p.to_path_buf(), started.clone(), result.clone());
    let co = go(move || {
        st.set(true);
        // Nothing in between can switch: once `started` is seen, this call
        // is blocked on the full backlog.
        res.set(errno(ipc_connect(&path, -1)));
    })
    .unwrap();
    while !started.get() {
        yield_now().unwrap();
    }
    assert_eq!(result.get(), 0, "connect returned before the cancel");
    let start = now();
    drop(co);
    assert_eq!(result.get(), libc::ECANCELED);
    assert!(now() - start < 1000);
}

#[test]
fn full_backlog_connect_succeeds_once_the_listener_accepts() {
    let p = TempPath::new("bl-wait");
    let l = ipc_listen(&p, 1).unwrap();
    let q = fill_backlog(&p);
    let started = Rc::new(Cell::new(false));
    let (path, st) = (p.to_path_buf(), started.clone());
    let client = go(move || -> std::io::Result<()> {
        st.set(true);
        let mut s = ipc_connect(&path, now() + 10_000)?;
        bsend(&mut s, b"in", -1)?;
        let mut b = [0u8; 3];
        brecv(&mut s, &mut b, now() + 10_000)?;
        assert_eq!(&b, b"ack");
        Ok(())
    })
    .unwrap();
    while !started.get() {
        yield_now().unwrap();
    }
    // Drain the queue: first the fillers, then the waiting client.
    for _ in 0..q.len() {
        ipc_accept(&l, now() + 1000).unwrap();
    }
    let mut s = ipc_accept(&l, now() + 10_000).unwrap();
    let mut b = [0u8; 2];
    brecv(&mut s, &mut b, now() + 10_000).unwrap();
    assert_eq!(&b, b"in");
    bsend(&mut s, b"ack", -1).unwrap();
    client.join(now() + 10_000).unwrap().unwrap();
}

#[test]
fn thousand_clients_through_a_backlog_of_four() {
    const CLIENTS: usize = 1000;
    let p = TempPath::new("bl-1000");
    let l = ipc_listen(&p, 4).unwrap();
    let served = Rc::new(Cell::new(0usize));
    let ok = Rc::new(Cell::new(0usize));
    let start = now();

    let srv_served = served.clone();
    let server = go(move || {
        let handlers = bundle().unwrap();
        for _ in 0..CLIENTS {
            let mut s = ipc_accept(&l, now() + 20_000).unwrap();
            let served = srv_served.clone();
            handlers
                .go(move || {
                    let mut b = [0u8; 8];
                    brecv(&mut s, &mut b, now() + 20_000).unwrap();
                    bsend(&mut s, &b, -1).unwrap();
                    served.set(served.get() + 1);
                })
                .unwrap();
        }
        handlers.wait(now() + 20_000).unwrap();
    })
    .unwrap();

    let clients = bundle().unwrap();
    for i in 0..CLIENTS {
        let (path, ok) = (p.to_path_buf(), ok.clone());
        clients
            .go(move || {
                let mut mem = IpcMem::new();
                let mut s = ipc_connect_mem(&path, &mut mem, now() + 20_000).unwrap();
                let msg = (i as u64).to_le_bytes();
                bsend(&mut s, &msg, -1).unwrap();
                let mut b = [0u8; 8];
                brecv(&mut s, &mut b, now() + 20_000).unwrap();
                assert_eq!(b, msg);
                ok.set(ok.get() + 1);
            })
            .unwrap();
    }
    clients.wait(now() + 30_000).unwrap();
    server.join(now() + 30_000).unwrap();
    assert_eq!(ok.get(), CLIENTS);
    assert_eq!(served.get(), CLIENTS);
    eprintln!("{CLIENTS} clients served in {} ms", now() - start);
}
