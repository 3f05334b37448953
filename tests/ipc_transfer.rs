//! Moving bytes: bsend/brecv semantics, EOF, resets, broken directions.

mod ipc_util;

use std::cell::{Cell, RefCell};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::rc::Rc;

use dill::*;
use ipc_util::*;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn pair_round_trip() {
    let (mut a, mut b) = ipc_pair().unwrap();
    bsend(&mut a, b"ping", -1).unwrap();
    let mut buf = [0u8; 4];
    brecv(&mut b, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"ping");
    bsend(&mut b, b"pong", -1).unwrap();
    brecv(&mut a, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"pong");

    let (mut ma, mut mb) = (IpcMem::new(), IpcMem::default());
    let (mut a, mut b) = ipc_pair_mem(&mut ma, &mut mb).unwrap();
    bsend(&mut b, b"mem", -1).unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut a, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"mem");
    assert_eq!(IPC_SIZE, std::mem::size_of::<IpcMem>());
    assert_eq!(IPC_LISTENER_SIZE, std::mem::size_of::<IpcListenerMem>());
}

#[test]
fn sockets_are_cloexec_and_nonblocking() {
    use std::os::fd::AsRawFd;
    let p = TempPath::new("flags");
    let l = ipc_listen(&p, 8).unwrap();
    let c = ipc_connect(&p, -1).unwrap();
    let s = ipc_accept(&l, -1).unwrap();
    let (a, b) = ipc_pair().unwrap();
    for fd in [
        l.as_raw_fd(),
        c.as_raw_fd(),
        s.as_raw_fd(),
        a.as_raw_fd(),
        b.as_raw_fd(),
    ] {
        assert!(is_cloexec(fd), "fd {fd} not close-on-exec");
        assert!(is_nonblocking(fd), "fd {fd} blocking");
    }
}

#[test]
fn large_transfers_in_both_directions() {
    const LEN: usize = 4 << 20;
    let (a, mut b) = ipc_pair().unwrap();
    // a -> b: the sender blocks on a full buffer many times over.
    let sender = go(move || {
        let mut a = a;
        bsend(&mut a, &pattern(LEN, 7), -1).unwrap();
        a
    })
    .unwrap();
    let mut got = vec![0u8; LEN];
    brecv(&mut b, &mut got, -1).unwrap();
    assert!(got == pattern(LEN, 7));
    let a = sender.join(-1).unwrap();
    // b -> a: now the receiver blocks on an empty queue many times over.
    let receiver = go(move || {
        let mut a = a;
        let mut got = vec![0u8; LEN];
        brecv(&mut a, &mut got, -1).unwrap();
        got
    })
    .unwrap();
    bsend(&mut b, &pattern(LEN, 3), -1).unwrap();
    assert!(receiver.join(-1).unwrap() == pattern(LEN, 3));
}

#[test]
fn vectored_transfers_cross_buffer_boundaries() {
    let (mut a, mut b) = ipc_pair().unwrap();
    // 300 buffers (more than one syscall window), some empty, 45 kB in all
    // so the sender blocks midway.
    let chunks: Vec<Vec<u8>> = (0..300)
        .map(|n| {
            if n % 7 == 0 {
                Vec::new()
            } else {
                pattern(n, n as u8)
            }
        })
        .collect();
    let expected: Vec<u8> = chunks.concat();
    let total = expected.len();
    let sender = go(move || {
        let slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
        bsendl(&mut a, &slices, -1).unwrap();
        a
    })
    .unwrap();
    let mut got = vec![0u8; total];
    {
        // Split differently on the receiving side.
        let mut slices: Vec<IoSliceMut<'_>> = got.chunks_mut(97).map(IoSliceMut::new).collect();
        brecvl(&mut b, &mut slices, -1).unwrap();
    }
    assert_eq!(got, expected);
    let _a = sender.join(-1).unwrap();
}

