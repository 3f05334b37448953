//! TERM over PREFIX and SUFFIX on IPC: the handshake in both orders and
//! concurrently, the closing sequence down to an orderly `ipc_close`, the
//! terminal message never confused with data, small buffers, and errnos.

mod msg_util;

use std::cell::Cell;
use std::rc::Rc;

use dill::errno::*;
use dill::*;
use msg_util::*;

type Prefixed = PrefixStream<IpcStream<'static>>;

fn pair(term: &[u8]) -> (TermStream<Prefixed>, TermStream<Prefixed>) {
    let (a, b) = ipc_pair().unwrap();
    (
        term_attach(prefix_attach(a, 4, PREFIX_BIG_ENDIAN).unwrap(), term).unwrap(),
        term_attach(prefix_attach(b, 4, PREFIX_BIG_ENDIAN).unwrap(), term).unwrap(),
    )
}

#[test]
fn one_side_finishes_first_then_the_other() {
    let (mut a, mut b) = pair(b"STOP");
    msend(&mut a, b"from a", -1).unwrap();
    term_done(&mut a, -1).unwrap();
    // a can no longer send, but still receives.
    assert_errno(msend(&mut a, b"late", -1), EPIPE, "send after term_done");
    assert_errno(term_done(&mut a, -1), EPIPE, "term_done twice");
    msend(&mut b, b"from b", -1).unwrap();
    assert_eq!(recv_vec(&mut a, 100), b"from b");
    // b sees a's message, then the terminal message as EPIPE (sticky).
    assert_eq!(recv_vec(&mut b, 100), b"from a");
    assert_errno(mrecv(&mut b, &mut [0u8; 100], -1), EPIPE, "peer done");
    assert_errno(mrecv(&mut b, &mut [0u8; 100], -1), EPIPE, "still done");
    // b answers with its own terminal message and is done at once.
    let pb = b.detach(now() + 1000).unwrap();
    let pa = a.detach(now() + 1000).unwrap();
    // Both sides agree on the position: the framing below carries on.
    let (mut pa, mut pb) = (pa, pb);
    msend(&mut pa, b"below", -1).unwrap();
    assert_eq!(recv_vec(&mut pb, 10), b"below");
    // And the sockets close in order: b half-closes first, then a.
    let (ra, rb) = (pa.detach().unwrap(), pb.detach().unwrap());
    let closer = go(move || ipc_close(rb, now() + 5000)).unwrap();
    ipc_close(ra, now() + 5000).unwrap();
    closer.join(-1).unwrap().unwrap();
}

#[test]
fn both_sides_detach_at_once() {
    for _ in 0..20 {
        let (a, mut b) = pair(b"STOP");
        let ha = go(move || {
            let mut a = a;
            msend(&mut a, b"1", -1)?;
            msend(&mut a, &[9u8; 10_000], -1)?; // skipped by b's detach
            a.detach(now() + 5000)
        })
        .unwrap();
        msend(&mut b, b"2", -1).unwrap();
        let pb = b.detach(now() + 5000).unwrap();
        let pa = ha.join(-1).unwrap().unwrap();
        let (ra, rb) = (pa.detach().unwrap(), pb.detach().unwrap());
        let closer = go(move || ipc_close(ra, now() + 5000)).unwrap();
        ipc_close(rb, now() + 5000).unwrap();
        closer.join(-1).unwrap().unwrap();
    }
}

#[test]
fn detach_drops_pending_inbound_messages() {
    let (mut a, b) = pair(b"STOP");
    for i in 0..10u8 {
        // Empty, small and larger than detach's scratch buffer.
        msend(&mut a, &vec![i; i as usize * 1000], -1).unwrap();
    }
    term_done(&mut a, -1).unwrap();
    let mut pb = b.detach(now() + 5000).unwrap();
    let mut pa = a.detach(now() + 5000).unwrap();
    // Everything before the terminal message was consumed, nothing after.
    msend(&mut pa, b"after", -1).unwrap();
    assert_eq!(recv_vec(&mut pb, 10), b"after");
}

#[test]
fn the_terminal_message_cannot_be_sent_as_data() {
    let (mut a, mut b) = pair(b"STOP");
    assert_errno(
        msend(&mut a, b"STOP", -1),
        EINVAL,
        "terminal message as data",
    );
    assert_errno(
        msendl(
            &mut a,
            &[std::io::IoSlice::new(b"ST"), std::io::IoSlice::new(b"OP")],
            -1,
        ),
        EINVAL,
        "in two pieces",
    );
    // Look-alikes are ordinary data.
    for m in [&b"STOPS"[..], b"STO", b"stop", b"SToP"] {
        msend(&mut a, m, -1).unwrap();
        assert_eq!(recv_vec(&mut b, 10), m);
    }
    // An empty terminal message makes the empty message the terminal one.
    let (mut c, mut d) = pair(b"");
    assert_errno(msend(&mut c, b"", -1), EINVAL, "empty terminal message");
    msend(&mut c, b"x", -1).unwrap();
    assert_eq!(recv_vec(&mut d, 10), b"x");
    term_done(&mut c, -1).unwrap();
    assert_errno(mrecv(&mut d, &mut [0u8; 4], -1), EPIPE, "empty terminal");
}

