//! SUFFIX over IPC: round trips with short, long and self-overlapping
//! delimiters, vectored messages, messages split across reads, EINVAL for
//! a message that would not arrive as one, EMSGSIZE with the stream usable
//! afterwards, detach exactly after the last message, and every errno.

mod msg_util;

use std::cell::Cell;
use std::io::{IoSlice, IoSliceMut};
use std::rc::Rc;

use dill::errno::*;
use dill::*;
use msg_util::*;

fn pair(
    delim: &[u8],
) -> (
    SuffixStream<IpcStream<'static>>,
    SuffixStream<IpcStream<'static>>,
) {
    let (a, b) = ipc_pair().unwrap();
    (
        suffix_attach(a, delim).unwrap(),
        suffix_attach(b, delim).unwrap(),
    )
}

#[test]
fn round_trip_with_various_delimiters() {
    let long: Vec<u8> = (0..32u8).map(|i| 0xa0 + i).collect();
    for delim in [
        &b"\r\n"[..],
        b"\n",
        b"\0",
        b"\r\r\n",
        b"aba",
        b"--END--",
        &long,
    ] {
        let (mut a, mut b) = pair(delim);
        let msgs: [&[u8]; 6] = [b"hello", b"", b"x\r", b"a\rb\nc", b"ab", &[7u8; 5000]];
        for m in msgs {
            // Some of these would not arrive whole with some delimiters:
            // those are refused (tested below), the rest must round-trip.
            match msend(&mut a, m, -1) {
                Ok(()) => assert_eq!(recv_vec(&mut b, 6000), m, "delim {delim:?}"),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(EINVAL));
                    let mut wire = m.to_vec();
                    wire.extend_from_slice(delim);
                    let first = wire.windows(delim.len()).position(|w| w == delim).unwrap();
                    assert!(
                        first < m.len(),
                        "{m:?} refused with {delim:?} but framed fine"
                    );
                }
            }
        }
    }
}

#[test]
fn vectored_send_and_receive() {
    let (mut a, mut b) = pair(b"\r\n");
    let parts: Vec<Vec<u8>> = (0..40)
        .map(|i| vec![b'a' + (i % 26) as u8; i % 4])
        .collect();
    let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let whole = parts.concat();
    msendl(&mut a, &slices, -1).unwrap();
    let mut store = [[0u8; 7]; 20];
    let mut bufs: Vec<IoSliceMut<'_>> = store.iter_mut().map(|s| IoSliceMut::new(s)).collect();
    let n = mrecvl(&mut b, &mut bufs, now() + 10_000).unwrap();
    drop(bufs);
    assert_eq!(n, whole.len());
    assert_eq!(&store.concat()[..n], &whole[..]);
    // A delimiter split across two buffers of a message is still refused.
    assert_errno(
        msendl(&mut a, &[IoSlice::new(b"a\r"), IoSlice::new(b"\nb")], -1),
        EINVAL,
        "delimiter across buffers",
    );
}

#[test]
fn messages_split_across_reads() {
    for delim in [&b"\r\n"[..], b"\n", b"aba", b"\r\r\n"] {
        let (raw, b) = ipc_pair().unwrap();
        let mut b = suffix_attach(b, delim).unwrap();
        // Messages chosen to hit partial matches that fall back.
        let msgs: [&[u8]; 5] = [b"hello", b"", b"ab ab", b"x\r\r", b"end"];
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for m in msgs {
            let mut w = m.to_vec();
            w.extend_from_slice(delim);
            if w.windows(delim.len()).position(|x| x == delim).unwrap() == m.len() {
                wire.extend_from_slice(&w);
                sent.push(m);
            }
        }
        wire.extend_from_slice(b"TAIL");
        let writer = dribble(raw, wire);
        for m in sent {
            assert_eq!(recv_vec(&mut b, 100), m, "delim {delim:?}");
        }
        // Nothing past the last delimiter was consumed.
        let mut rb = b.detach(-1).unwrap();
        let mut tail = [0u8; 4];
        brecv(&mut rb, &mut tail, now() + 10_000).unwrap();
        assert_eq!(&tail, b"TAIL");
        writer.join(-1).unwrap().unwrap();
    }
}