#[test]
fn zero_length_calls_succeed_at_once() {
    let (mut a, mut b) = ipc_pair().unwrap();
    bsend(&mut a, &[], 0).unwrap();
    brecv(&mut b, &mut [], 0).unwrap();
    bsendl(&mut a, &[], 0).unwrap();
    brecvl(&mut b, &mut [], 0).unwrap();
    bsendl(&mut a, &[IoSlice::new(&[])], 0).unwrap();
    brecvl(&mut b, &mut [IoSliceMut::new(&mut [])], 0).unwrap();
    // Nothing was sent.
    assert_errno(
        brecv(&mut b, &mut [0u8; 1], 0),
        libc::ETIMEDOUT,
        "empty queue",
    );
}

#[test]
fn bad_deadline_is_einval_and_harmless() {
    let (mut a, mut b) = ipc_pair().unwrap();
    assert_errno(bsend(&mut a, b"x", -2), libc::EINVAL, "bsend");
    assert_errno(brecv(&mut b, &mut [0u8; 1], -3), libc::EINVAL, "brecv");
    bsend(&mut a, b"x", -1).unwrap();
    brecv(&mut b, &mut [0u8; 1], -1).unwrap();
}

#[test]
fn eof_before_the_buffer_is_full_is_epipe_and_stays() {
    let (mut a, mut b) = ipc_pair().unwrap();
    bsend(&mut a, b"abc", -1).unwrap();
    drop(a);
    let mut buf = [0u8; 5];
    assert_errno(brecv(&mut b, &mut buf, -1), libc::EPIPE, "short read");
    assert_eq!(&buf[..3], b"abc");
    assert_errno(brecv(&mut b, &mut buf, -1), libc::EPIPE, "again");
    assert_errno(brecv(&mut b, &mut buf, 0), libc::EPIPE, "deadline 0");
}

#[test]
fn peer_closing_with_our_data_unread_is_econnreset() {
    let (mut a, b) = ipc_pair().unwrap();
    bsend(&mut a, b"never read", -1).unwrap();
    drop(b);
    assert_errno(brecv(&mut a, &mut [0u8; 1], -1), libc::ECONNRESET, "brecv");
    assert_errno(bsend(&mut a, b"more", -1), libc::ECONNRESET, "bsend");
}

#[test]
fn sending_to_a_closed_peer_is_econnreset_not_sigpipe() {
    // Restore the default SIGPIPE action (kill the process): if any send
    // raised SIGPIPE, this test binary would die.
    // SAFETY: setting a signal disposition to SIG_DFL is always valid.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let (mut a, b) = ipc_pair().unwrap();
    drop(b);
    assert_errno(bsend(&mut a, b"x", -1), libc::ECONNRESET, "bsend");
    assert_errno(bsend(&mut a, b"x", -1), libc::ECONNRESET, "stays broken");
    let (mut a, b) = ipc_pair().unwrap();
    drop(b);
    assert_errno(
        bsendl(&mut a, &[IoSlice::new(b"x")], -1),
        libc::ECONNRESET,
        "bsendl",
    );
    let (mut a, b) = ipc_pair().unwrap();
    drop(b);
    assert_errno(a.write(b"x"), libc::ECONNRESET, "io::Write");
}

#[test]
fn receive_timeout_breaks_only_the_inbound_direction() {
    let (mut a, mut b) = ipc_pair().unwrap();
    let deadline = now() + 30;
    assert_errno(
        brecv(&mut a, &mut [0u8; 4], deadline),
        libc::ETIMEDOUT,
        "brecv",
    );
    let t = now();
    assert!(t >= deadline, "woke {} ms early", deadline - t);
    assert!(t < deadline + 1000, "woke {} ms late", t - deadline);
    bsend(&mut b, b"late", -1).unwrap();
    assert_errno(
        brecv(&mut a, &mut [0u8; 4], -1),
        libc::ECONNRESET,
        "after timeout",
    );
    // The other direction is intact.
    bsend(&mut a, b"fine", -1).unwrap();
    let mut buf = [0u8; 4];
    brecv(&mut b, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"fine");
}

