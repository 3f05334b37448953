//! PREFIX over IPC: round trips for every header size and byte order,
//! vectored messages, messages split across reads, EMSGSIZE both ways with
//! the stream usable afterwards, detach, and every errno.

mod msg_util;

use std::cell::Cell;
use std::io::{IoSlice, IoSliceMut};
use std::rc::Rc;

use dill::errno::*;
use dill::*;
use msg_util::*;

fn pair(
    hdrlen: usize,
    flags: u32,
) -> (
    PrefixStream<IpcStream<'static>>,
    PrefixStream<IpcStream<'static>>,
) {
    let (a, b) = ipc_pair().unwrap();
    (
        prefix_attach(a, hdrlen, flags).unwrap(),
        prefix_attach(b, hdrlen, flags).unwrap(),
    )
}

#[test]
fn round_trip_every_header_size_and_order() {
    for hdrlen in [1, 2, 4, 8] {
        for flags in [PREFIX_BIG_ENDIAN, PREFIX_LITTLE_ENDIAN] {
            let (mut a, mut b) = pair(hdrlen, flags);
            let sizes: &[usize] = if hdrlen == 1 {
                &[0, 1, 100, 255]
            } else {
                &[0, 1, 255, 256, 1000, 65535]
            };
            for &n in sizes {
                let msg: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
                msend(&mut a, &msg, now() + 10_000).unwrap();
                assert_eq!(
                    recv_vec(&mut b, 70_000),
                    msg,
                    "hdrlen {hdrlen} flags {flags} size {n}"
                );
                // And back the other way.
                msend(&mut b, &msg, now() + 10_000).unwrap();
                assert_eq!(recv_vec(&mut a, n), msg, "exact-size buffer");
            }
        }
    }
}

#[test]
fn large_messages_need_a_concurrent_reader() {
    let (mut a, mut b) = pair(4, PREFIX_BIG_ENDIAN);
    let msg: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = msg.clone();
    let writer = go(move || {
        msend(&mut a, &msg, now() + 20_000)?;
        msend(&mut a, b"after", now() + 20_000)?;
        Ok::<_, std::io::Error>(a)
    })
    .unwrap();
    assert_eq!(recv_vec(&mut b, 3_000_000), expected);
    assert_eq!(recv_vec(&mut b, 10), b"after");
    writer.join(-1).unwrap().unwrap();
}

#[test]
fn vectored_send_and_receive_across_many_buffers() {
    let (mut a, mut b) = pair(2, PREFIX_BIG_ENDIAN);
    // 40 buffers (more than one window of the layer), some empty.
    let parts: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; i % 5]).collect();
    let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let whole: Vec<u8> = parts.concat();
    msendl(&mut a, &slices, -1).unwrap();
    msendl(&mut a, &slices, -1).unwrap();
    // Received into 30 buffers of 3 bytes: 90 bytes of room for 80.
    let mut store = [[0u8; 3]; 30];
    let mut bufs: Vec<IoSliceMut<'_>> = store.iter_mut().map(|s| IoSliceMut::new(s)).collect();
    let n = mrecvl(&mut b, &mut bufs, now() + 10_000).unwrap();
    drop(bufs);
    assert_eq!(n, whole.len());
    assert_eq!(&store.concat()[..n], &whole[..]);
    // The same message into a list one byte too short: EMSGSIZE.
    let mut store = vec![[0u8; 1]; whole.len() - 1];
    let mut bufs: Vec<IoSliceMut<'_>> = store.iter_mut().map(|s| IoSliceMut::new(s)).collect();
    assert_errno(
        mrecvl(&mut b, &mut bufs, now() + 10_000),
        EMSGSIZE,
        "short list",
    );
    // An empty message into no buffers at all.
    msendl(&mut a, &[], -1).unwrap();
    assert_eq!(mrecvl(&mut b, &mut [], now() + 10_000).unwrap(), 0);
}