#[test]
fn overlapping_delimiter_bytes_belong_to_the_message() {
    let (raw, b) = ipc_pair().unwrap();
    let mut b = suffix_attach(b, b"\r\n").unwrap();
    let mut raw = raw;
    // "x\r" + CRLF, and "a\rb\nc" + CRLF, as one burst.
    bsend(&mut raw, b"x\r\r\na\rb\nc\r\n\r\n", -1).unwrap();
    assert_eq!(recv_vec(&mut b, 10), b"x\r");
    assert_eq!(recv_vec(&mut b, 10), b"a\rb\nc");
    assert_eq!(recv_vec(&mut b, 10), b"");
    let (raw2, c) = ipc_pair().unwrap();
    let mut c = suffix_attach(c, b"aba").unwrap();
    let mut raw2 = raw2;
    bsend(&mut raw2, b"xabababa", -1).unwrap(); // "x" + "aba", then "b" + "aba"
    assert_eq!(recv_vec(&mut c, 10), b"x");
    assert_eq!(recv_vec(&mut c, 10), b"b");
    drop(raw);
    drop(raw2);
}

#[test]
fn messages_containing_the_delimiter_are_refused() {
    let (mut a, mut b) = pair(b"\r\n");
    assert_errno(msend(&mut a, b"two\r\nlines", -1), EINVAL, "CRLF inside");
    assert_errno(msend(&mut a, b"\r\n", -1), EINVAL, "only CRLF");
    let (mut c, _d) = pair(b"aba");
    // "xab" + "aba" = "xababa": the peer would cut at "x".
    assert_errno(msend(&mut c, b"xab", -1), EINVAL, "tail overlap");
    // Nothing went out: the next message is the first on the wire.
    msend(&mut a, b"fine", -1).unwrap();
    assert_eq!(recv_vec(&mut b, 10), b"fine");
}

#[test]
fn attach_rejects_bad_delimiters() {
    let (a, _b) = ipc_pair().unwrap();
    assert_errno(suffix_attach(a, b""), EINVAL, "empty");
    let (a, _b) = ipc_pair().unwrap();
    assert_errno(suffix_attach(a, &[b'x'; 33]), EINVAL, "33 bytes");
    let (a, _b) = ipc_pair().unwrap();
    assert!(suffix_attach(a, &[b'x'; 32]).is_ok());
}

#[test]
fn an_oversized_inbound_message_is_skipped_not_truncated() {
    let (mut a, mut b) = pair(b"\r\n");
    msend(&mut a, b"0123456789A", -1).unwrap();
    msend(&mut a, b"next", -1).unwrap();
    msend(&mut a, &[b'z'; 10_000], -1).unwrap();
    msend(&mut a, b"after", -1).unwrap();
    let mut small = [0u8; 10];
    assert_errno(mrecv(&mut b, &mut small, -1), EMSGSIZE, "11 into 10");
    assert_eq!(recv_vec(&mut b, 10), b"next");
    assert_errno(mrecv(&mut b, &mut small, -1), EMSGSIZE, "10000 into 10");
    assert_eq!(recv_vec(&mut b, 10), b"after");
    // A message that fits exactly is not EMSGSIZE.
    msend(&mut a, b"0123456789", -1).unwrap();
    assert_eq!(mrecv(&mut b, &mut small, -1).unwrap(), 10);
    assert_eq!(&small, b"0123456789");
    let mut ra = a.detach(-1).unwrap();
    let mut rb = b.detach(-1).unwrap();
    bsend(&mut ra, b"raw", -1).unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut rb, &mut buf, now() + 10_000).unwrap();
    assert_eq!(&buf, b"raw");
}

#[test]
fn detach_leaves_the_stream_exactly_after_the_last_message() {
    let (mut a, mut b) = pair(b"\r\n");
    msend(&mut a, b"line", -1).unwrap();
    let mut ra = a.detach(-1).unwrap();
    bsend(&mut ra, b"\nRAW", -1).unwrap(); // starts like the end of a delimiter
    assert_eq!(recv_vec(&mut b, 10), b"line");
    let mut rb = b.detach(now() + 1000).unwrap();
    let mut buf = [0u8; 4];
    brecv(&mut rb, &mut buf, now() + 10_000).unwrap();
    assert_eq!(&buf, b"\nRAW");
    let (c, _d) = pair(b"\n");
    assert_errno(c.detach(-2), EINVAL, "bad deadline");
}

#[test]
fn timeout_breaks_the_inbound_direction_only() {
    let (mut a, mut b) = pair(b"\r\n");
    let start = now();
    assert_errno(mrecv(&mut b, &mut [0u8; 4], now() + 50), ETIMEDOUT, "mrecv");
    assert!(now() >= start + 50, "woke early");
    assert_errno(
        mrecv(&mut b, &mut [0u8; 4], -1),
        ECONNRESET,
        "after timeout",
    );
    msend(&mut b, b"out", -1).unwrap();
    assert_eq!(recv_vec(&mut a, 4), b"out");
    assert_errno(b.detach(-1), ECONNRESET, "detach of a broken stream");
}

