//! SUFFIX: messages ended by a delimiter, as libdill's `suffix_attach`.
//!
//! On the wire a message is its payload followed by the delimiter (1 to 32
//! bytes), with no escaping.
//!
//! # Receiving without reading ahead
//!
//! [`ByteStream::brecv`] fills its whole buffer, so a layer over it cannot
//! ask for "whatever has arrived": every byte it requests is consumed from
//! the stream, and a byte read past the delimiter would belong to the next
//! message (or to whoever uses the stream after [`SuffixStream::detach`]).
//! The receiver therefore never asks for a byte past the end of the
//! message, and keeps no read-ahead buffer at all.
//!
//! It runs a Knuth–Morris–Pratt matcher over the delimiter. In state `j`
//! (the longest tail of what has arrived that is a beginning of the
//! delimiter has `j` bytes), the earliest the delimiter can end is `m - j`
//! bytes later, so one `brecv` of `m - j` bytes is always safe. With a
//! CRLF delimiter that halves the receives of a byte-at-a-time reader (as
//! libdill's); with long delimiters it divides them by up to 32. Bytes held
//! in a partial match are known (they equal the delimiter's first `j`
//! bytes), so when the match falls back they are emitted from the delimiter
//! itself: overlapping delimiters (`"\r\r\n"` against `"\r\n"`, `"abab"`
//! against `"aba"`) come out right.
//!
//! # Sending
//!
//! A message whose bytes, followed by the delimiter, would show the
//! delimiter anywhere but at the very end would reach the peer as more
//! than one message; it is refused with `EINVAL` before anything is sent.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};

use dill_runtime::{ByteStream, MsgStream};

use crate::util::{check_deadline, err, send_framed, Out};

/// The longest delimiter.
pub(crate) const MAX_SUFFIX: usize = 32;

const INERR: u8 = 1 << 0;
const OUTERR: u8 = 1 << 1;
const INDONE: u8 = 1 << 2;

/// A delimiter with its KMP failure table, inline.
#[derive(Clone, Copy)]
pub(crate) struct Delim {
    bytes: [u8; MAX_SUFFIX],
    /// `fail[i]`: length of the longest proper border of `bytes[..=i]`.
    fail: [u8; MAX_SUFFIX],
    len: u8,
}