#[test]
fn attach_limits_the_terminal_message_to_32_bytes() {
    let (a, _b) = ipc_pair().unwrap();
    let p = prefix_attach(a, 2, 0).unwrap();
    assert_errno(term_attach(p, &[b'x'; 33]), EINVAL, "33 bytes");
    let (a, mut b) = pair(&[b'T'; 32]);
    let mut a = a;
    term_done(&mut a, -1).unwrap();
    assert_errno(mrecv(&mut b, &mut [0u8; 64], -1), EPIPE, "32-byte terminal");
}

#[test]
fn small_buffers_still_see_the_terminal_message() {
    let (mut a, mut b) = pair(b"TERMINATE");
    msend(&mut a, b"abc", -1).unwrap();
    msend(&mut a, b"TERMINAT", -1).unwrap(); // 8 bytes: fits the scratch, not the buffer
    msend(&mut a, b"de", -1).unwrap();
    term_done(&mut a, -1).unwrap();
    let mut small = [0u8; 4];
    assert_eq!(mrecv(&mut b, &mut small, -1).unwrap(), 3);
    assert_eq!(&small[..3], b"abc");
    assert_errno(mrecv(&mut b, &mut small, -1), EMSGSIZE, "8 bytes into 4");
    assert_eq!(mrecv(&mut b, &mut small, -1).unwrap(), 2);
    assert_eq!(&small[..2], b"de");
    assert_errno(
        mrecv(&mut b, &mut small, -1),
        EPIPE,
        "terminal into 4 bytes",
    );
    // A message bigger than the terminal message into a small buffer.
    let (mut c, mut d) = pair(b"END");
    msend(&mut c, b"much longer", -1).unwrap();
    msend(&mut c, b"ok", -1).unwrap();
    assert_errno(mrecv(&mut d, &mut [0u8; 2], -1), EMSGSIZE, "11 into 2");
    assert_eq!(recv_vec(&mut d, 2), b"ok");
}

#[test]
fn term_over_suffix() {
    let (a, b) = ipc_pair().unwrap();
    let mut a = term_attach(suffix_attach(a, b"\r\n").unwrap(), b"STOP").unwrap();
    let mut b = term_attach(suffix_attach(b, b"\r\n").unwrap(), b"STOP").unwrap();
    // Longer than the terminal message: libdill keeps only 4 bytes here.
    msend(&mut a, b"a much longer line", -1).unwrap();
    assert_eq!(recv_vec(&mut b, 100), b"a much longer line");
    term_done(&mut b, -1).unwrap();
    assert_errno(mrecv(&mut a, &mut [0u8; 100], -1), EPIPE, "peer done");
    let sa = a.detach(now() + 1000).unwrap();
    let sb = b.detach(now() + 1000).unwrap();
    let (mut ra, mut rb) = (sa.detach(-1).unwrap(), sb.detach(-1).unwrap());
    bsend(&mut ra, b"raw", -1).unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut rb, &mut buf, now() + 1000).unwrap();
    assert_eq!(&buf, b"raw");
}

#[test]
fn end_of_stream_without_a_terminal_message_is_a_broken_connection() {
    let (a, mut b) = pair(b"STOP");
    drop(a);
    assert_errno(
        mrecv(&mut b, &mut [0u8; 8], -1),
        ECONNRESET,
        "no terminal message",
    );
    assert_errno(mrecv(&mut b, &mut [0u8; 8], -1), ECONNRESET, "again");
    // detach fails the same way (and closes the stream).
    let (a, b) = pair(b"STOP");
    drop(a);
    assert_errno(b.detach(now() + 1000), ECONNRESET, "detach");
}

#[test]
fn detach_times_out_when_the_peer_never_answers() {
    let (a, _b) = pair(b"STOP");
    let start = now();
    assert_errno(a.detach(now() + 50), ETIMEDOUT, "silent peer");
    assert!(now() >= start + 50, "woke early");
    let (a, _b) = pair(b"STOP");
    assert_errno(a.detach(-7), EINVAL, "bad deadline");
}

#[test]
fn cancelled_detach_and_receive_are_ecanceled() {
    let got = Rc::new(Cell::new(0));
    let (a, _b) = pair(b"STOP");
    let g = got.clone();
    let h = go(move || g.set(errno(a.detach(-1)))).unwrap();
    drop(h);
    assert_eq!(got.get(), ECANCELED);
    let (mut a, _b) = pair(b"STOP");
    let g = got.clone();
    got.set(0);
    let h = go(move || g.set(errno(mrecv(&mut a, &mut [0u8; 8], -1)))).unwrap();
    drop(h);
    assert_eq!(got.get(), ECANCELED);
}