#[test]
fn timeout_in_the_middle_of_a_message() {
    let (mut raw, b) = ipc_pair().unwrap();
    let mut b = suffix_attach(b, b"\r\n").unwrap();
    bsend(&mut raw, b"partial\r", -1).unwrap();
    assert_errno(
        mrecv(&mut b, &mut [0u8; 20], now() + 30),
        ETIMEDOUT,
        "partial",
    );
    bsend(&mut raw, b"\n", -1).unwrap();
    assert_errno(mrecv(&mut b, &mut [0u8; 20], -1), ECONNRESET, "after");
}

#[test]
fn send_timeout_breaks_the_outbound_direction() {
    let (mut a, mut b) = pair(b"\n");
    let big = vec![b'x'; 8 << 20];
    assert_errno(msend(&mut a, &big, now() + 50), ETIMEDOUT, "nobody reads");
    assert_errno(msend(&mut a, b"x", -1), ECONNRESET, "after timeout");
    msend(&mut b, b"in", -1).unwrap();
    assert_eq!(recv_vec(&mut a, 4), b"in");
    assert_errno(a.detach(-1), ECONNRESET, "detach");
}

#[test]
fn closed_peer_is_epipe_and_stays_epipe() {
    let (mut a, mut b) = pair(b"\r\n");
    msend(&mut a, b"last", -1).unwrap();
    drop(a);
    assert_eq!(recv_vec(&mut b, 10), b"last");
    assert_errno(mrecv(&mut b, &mut [0u8; 4], -1), EPIPE, "end of stream");
    assert_errno(mrecv(&mut b, &mut [0u8; 4], -1), EPIPE, "again");
    assert_errno(msend(&mut b, b"x", -1), ECONNRESET, "send to closed");
}

#[test]
fn cancelled_receive_is_ecanceled() {
    let (a, _b) = pair(b"\r\n");
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let h = go(move || {
        let mut a = a;
        g.set(errno(mrecv(&mut a, &mut [0u8; 8], -1)));
    })
    .unwrap();
    drop(h);
    assert_eq!(got.get(), ECANCELED);
}

#[test]
fn debug_shows_the_delimiter() {
    let (a, _b) = pair(b"\r\n");
    let s = format!("{a:?}");
    assert!(s.contains("SuffixStream") && s.contains("\\r\\n"), "{s}");
}

/// A deterministic pseudo-random generator (no dependency needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

#[test]
fn random_messages_in_random_chunks() {
    // Messages over a small alphabet rich in delimiter bytes; the sender
    // refuses exactly those that would not arrive whole, the rest arrive
    // intact whatever the chunking of the stream.
    let mut rng = Lcg(0x5eed);
    for delim in [&b"\r\n"[..], b"\n", b"aba", b"\r\r\n", b"abab"] {
        let alphabet = [b'a', b'b', b'\r', b'\n', b'x'];
        let (mut ta, b) = pair(delim);
        let mut b = b;
        let (mut raw_a, raw_b) = ipc_pair().unwrap();
        let mut framed_b = suffix_attach(raw_b, delim).unwrap();
        let mut accepted = Vec::new();
        let mut wire = Vec::new();
        for _ in 0..300 {
            let len = (rng.next() % 12) as usize;
            let m: Vec<u8> = (0..len)
                .map(|_| alphabet[(rng.next() % 5) as usize])
                .collect();
            let mut w = m.clone();
            w.extend_from_slice(delim);
            let whole = w.windows(delim.len()).position(|x| x == delim) == Some(m.len());
            match msend(&mut ta, &m, -1) {
                Ok(()) => {
                    assert!(whole, "{m:?} sent but would split with {delim:?}");
                    assert_eq!(recv_vec(&mut b, 64), m);
                    accepted.push(m);
                    wire.extend_from_slice(&w);
                }
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(EINVAL));
                    assert!(!whole, "{m:?} refused but frames fine with {delim:?}");
                }
            }
        }
        // Both outcomes were exercised.
        assert!(
            accepted.len() > 30 && accepted.len() < 300,
            "{} of 300 accepted with {delim:?}",
            accepted.len()
        );
        // The same wire bytes in random chunks, with yields between.
        let chunks: Vec<usize> = (0..wire.len())
            .map(|_| 1 + (rng.next() % 7) as usize)
            .collect();
        let writer = go(move || {
            let mut rest = &wire[..];
            for c in chunks {
                if rest.is_empty() {
                    break;
                }
                let k = c.min(rest.len());
                bsend(&mut raw_a, &rest[..k], -1)?;
                rest = &rest[k..];
                yield_now()?;
            }
            Ok::<_, std::io::Error>(raw_a)
        })
        .unwrap();
        for m in &accepted {
            assert_eq!(&recv_vec(&mut framed_b, 64), m, "delim {delim:?}");
        }
        writer.join(-1).unwrap().unwrap();
    }
}
