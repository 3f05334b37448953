//! Exact bytes on the wire, checked against a python3 peer that sends and
//! expects raw bytes over a socketpair: every example of libdill's wire
//! formats (PREFIX, SUFFIX, TERM and its closing sequence), in both
//! directions, and the libdill defects we refuse to reproduce.

mod msg_util;

use dill::errno::*;
use dill::*;
use msg_util::*;

fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn prefix_two_byte_big_endian() {
    let (s, py) = py_peer(&[
        expect(&h("00 05 68 65 6c 6c 6f")),
        expect(&h("00 00")),
        send(&h("00 05 68 65 6c 6c 6f")),
        send(&h("00 00")),
        "eof".into(),
    ]);
    let mut p = prefix_attach(s, 2, PREFIX_BIG_ENDIAN).unwrap();
    msend(&mut p, b"hello", -1).unwrap();
    msend(&mut p, b"", -1).unwrap();
    assert_eq!(recv_vec(&mut p, 10), b"hello");
    assert_eq!(recv_vec(&mut p, 10), b"");
    drop(p);
    py.finish();
}

#[test]
fn prefix_four_byte_little_endian_300_bytes() {
    let msg: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut wire = h("2c 01 00 00");
    wire.extend_from_slice(&msg);
    let (s, py) = py_peer(&[expect(&wire), send(&wire), "eof".into()]);
    let mut p = prefix_attach(s, 4, PREFIX_LITTLE_ENDIAN).unwrap();
    msend(&mut p, &msg, -1).unwrap();
    assert_eq!(recv_vec(&mut p, 300), msg);
    drop(p);
    py.finish();
}

#[test]
fn prefix_every_header_size_both_orders() {
    for hdrlen in [1usize, 2, 4, 8] {
        for (flags, le) in [(PREFIX_BIG_ENDIAN, false), (PREFIX_LITTLE_ENDIAN, true)] {
            let len = 200u64;
            let mut hdr = if le {
                len.to_le_bytes()[..hdrlen].to_vec()
            } else {
                len.to_be_bytes()[8 - hdrlen..].to_vec()
            };
            hdr.extend_from_slice(&[b'm'; 200]);
            let (s, py) = py_peer(&[expect(&hdr), send(&hdr), "eof".into()]);
            let mut p = prefix_attach(s, hdrlen, flags).unwrap();
            msend(&mut p, &[b'm'; 200], -1).unwrap();
            assert_eq!(recv_vec(&mut p, 200), vec![b'm'; 200]);
            drop(p);
            py.finish();
        }
    }
}

#[test]
fn prefix_refuses_what_the_header_cannot_say() {
    // libdill sends `2c` + 300 bytes here and desynchronises the stream.
    let (s, py) = py_peer(&[expect(&h("03 61 62 63")), "eof".into()]);
    let mut p = prefix_attach(s, 1, PREFIX_BIG_ENDIAN).unwrap();
    assert_errno(
        msend(&mut p, &[0u8; 300], -1),
        EMSGSIZE,
        "300 bytes, 1-byte header",
    );
    msend(&mut p, b"abc", -1).unwrap();
    drop(p);
    py.finish();
}

#[test]
fn prefix_skips_an_oversized_inbound_message() {
    // libdill breaks the socket here; we skip the message.
    let mut big = h("00 00 03 e8");
    big.extend_from_slice(&[b'z'; 1000]);
    let (s, py) = py_peer(&[send(&big), send(&h("00 00 00 02 6f 6b")), "eof".into()]);
    let mut p = prefix_attach(s, 4, PREFIX_BIG_ENDIAN).unwrap();
    assert_errno(
        mrecv(&mut p, &mut [0u8; 100], -1),
        EMSGSIZE,
        "1000 into 100",
    );
    assert_eq!(recv_vec(&mut p, 100), b"ok");
    drop(p);
    py.finish();
}

#[test]
fn suffix_crlf() {
    let (s, py) = py_peer(&[
        expect(&h("68 65 6c 6c 6f 0d 0a")),
        expect(&h("0d 0a")),
        expect(&h("78 0d 0d 0a")),
        expect(&h("61 0d 62 0a 63 0d 0a")),
        send(&h("68 65 6c 6c 6f 0d 0a")),
        send(&h("0d 0a")),
        send(&h("61 0d 62 0a 63 0d 0a")),
        send(&h("78 0d 0d 0a")),
        "eof".into(),
    ]);
    let mut p = suffix_attach(s, b"\r\n").unwrap();
    msend(&mut p, b"hello", -1).unwrap();
    msend(&mut p, b"", -1).unwrap();
    msend(&mut p, b"x\r", -1).unwrap();
    msend(&mut p, b"a\rb\nc", -1).unwrap();
    assert_eq!(recv_vec(&mut p, 10), b"hello");
    assert_eq!(recv_vec(&mut p, 10), b"");
    assert_eq!(recv_vec(&mut p, 10), b"a\rb\nc");
    assert_eq!(recv_vec(&mut p, 10), b"x\r");
    drop(p);
    py.finish();
}

#[test]
fn suffix_long_delimiter() {
    let delim: Vec<u8> = (1..=32u8).collect();
    let mut wire = b"payload".to_vec();
    wire.extend_from_slice(&delim);
    let (s, py) = py_peer(&[expect(&wire), send(&wire), "eof".into()]);
    let mut p = suffix_attach(s, &delim).unwrap();
    msend(&mut p, b"payload", -1).unwrap();
    assert_eq!(recv_vec(&mut p, 10), b"payload");
    drop(p);
    py.finish();
}