impl Delim {
    /// `None` unless `d` has 1 to 32 bytes.
    pub(crate) fn new(d: &[u8]) -> Option<Delim> {
        if d.is_empty() || d.len() > MAX_SUFFIX {
            return None;
        }
        let mut bytes = [0u8; MAX_SUFFIX];
        bytes[..d.len()].copy_from_slice(d);
        let mut fail = [0u8; MAX_SUFFIX];
        let mut k = 0usize;
        for i in 1..d.len() {
            while k > 0 && d[i] != d[k] {
                k = fail[k - 1] as usize;
            }
            if d[i] == d[k] {
                k += 1;
            }
            fail[i] = k as u8;
        }
        Some(Delim {
            bytes,
            fail,
            len: d.len() as u8,
        })
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Feeds byte `c` in state `j < len`; returns the new state (`len`
    /// when the delimiter is complete). Calls `emit` with the bytes that
    /// this step proves to be payload, in order.
    #[inline]
    fn step(&self, mut j: usize, c: u8, mut emit: impl FnMut(&[u8])) -> usize {
        while j > 0 && self.bytes[j] != c {
            let nj = self.fail[j - 1] as usize;
            emit(&self.bytes[..j - nj]);
            j = nj;
        }
        if self.bytes[j] == c {
            j + 1
        } else {
            emit(std::slice::from_ref(&c));
            0
        }
    }

    /// Whether `bufs` followed by the delimiter shows the delimiter only at
    /// its very end, i.e. arrives at the peer as exactly one message.
    pub(crate) fn frames_cleanly(&self, bufs: &[IoSlice<'_>]) -> bool {
        let m = self.len as usize;
        let first = self.bytes[0];
        let mut j = 0usize;
        for b in bufs {
            let mut rest: &[u8] = b;
            while !rest.is_empty() {
                if j == 0 {
                    // Fast skip to the next byte that can start a match.
                    match rest.iter().position(|&c| c == first) {
                        Some(p) => rest = &rest[p..],
                        None => break,
                    }
                }
                j = self.step(j, rest[0], |_| {});
                if j == m {
                    return false;
                }
                rest = &rest[1..];
            }
        }
        for (i, &c) in self.as_slice().iter().enumerate() {
            j = self.step(j, c, |_| {});
            if j == m {
                return i == m - 1;
            }
        }
        unreachable!("the delimiter always completes a match of itself")
    }
}

/// A message socket of delimited messages over the byte stream `S`: made by
/// [`suffix_attach`], taken apart by [`detach`](SuffixStream::detach).
///
/// Use it through [`msend`](crate::msend)/[`mrecv`](crate::mrecv) and the
/// vectored [`msendl`](crate::msendl)/[`mrecvl`](crate::mrecvl). Dropping it
/// drops (closes) the underlying stream.
pub struct SuffixStream<S> {
    s: S,
    delim: Delim,
    state: u8,
}

/// Creates a SUFFIX message socket on top of the byte stream `s`.
///
/// # Errors
///
/// `EINVAL`: see ERRORS below.
#[doc = include_str!("../../docs/suffix_attach.md")]
pub fn suffix_attach<S: ByteStream>(s: S, suffix: &[u8]) -> io::Result<SuffixStream<S>> {
    let delim = Delim::new(suffix).ok_or_else(|| err(libc::EINVAL))?;
    Ok(SuffixStream { s, delim, state: 0 })
}

impl<S: ByteStream> SuffixStream<S> {
    /// Ends the SUFFIX protocol and gives back the byte stream.
    ///
    /// # Errors
    ///
    /// `ECONNRESET`, `EINVAL`: see ERRORS below for when each occurs.
    #[doc = include_str!("../../docs/suffix_detach.md")]
    pub fn detach(self, deadline: i64) -> io::Result<S> {
        check_deadline(deadline)?;
        if self.state & (INERR | OUTERR) != 0 {
            return Err(err(libc::ECONNRESET));
        }
        Ok(self.s)
    }

    #[cold]
    fn recv_failed(&mut self, e: io::Error) -> io::Error {
        if e.raw_os_error() == Some(libc::EPIPE) {
            self.state |= INDONE;
        } else {
            self.state |= INERR;
        }
        e
    }
}

impl<S: ByteStream> MsgStream for SuffixStream<S> {
    fn msendl(&mut self, bufs: &[IoSlice<'_>], deadline: i64) -> io::Result<()> {
        if self.state & OUTERR != 0 {
            return Err(err(libc::ECONNRESET));
        }
        check_deadline(deadline)?;
        if !self.delim.frames_cleanly(bufs) {
            return Err(err(libc::EINVAL));
        }
        let r = send_framed(&mut self.s, &[], bufs, self.delim.as_slice(), deadline);
        if let Err(e) = &r {
            // A stream below that refuses to send at all (half-closed:
            // EPIPE) keeps saying so; any other failure may have left part
            // of the message on the wire.
            if e.raw_os_error() != Some(libc::EPIPE) {
                self.state |= OUTERR;
            }
        }
        r
    }

    fn mrecvl(&mut self, bufs: &mut [IoSliceMut<'_>], deadline: i64) -> io::Result<usize> {
        if self.state & (INERR | INDONE) != 0 {
            return Err(err(if self.state & INERR != 0 {
                libc::ECONNRESET
            } else {
                libc::EPIPE
            }));
        }
        check_deadline(deadline)?;
        let delim = self.delim;
        let m = delim.len as usize;
        let mut out = Out::new(bufs);
        let mut j = 0usize;
        let mut chunk = [0u8; MAX_SUFFIX];
        loop {
            // The delimiter cannot end before `m - j` more bytes.
            let want = m - j;
            if let Err(e) = self.s.brecv(&mut chunk[..want], deadline) {
                return Err(self.recv_failed(e));
            }
            for &c in &chunk[..want] {
                j = delim.step(j, c, |d| out.put(d));
            }
            if j == m {
                break;
            }
        }
        if out.overflow {
            Err(err(libc::EMSGSIZE))
        } else {
            Ok(out.total)
        }
    }
}

impl<S> SuffixStream<S> {
    /// The byte stream below, for what it offers besides sending and
    /// receiving (addresses, credentials, descriptor). To move bytes
    /// through it, [`detach`](SuffixStream::detach) it first: that keeps both
    /// peers in step.
    pub fn get_ref(&self) -> &S {
        &self.s
    }
}

impl<S: fmt::Debug> fmt::Debug for SuffixStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SuffixStream")
            .field(
                "suffix",
                &format_args!("\"{}\"", self.delim.as_slice().escape_ascii()),
            )
            .field("inerr", &(self.state & INERR != 0))
            .field("outerr", &(self.state & OUTERR != 0))
            .field("indone", &(self.state & INDONE != 0))
            .field("stream", &self.s)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the matcher over `input` the way `mrecvl` does (in `m - j`
    /// chunks); returns the messages found and the unread rest.
    fn split(delim: &[u8], input: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let d = Delim::new(delim).unwrap();
        let m = delim.len();
        let mut msgs = Vec::new();
        let mut pos = 0;
        'outer: loop {
            let mut cur = Vec::new();
            let mut j = 0;
            loop {
                let want = m - j;
                if pos + want > input.len() {
                    break 'outer;
                }
                for (k, &c) in input[pos..pos + want].iter().enumerate() {
                    // A chunk never reaches past the end of the delimiter.
                    assert!(j < m, "read past the delimiter");
                    j = d.step(j, c, |b| cur.extend_from_slice(b));
                    assert!(j < m || k == want - 1, "delimiter ended inside a chunk");
                }
                pos += want;
                if j == m {
                    msgs.push(cur);
                    break;
                }
            }
        }
        (msgs, input[pos..].to_vec())
    }

    /// The obvious definition: cut at each first occurrence.
    fn naive(delim: &[u8], input: &[u8]) -> Vec<Vec<u8>> {
        let mut msgs = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i + delim.len() <= input.len() {
            if &input[i..i + delim.len()] == delim {
                msgs.push(input[start..i].to_vec());
                i += delim.len();
                start = i;
            } else {
                i += 1;
            }
        }
        msgs
    }

    #[test]
    fn wire_examples() {
        assert_eq!(split(b"\r\n", b"hello\r\n").0, vec![b"hello".to_vec()]);
        assert_eq!(split(b"\r\n", b"\r\n").0, vec![Vec::<u8>::new()]);
        assert_eq!(split(b"\r\n", b"a\rb\nc\r\n").0, vec![b"a\rb\nc".to_vec()]);
        assert_eq!(split(b"\r\n", b"x\r\r\n").0, vec![b"x\r".to_vec()]);
        assert_eq!(split(b"aba", b"ababa").0, vec![Vec::<u8>::new()]);
        assert_eq!(split(b"aba", b"ababa").1, b"ba".to_vec());
    }

    #[test]
    fn matches_the_naive_splitter() {
        // Every input over a two-letter alphabet up to length 10, against
        // delimiters with and without self-overlap.
        for delim in [&b"a"[..], b"ab", b"aa", b"aab", b"aba", b"abab", b"aaba"] {
            for len in 0..=10u32 {
                for bits in 0..(1u32 << len) {
                    let input: Vec<u8> = (0..len)
                        .map(|i| if bits >> i & 1 == 1 { b'b' } else { b'a' })
                        .collect();
                    let (got, rest) = split(delim, &input);
                    assert_eq!(got, naive(delim, &input), "{delim:?} {input:?}");
                    // What is left unread is never a whole message.
                    assert!(naive(delim, &rest).is_empty(), "{delim:?} {input:?}");
                }
            }
        }
    }

    #[test]
    fn framing_check() {
        let d = Delim::new(b"\r\n").unwrap();
        assert!(d.frames_cleanly(&[IoSlice::new(b"hello")]));
        assert!(d.frames_cleanly(&[IoSlice::new(b"x\r")]));
        assert!(d.frames_cleanly(&[IoSlice::new(b"a\rb\nc")]));
        assert!(d.frames_cleanly(&[]));
        assert!(!d.frames_cleanly(&[IoSlice::new(b"a\r\nb")]));
        assert!(!d.frames_cleanly(&[IoSlice::new(b"a\r"), IoSlice::new(b"\nb")]));
        let d = Delim::new(b"aba").unwrap();
        assert!(!d.frames_cleanly(&[IoSlice::new(b"xab")])); // "xab"+"aba": found at 1
        assert!(!d.frames_cleanly(&[IoSlice::new(b"ab")]));
        assert!(d.frames_cleanly(&[IoSlice::new(b"abb")]));
        let d = Delim::new(b"aa").unwrap();
        assert!(!d.frames_cleanly(&[IoSlice::new(b"a")]));
        assert!(d.frames_cleanly(&[IoSlice::new(b"b")]));
        // Exhaustively: frames_cleanly agrees with the naive splitter.
        for delim in [&b"ab"[..], b"aa", b"aba", b"abab"] {
            let d = Delim::new(delim).unwrap();
            for len in 0..=8u32 {
                for bits in 0..(1u32 << len) {
                    let msg: Vec<u8> = (0..len)
                        .map(|i| if bits >> i & 1 == 1 { b'b' } else { b'a' })
                        .collect();
                    let mut wire = msg.clone();
                    wire.extend_from_slice(delim);
                    let clean = naive(delim, &wire) == vec![msg.clone()];
                    assert_eq!(d.frames_cleanly(&[IoSlice::new(&msg)]), clean, "{msg:?}");
                }
            }
        }
    }

    #[test]
    fn delimiter_lengths() {
        assert!(Delim::new(b"").is_none());
        assert!(Delim::new(&[0u8; 33]).is_none());
        assert!(Delim::new(&[7u8; 32]).is_some());
    }
}