#[test]
fn messages_split_across_reads() {
    for flags in [PREFIX_BIG_ENDIAN, PREFIX_LITTLE_ENDIAN] {
        let (raw, b) = ipc_pair().unwrap();
        let mut b = prefix_attach(b, 4, flags).unwrap();
        let msgs: [&[u8]; 4] = [b"hello", b"", b"a somewhat longer message", &[0u8; 300]];
        let mut wire = Vec::new();
        for m in msgs {
            let len = m.len() as u32;
            wire.extend_from_slice(&if flags == PREFIX_BIG_ENDIAN {
                len.to_be_bytes()
            } else {
                len.to_le_bytes()
            });
            wire.extend_from_slice(m);
        }
        let writer = dribble(raw, wire);
        for m in msgs {
            assert_eq!(recv_vec(&mut b, 1000), m);
        }
        writer.join(-1).unwrap().unwrap();
    }
}

#[test]
fn a_message_too_long_for_the_header_is_refused_and_nothing_is_sent() {
    let (mut a, mut b) = pair(1, PREFIX_BIG_ENDIAN);
    assert_errno(
        msend(&mut a, &[1u8; 256], -1),
        EMSGSIZE,
        "256 bytes, 1-byte header",
    );
    let (x, y) = ([1u8; 200], [2u8; 56]);
    assert_errno(
        msendl(&mut a, &[IoSlice::new(&x), IoSlice::new(&y)], -1),
        EMSGSIZE,
        "256 bytes in two buffers",
    );
    // The stream is untouched: the next message is the first on the wire.
    msend(&mut a, &[3u8; 255], -1).unwrap();
    assert_eq!(recv_vec(&mut b, 1000), vec![3u8; 255]);
    let (mut a, mut b) = pair(2, PREFIX_LITTLE_ENDIAN);
    assert_errno(
        msend(&mut a, &vec![0u8; 65536], -1),
        EMSGSIZE,
        "64 KiB, 2-byte header",
    );
    msend(&mut a, b"ok", -1).unwrap();
    assert_eq!(recv_vec(&mut b, 10), b"ok");
}

#[test]
fn an_oversized_inbound_message_is_skipped_and_the_stream_stays_usable() {
    let (mut a, mut b) = pair(4, PREFIX_BIG_ENDIAN);
    let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let writer = go(move || {
        msend(&mut a, b"0123456789A", -1)?; // 11 bytes into 10
        msend(&mut a, b"first", -1)?;
        msend(&mut a, &big, -1)?; // skipped through the caller's big buffer
        msend(&mut a, b"second", -1)?;
        msend(&mut a, &big, -1)?; // skipped through the stack buffer
        msend(&mut a, b"third", -1)?;
        Ok::<_, std::io::Error>(a)
    })
    .unwrap();
    let mut small = [0u8; 10];
    assert_errno(mrecv(&mut b, &mut small, -1), EMSGSIZE, "11 into 10");
    assert_eq!(recv_vec(&mut b, 10), b"first");
    assert_errno(
        mrecv(&mut b, &mut [0u8; 4096], -1),
        EMSGSIZE,
        "100 KB into 4 KB",
    );
    assert_eq!(recv_vec(&mut b, 10), b"second");
    assert_errno(mrecv(&mut b, &mut small, -1), EMSGSIZE, "100 KB into 10");
    assert_eq!(recv_vec(&mut b, 10), b"third");
    let a = writer.join(-1).unwrap().unwrap();
    // Both layers are in step: detach works and the raw stream carries on.
    let mut ra = a.detach().unwrap();
    let mut rb = b.detach().unwrap();
    bsend(&mut ra, b"raw", -1).unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut rb, &mut buf, now() + 10_000).unwrap();
    assert_eq!(&buf, b"raw");
}

#[test]
fn detach_leaves_the_stream_exactly_after_the_last_message() {
    let (ra, rb) = ipc_pair().unwrap();
    let mut a = prefix_attach(ra, 2, PREFIX_BIG_ENDIAN).unwrap();
    let mut b = prefix_attach(rb, 2, PREFIX_BIG_ENDIAN).unwrap();
    msend(&mut a, b"framed", -1).unwrap();
    let mut ra = a.detach().unwrap();
    // Raw bytes right behind the message, already queued before b detaches.
    bsend(&mut ra, b"RAW", -1).unwrap();
    assert_eq!(recv_vec(&mut b, 10), b"framed");
    let mut rb = b.detach().unwrap();
    let mut buf = [0u8; 3];
    brecv(&mut rb, &mut buf, now() + 10_000).unwrap();
    assert_eq!(&buf, b"RAW");
    // Re-attaching with another framing works too.
    let mut a = prefix_attach(ra, 8, PREFIX_LITTLE_ENDIAN).unwrap();
    let mut b = prefix_attach(rb, 8, PREFIX_LITTLE_ENDIAN).unwrap();
    msend(&mut a, b"again", -1).unwrap();
    assert_eq!(recv_vec(&mut b, 10), b"again");
    ipc_close(a.detach().unwrap(), now() + 1000).ok();
}

