//! PREFIX, SUFFIX and TERM over TCP loopback: round trips, messages split
//! across reads (a writer dribbling one byte at a time), EMSGSIZE with the
//! stream usable afterwards, detach leaving the stream in step, and TERM's
//! closing sequence down to an orderly `tcp_close` on both sides.

mod msg_util;

use std::net::SocketAddr;

use dill::errno::*;
use dill::*;
use msg_util::*;

/// A connected TCP pair on loopback.
fn tcp_pair() -> (TcpStream<'static>, TcpStream<'static>) {
    let l = tcp_listen("127.0.0.1:0".parse::<SocketAddr>().unwrap(), 8).unwrap();
    let addr = l.local_addr().unwrap();
    let c = tcp_connect(addr, now() + 10_000).unwrap();
    let (s, _) = tcp_accept(&l, now() + 10_000).unwrap();
    (c, s)
}

#[test]
fn prefix_round_trips_and_large_messages() {
    let (a, b) = tcp_pair();
    let mut a = prefix_attach(a, 4, PREFIX_BIG_ENDIAN).unwrap();
    let mut b = prefix_attach(b, 4, PREFIX_BIG_ENDIAN).unwrap();
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let expected = big.clone();
    let writer = go(move || {
        for m in [&b"hello"[..], b"", &[1u8; 1000]] {
            msend(&mut a, m, -1)?;
        }
        msend(&mut a, &big, -1)?;
        Ok::<_, std::io::Error>(a)
    })
    .unwrap();
    assert_eq!(recv_vec(&mut b, 10), b"hello");
    assert_eq!(recv_vec(&mut b, 10), b"");
    assert_eq!(recv_vec(&mut b, 1000), vec![1u8; 1000]);
    assert_eq!(recv_vec(&mut b, 2_000_000), expected);
    writer.join(-1).unwrap().unwrap();
}

#[test]
fn messages_split_across_reads() {
    let (mut raw, b) = tcp_pair();
    let mut b = prefix_attach(b, 2, PREFIX_LITTLE_ENDIAN).unwrap();
    let (mut raw2, c) = tcp_pair();
    let mut c = suffix_attach(c, b"\r\n").unwrap();
    let writer = go(move || {
        for &x in b"\x05\x00hello\x00\x00\x03\x00abc" {
            bsend(&mut raw, &[x], -1)?;
            yield_now()?;
        }
        for &x in b"x\r\r\na\rb\nc\r\nTAIL" {
            bsend(&mut raw2, &[x], -1)?;
            yield_now()?;
        }
        Ok::<_, std::io::Error>((raw, raw2))
    })
    .unwrap();
    assert_eq!(recv_vec(&mut b, 10), b"hello");
    assert_eq!(recv_vec(&mut b, 10), b"");
    assert_eq!(recv_vec(&mut b, 10), b"abc");
    assert_eq!(recv_vec(&mut c, 10), b"x\r");
    assert_eq!(recv_vec(&mut c, 10), b"a\rb\nc");
    let mut rc = c.detach(-1).unwrap();
    let mut tail = [0u8; 4];
    brecv(&mut rc, &mut tail, now() + 10_000).unwrap();
    assert_eq!(&tail, b"TAIL");
    writer.join(-1).unwrap().unwrap();
}

#[test]
fn oversized_messages_are_skipped() {
    let (a, b) = tcp_pair();
    let mut a = suffix_attach(a, b"\n").unwrap();
    let mut b = suffix_attach(b, b"\n").unwrap();
    msend(&mut a, &[b'x'; 5000], -1).unwrap();
    msend(&mut a, b"next", -1).unwrap();
    assert_errno(
        mrecv(&mut b, &mut [0u8; 100], -1),
        EMSGSIZE,
        "5000 into 100",
    );
    assert_eq!(recv_vec(&mut b, 100), b"next");
    let (a, b) = tcp_pair();
    let mut a = prefix_attach(a, 2, PREFIX_BIG_ENDIAN).unwrap();
    let mut b = prefix_attach(b, 2, PREFIX_BIG_ENDIAN).unwrap();
    msend(&mut a, &[b'x'; 5000], -1).unwrap();
    msend(&mut a, b"next", -1).unwrap();
    assert_errno(
        mrecv(&mut b, &mut [0u8; 100], -1),
        EMSGSIZE,
        "5000 into 100",
    );
    assert_eq!(recv_vec(&mut b, 100), b"next");
    // In step: the raw streams carry on after detach.
    let (mut ra, mut rb) = (a.detach().unwrap(), b.detach().unwrap());
    bsend(&mut ra, b"raw", -1).unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut rb, &mut buf, now() + 10_000).unwrap();
    assert_eq!(&buf, b"raw");
}

#[test]
fn term_closing_sequence_ends_in_orderly_closes() {
    for prefix in [true, false] {
        let (a, b) = tcp_pair();
        let peer = go(move || {
            // The side that finishes second: sees EPIPE, answers, closes.
            if prefix {
                let mut b = term_attach(prefix_attach(b, 4, PREFIX_BIG_ENDIAN)?, b"STOP")?;
                let mut buf = [0u8; 64];
                let n = mrecv(&mut b, &mut buf, now() + 10_000)?;
                msend(&mut b, &buf[..n], now() + 10_000)?;
                assert_errno(mrecv(&mut b, &mut buf, now() + 10_000), EPIPE, "peer done");
                tcp_close(b.detach(now() + 10_000)?.detach()?, now() + 10_000)
            } else {
                let mut b = term_attach(suffix_attach(b, b"\r\n")?, b"STOP")?;
                let mut buf = [0u8; 64];
                let n = mrecv(&mut b, &mut buf, now() + 10_000)?;
                msend(&mut b, &buf[..n], now() + 10_000)?;
                assert_errno(mrecv(&mut b, &mut buf, now() + 10_000), EPIPE, "peer done");
                tcp_close(b.detach(now() + 10_000)?.detach(-1)?, now() + 10_000)
            }
        })
        .unwrap();
        let ra = if prefix {
            let mut a =
                term_attach(prefix_attach(a, 4, PREFIX_BIG_ENDIAN).unwrap(), b"STOP").unwrap();
            msend(&mut a, b"echo me", -1).unwrap();
            assert_eq!(recv_vec(&mut a, 64), b"echo me");
            a.detach(now() + 10_000).unwrap().detach().unwrap()
        } else {
            let mut a = term_attach(suffix_attach(a, b"\r\n").unwrap(), b"STOP").unwrap();
            msend(&mut a, b"echo me", -1).unwrap();
            assert_eq!(recv_vec(&mut a, 64), b"echo me");
            a.detach(now() + 10_000).unwrap().detach(-1).unwrap()
        };
        tcp_close(ra, now() + 10_000).unwrap();
        peer.join(-1).unwrap().unwrap();
    }
}

#[test]
fn end_of_stream_without_terminal_message_is_econnreset() {
    let (a, b) = tcp_pair();
    let mut b = term_attach(prefix_attach(b, 4, PREFIX_BIG_ENDIAN).unwrap(), b"STOP").unwrap();
    drop(a);
    assert_errno(
        mrecv(&mut b, &mut [0u8; 8], now() + 10_000),
        ECONNRESET,
        "no terminal message",
    );
}