#[test]
fn errors_of_the_layer_below_come_through() {
    let (mut a, mut b) = pair(b"STOP");
    assert_errno(msend(&mut a, &[0u8; 4], -2), EINVAL, "bad deadline");
    assert_errno(
        mrecv(&mut b, &mut [0u8; 4], now() + 20),
        ETIMEDOUT,
        "timeout",
    );
    assert_errno(
        mrecv(&mut b, &mut [0u8; 4], -1),
        ECONNRESET,
        "broken after timeout",
    );
    msend(&mut b, b"still sends", -1).unwrap();
    assert_eq!(recv_vec(&mut a, 20), b"still sends");
}

#[test]
fn debug_shows_the_handshake_state() {
    let (mut a, _b) = pair(b"STOP");
    term_done(&mut a, -1).unwrap();
    let s = format!("{a:?}");
    assert!(
        s.contains("TermStream") && s.contains("\"STOP\"") && s.contains("outdone: true"),
        "{s}"
    );
    assert!(s.contains("PrefixStream"), "{s}");
}

#[test]
fn terminal_message_split_across_reads() {
    let (raw, b) = ipc_pair().unwrap();
    let mut b = term_attach(suffix_attach(b, b"\r\n").unwrap(), b"STOP").unwrap();
    let writer = dribble(raw, b"STO\r\nSTOPS\r\nSTOP\r\nafter".to_vec());
    assert_eq!(recv_vec(&mut b, 10), b"STO");
    assert_eq!(recv_vec(&mut b, 10), b"STOPS");
    assert_errno(
        mrecv(&mut b, &mut [0u8; 10], now() + 10_000),
        EPIPE,
        "terminal",
    );
    let mut raw = writer.join(-1).unwrap().unwrap();
    // Answer as a libdill peer would, then read what followed the terminal
    // message from the byte stream below.
    let s = {
        let mut pending = b;
        // Our terminal message goes out; the peer's has already arrived.
        term_done(&mut pending, -1).unwrap();
        pending.detach(0).unwrap()
    };
    let mut answer = [0u8; 6];
    brecv(&mut raw, &mut answer, now() + 10_000).unwrap();
    assert_eq!(&answer, b"STOP\r\n");
    let mut rb = s.detach(-1).unwrap();
    let mut tail = [0u8; 5];
    brecv(&mut rb, &mut tail, now() + 10_000).unwrap();
    assert_eq!(&tail, b"after");
}

#[test]
fn term_over_connected_udp() {
    // TERM works over any message socket: here two connected UDP sockets
    // on loopback (datagrams whose EMSGSIZE also discards the message).
    // A port for x, then y connected to it, then x reopened on that port
    // connected to y (UDP ports are free again as soon as closed).
    let probe = udp_open(Some("127.0.0.1:0".parse().unwrap()), None).unwrap();
    let ax = probe.local_addr().unwrap();
    let y = udp_open(Some("127.0.0.1:0".parse().unwrap()), Some(ax)).unwrap();
    let ay = y.local_addr().unwrap();
    drop(probe);
    let x = udp_open(Some(ax), Some(ay)).unwrap();
    let mut a = term_attach(x, b"STOP").unwrap();
    let mut b = term_attach(y, b"STOP").unwrap();
    msend(&mut a, b"datagram", -1).unwrap();
    assert_eq!(recv_vec(&mut b, 64), b"datagram");
    msend(&mut a, &[7u8; 500], -1).unwrap();
    msend(&mut a, b"after", -1).unwrap();
    assert_errno(
        mrecv(&mut b, &mut [0u8; 16], now() + 10_000),
        EMSGSIZE,
        "500 into 16",
    );
    assert_eq!(recv_vec(&mut b, 64), b"after");
    assert_errno(
        msend(&mut b, b"STOP", -1),
        EINVAL,
        "terminal message as data",
    );
    term_done(&mut a, -1).unwrap();
    assert_errno(
        mrecv(&mut b, &mut [0u8; 16], now() + 10_000),
        EPIPE,
        "terminal",
    );
    let b = b.detach(now() + 10_000).unwrap();
    let a = a.detach(now() + 10_000).unwrap();
    drop((a, b));
}

/// A message socket that reports EMSGSIZE for a message too big for the
/// buffer but leaves it in place (allowed by the trait, unlike PREFIX).
#[derive(Debug)]
struct Stuck;
impl MsgStream for Stuck {
    fn msendl(&mut self, _: &[std::io::IoSlice<'_>], _: i64) -> std::io::Result<()> {
        Ok(())
    }
    fn mrecvl(&mut self, _: &mut [std::io::IoSliceMut<'_>], _: i64) -> std::io::Result<usize> {
        Err(std::io::Error::from_raw_os_error(EMSGSIZE))
    }
}

#[test]
fn detach_over_a_layer_that_keeps_oversized_messages_still_ends() {
    let start = now();
    assert_errno(
        term_attach(Stuck, b"STOP").unwrap().detach(now() + 50),
        ETIMEDOUT,
        "deadline",
    );
    assert!(now() >= start + 50, "gave up early");
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let h = go(move || g.set(errno(term_attach(Stuck, b"STOP").unwrap().detach(-1)))).unwrap();
    drop(h);
    assert_eq!(got.get(), ECANCELED);
}