#[test]
fn attach_rejects_bad_header_sizes_and_flags() {
    for hdrlen in [0, 3, 5, 9, 16] {
        let (a, _b) = ipc_pair().unwrap();
        assert_errno(prefix_attach(a, hdrlen, 0), EINVAL, "header size");
    }
    for flags in [2, 3, 0x8000_0000] {
        let (a, _b) = ipc_pair().unwrap();
        assert_errno(prefix_attach(a, 2, flags), EINVAL, "flags");
    }
}

#[test]
fn bad_deadlines_are_einval() {
    let (mut a, mut b) = pair(2, PREFIX_BIG_ENDIAN);
    assert_errno(msend(&mut a, b"x", -2), EINVAL, "msend");
    assert_errno(mrecv(&mut b, &mut [0u8; 4], -5), EINVAL, "mrecv");
    // Neither broke anything.
    msend(&mut a, b"x", -1).unwrap();
    assert_eq!(recv_vec(&mut b, 4), b"x");
}

#[test]
fn timeout_breaks_the_inbound_direction_only() {
    let (mut a, mut b) = pair(2, PREFIX_BIG_ENDIAN);
    let start = now();
    assert_errno(mrecv(&mut b, &mut [0u8; 4], now() + 50), ETIMEDOUT, "mrecv");
    assert!(now() >= start + 50, "woke early");
    assert_errno(
        mrecv(&mut b, &mut [0u8; 4], -1),
        ECONNRESET,
        "after timeout",
    );
    // The other direction still works.
    msend(&mut b, b"out", -1).unwrap();
    assert_eq!(recv_vec(&mut a, 4), b"out");
    assert_errno(b.detach(), ECONNRESET, "detach of a broken stream");
}

#[test]
fn timeout_in_the_middle_of_a_message() {
    let (raw, b) = ipc_pair().unwrap();
    let mut b = prefix_attach(b, 2, PREFIX_BIG_ENDIAN).unwrap();
    let mut raw = raw;
    bsend(&mut raw, &[0, 10, b'p', b'a', b'r'], -1).unwrap(); // 3 of 10 bytes
    assert_errno(
        mrecv(&mut b, &mut [0u8; 20], now() + 30),
        ETIMEDOUT,
        "partial message",
    );
    bsend(&mut raw, b"tial!!!", -1).unwrap();
    assert_errno(
        mrecv(&mut b, &mut [0u8; 20], now() + 30),
        ECONNRESET,
        "after",
    );
}

#[test]
fn send_timeout_breaks_the_outbound_direction() {
    let (mut a, mut b) = pair(4, PREFIX_BIG_ENDIAN);
    let big = vec![0u8; 8 << 20];
    assert_errno(msend(&mut a, &big, now() + 50), ETIMEDOUT, "nobody reads");
    assert_errno(msend(&mut a, b"x", -1), ECONNRESET, "after timeout");
    // Inbound still fine.
    msend(&mut b, b"in", -1).unwrap();
    assert_eq!(recv_vec(&mut a, 4), b"in");
    assert_errno(a.detach(), ECONNRESET, "detach");
}

#[test]
fn closed_peer_is_epipe_and_stays_epipe() {
    let (mut a, b) = pair(2, PREFIX_BIG_ENDIAN);
    msend(&mut a, b"last", -1).unwrap();
    drop(a);
    let mut b = b;
    assert_eq!(recv_vec(&mut b, 10), b"last");
    assert_errno(mrecv(&mut b, &mut [0u8; 4], -1), EPIPE, "end of stream");
    assert_errno(mrecv(&mut b, &mut [0u8; 4], -1), EPIPE, "again");
    // Sending to the closed peer is ECONNRESET (no SIGPIPE), and stays so.
    assert_errno(msend(&mut b, b"x", -1), ECONNRESET, "send to closed");
    assert_errno(msend(&mut b, b"x", -1), ECONNRESET, "again");
}