#[test]
fn send_timeout_breaks_only_the_outbound_direction() {
    let (mut a, mut b) = ipc_pair().unwrap();
    // Far more than the socket buffers hold: the send must time out midway.
    let big = vec![0u8; 64 << 20];
    let deadline = now() + 30;
    assert_errno(bsend(&mut a, &big, deadline), libc::ETIMEDOUT, "bsend");
    let t = now();
    assert!(t >= deadline, "woke {} ms early", deadline - t);
    assert!(t < deadline + 1000, "woke {} ms late", t - deadline);
    assert_errno(bsend(&mut a, b"x", -1), libc::ECONNRESET, "after timeout");
    assert_errno(
        bsendl(&mut a, &[IoSlice::new(b"x")], -1),
        libc::ECONNRESET,
        "bsendl",
    );
    bsend(&mut b, b"back", -1).unwrap();
    let mut buf = [0u8; 4];
    brecv(&mut a, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"back");
}

#[test]
fn cancelling_a_blocked_receive_breaks_the_direction() {
    let (a, mut b) = ipc_pair().unwrap();
    let shared = Rc::new(RefCell::new(Some(a)));
    let result = Rc::new(Cell::new(0));
    let started = Rc::new(Cell::new(false));
    let (sh, res, st) = (shared.clone(), result.clone(), started.clone());
    let co = go(move || {
        let mut a = sh.borrow_mut().take().unwrap();
        st.set(true);
        res.set(errno(brecv(&mut a, &mut [0u8; 1], -1)));
        *sh.borrow_mut() = Some(a);
    })
    .unwrap();
    while !started.get() {
        yield_now().unwrap();
    }
    drop(co);
    assert_eq!(result.get(), libc::ECANCELED);
    let mut a = shared.borrow_mut().take().unwrap();
    bsend(&mut b, b"x", -1).unwrap();
    assert_errno(
        brecv(&mut a, &mut [0u8; 1], -1),
        libc::ECONNRESET,
        "after cancel",
    );
    bsend(&mut a, b"y", -1).unwrap();
}

#[test]
fn cancelled_coroutine_may_finish_nonblocking_transfers() {
    let (a, mut b) = ipc_pair().unwrap();
    bsend(&mut b, b"ready", -1).unwrap();
    let results = Rc::new(RefCell::new(Vec::new()));
    let res = results.clone();
    let co = go(move || {
        let mut a = a;
        assert_eq!(
            msleep(-1).unwrap_err().raw_os_error(),
            Some(libc::ECANCELED)
        );
        let mut r = res.borrow_mut();
        // Room in the send buffer and data in the receive queue: no blocking.
        r.push(bsend(&mut a, b"ok", -1).map_err(|e| e.raw_os_error()));
        let mut buf = [0u8; 5];
        r.push(brecv(&mut a, &mut buf, -1).map_err(|e| e.raw_os_error()));
        // This one would have to wait.
        r.push(brecv(&mut a, &mut buf, -1).map_err(|e| e.raw_os_error()));
    })
    .unwrap();
    drop(co);
    assert_eq!(
        *results.borrow(),
        vec![Ok(()), Ok(()), Err(Some(libc::ECANCELED))]
    );
    let mut buf = [0u8; 2];
    brecv(&mut b, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"ok");
}

#[test]
fn std_read_and_write() {
    let (mut a, mut b) = ipc_pair().unwrap();
    a.write_all(b"hello world").unwrap();
    a.flush().unwrap();
    let mut buf = [0u8; 11];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello world");
    assert_eq!(a.write(b"").unwrap(), 0);
    assert_eq!(b.read(&mut []).unwrap(), 0);
    a.write_all(b"tail").unwrap();
    drop(a);
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"tail");
    assert_eq!(b.read(&mut buf).unwrap(), 0);
}

#[test]
fn debug_output_names_the_state() {
    let (mut a, _b) = ipc_pair().unwrap();
    ipc_done(&mut a, -1).unwrap();
    let s = format!("{a:?}");
    assert!(
        s.contains("IpcStream") && s.contains("outdone: true"),
        "{s}"
    );
    let p = TempPath::new("debug");
    let l = ipc_listen(&p, 1).unwrap();
    assert!(format!("{l:?}").contains("IpcListener"));
    assert!(format!("{:?}", IpcMem::new()).contains("IpcMem"));
    assert!(format!("{:?}", IpcListenerMem::new()).contains("IpcListenerMem"));
}