#[test]
fn suffix_does_not_truncate_an_oversized_inbound_message() {
    // libdill cuts it to the buffer and reports the full size; we say
    // EMSGSIZE and go on with the next message.
    let (s, py) = py_peer(&[send(b"0123456789abcdef\r\nnext\r\n"), "eof".into()]);
    let mut p = suffix_attach(s, b"\r\n").unwrap();
    assert_errno(mrecv(&mut p, &mut [0u8; 8], -1), EMSGSIZE, "16 into 8");
    assert_eq!(recv_vec(&mut p, 8), b"next");
    drop(p);
    py.finish();
}

/// The closing sequence, dill finishing first: our terminal message, then
/// nothing; the peer answers with its own, half-closes, reads to the end
/// and closes; we then half-close (orderly `ipc_close`).
#[test]
fn term_over_prefix_we_finish_first() {
    let stop = h("00 00 00 04 53 54 4f 50");
    let (s, py) = py_peer(&[
        expect(&h("00 00 00 02 68 69")),
        expect(&stop),
        send(&h("00 00 00 03 62 79 65")), // still in flight: dropped by detach
        send(&stop),
        "shut".into(),
        "eof".into(),
        "close".into(),
    ]);
    let mut t = term_attach(prefix_attach(s, 4, PREFIX_BIG_ENDIAN).unwrap(), b"STOP").unwrap();
    msend(&mut t, b"hi", -1).unwrap();
    let p = t.detach(now() + 10_000).unwrap();
    ipc_close(p.detach().unwrap(), now() + 10_000).unwrap();
    py.finish();
}

/// The peer finishing first: its terminal message arrives as EPIPE, we
/// answer with ours, half-close, read to the end and close.
#[test]
fn term_over_prefix_peer_finishes_first() {
    let stop = h("00 00 00 04 53 54 4f 50");
    let (s, py) = py_peer(&[
        send(&h("00 00 00 01 41")),
        send(&stop),
        expect(&stop),
        "eof".into(),
        "shut".into(),
        "close".into(),
    ]);
    let mut t = term_attach(prefix_attach(s, 4, PREFIX_BIG_ENDIAN).unwrap(), b"STOP").unwrap();
    assert_eq!(recv_vec(&mut t, 10), b"A");
    assert_errno(
        mrecv(&mut t, &mut [0u8; 10], -1),
        EPIPE,
        "peer's terminal message",
    );
    let p = t.detach(now() + 10_000).unwrap();
    ipc_close(p.detach().unwrap(), now() + 10_000).unwrap();
    py.finish();
}

#[test]
fn term_over_suffix() {
    let stop = h("53 54 4f 50 0d 0a");
    let (s, py) = py_peer(&[
        expect(&h("6c 6f 6e 67 65 72 20 6c 69 6e 65 0d 0a")),
        send(&h("6f 6e 65 0d 0a")),
        expect(&stop),
        send(&stop),
        "shut".into(),
        "eof".into(),
    ]);
    let mut t = term_attach(suffix_attach(s, b"\r\n").unwrap(), b"STOP").unwrap();
    msend(&mut t, b"longer line", -1).unwrap();
    assert_eq!(recv_vec(&mut t, 10), b"one");
    let p = t.detach(now() + 10_000).unwrap();
    ipc_close(p.detach(-1).unwrap(), now() + 10_000).unwrap();
    py.finish();
}

/// The closing sequence over TCP with dill finishing first: no reset on
/// either side (the peer fails on `ConnectionResetError`).
#[test]
fn term_over_prefix_on_tcp_we_finish_first() {
    let stop = h("00 00 00 04 53 54 4f 50");
    let (s, py) = py_tcp_peer(&[
        expect(&h("00 00 00 02 68 69")),
        expect(&stop),
        send(&stop),
        "shut".into(),
        "eof".into(),
        "close".into(),
    ]);
    let mut t = term_attach(prefix_attach(s, 4, PREFIX_BIG_ENDIAN).unwrap(), b"STOP").unwrap();
    msend(&mut t, b"hi", -1).unwrap();
    let p = t.detach(now() + 10_000).unwrap();
    tcp_close(p.detach().unwrap(), now() + 10_000).unwrap();
    py.finish();
}

/// The peer finishing first over TCP: we answer, half-close, read to the
/// end and close, without a reset.
#[test]
fn term_over_suffix_on_tcp_peer_finishes_first() {
    let stop = h("53 54 4f 50 0d 0a");
    let (s, py) = py_tcp_peer(&[
        send(b"line\r\n"),
        send(&stop),
        expect(&stop),
        "eof".into(),
        "shut".into(),
        "close".into(),
    ]);
    let mut t = term_attach(suffix_attach(s, b"\r\n").unwrap(), b"STOP").unwrap();
    assert_eq!(recv_vec(&mut t, 10), b"line");
    assert_errno(
        mrecv(&mut t, &mut [0u8; 10], -1),
        EPIPE,
        "peer's terminal message",
    );
    let p = t.detach(now() + 10_000).unwrap();
    tcp_close(p.detach(-1).unwrap(), now() + 10_000).unwrap();
    py.finish();
}