#[test]
fn cancelled_receive_and_send_are_ecanceled() {
    let (a, _b) = pair(2, PREFIX_BIG_ENDIAN);
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let h = go(move || {
        let mut a = a;
        g.set(errno(mrecv(&mut a, &mut [0u8; 8], -1)));
    })
    .unwrap();
    drop(h);
    assert_eq!(got.get(), ECANCELED);

    let (mut b, _a) = pair(4, PREFIX_BIG_ENDIAN);
    let g = got.clone();
    got.set(0);
    let h = go(move || {
        let big = vec![0u8; 8 << 20];
        g.set(errno(msend(&mut b, &big, -1)));
    })
    .unwrap();
    drop(h);
    assert_eq!(got.get(), ECANCELED);
}

#[test]
fn debug_shows_the_layer_and_the_stream() {
    let (a, _b) = pair(4, PREFIX_LITTLE_ENDIAN);
    let s = format!("{a:?}");
    assert!(
        s.contains("PrefixStream") && s.contains("hdrlen: 4") && s.contains("little"),
        "{s}"
    );
    assert!(s.contains("IpcStream") || s.contains("fd"), "{s}");
}

#[test]
fn failed_attach_and_detach_close_the_stream() {
    // As libdill: the stream handed over is closed on error (its peer
    // sees the end of the stream), and no descriptor is left behind.
    let (a, mut b) = ipc_pair().unwrap();
    assert_errno(prefix_attach(a, 3, 0), EINVAL, "attach");
    assert_errno(
        brecv(&mut b, &mut [0u8; 1], now() + 10_000),
        EPIPE,
        "peer of attach",
    );

    let (a, mut b) = ipc_pair().unwrap();
    let mut a = prefix_attach(a, 4, PREFIX_BIG_ENDIAN).unwrap();
    assert_errno(
        mrecv(&mut a, &mut [0u8; 1], now() + 10),
        ETIMEDOUT,
        "break it",
    );
    assert_errno(a.detach(), ECONNRESET, "detach");
    assert_errno(
        brecv(&mut b, &mut [0u8; 1], now() + 10_000),
        EPIPE,
        "peer of detach",
    );

    let (a, mut b) = ipc_pair().unwrap();
    assert_errno(suffix_attach(a, b""), EINVAL, "suffix attach");
    assert_errno(
        brecv(&mut b, &mut [0u8; 1], now() + 10_000),
        EPIPE,
        "peer of suffix attach",
    );

    let (a, mut b) = ipc_pair().unwrap();
    let p = prefix_attach(a, 4, PREFIX_BIG_ENDIAN).unwrap();
    assert_errno(term_attach(p, &[0u8; 40]), EINVAL, "term attach");
    assert_errno(
        brecv(&mut b, &mut [0u8; 1], now() + 10_000),
        EPIPE,
        "peer of term attach",
    );
}

#[test]
fn a_half_closed_stream_below_is_epipe_and_stays_so() {
    let (mut a, mut b) = ipc_pair().unwrap();
    ipc_done(&mut a, -1).unwrap();
    let mut a = prefix_attach(a, 2, PREFIX_BIG_ENDIAN).unwrap();
    assert_errno(msend(&mut a, b"x", -1), EPIPE, "after ipc_done");
    assert_errno(msend(&mut a, b"x", -1), EPIPE, "again");
    // Receiving still works, and detach is fine: nothing was lost.
    bsend(&mut b, &[0, 2, b'o', b'k'], -1).unwrap();
    assert_eq!(recv_vec(&mut a, 4), b"ok");
    let mut s = suffix_attach(a.detach().unwrap(), b"\n").unwrap();
    assert_errno(msend(&mut s, b"x", -1), EPIPE, "suffix after ipc_done");
    assert!(s.detach(-1).is_ok());
}
