//! Helpers shared by the protocol layers: errors, deadlines, buffer lists
//! walked in stack windows, and a cursor that copies bytes into a caller's
//! buffer list.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};

use dill_runtime::ByteStream;

/// How many buffers one call to the layer below carries. Longer lists are
/// sent or received in windows of this many, kept on the stack.
pub(crate) const WINDOW: usize = 16;

/// An `io::Error` for `code` (no allocation).
#[inline]
pub(crate) fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// `EINVAL` for a deadline that is negative and not `-1`.
#[inline]
pub(crate) fn check_deadline(deadline: i64) -> io::Result<()> {
    if deadline < -1 {
        Err(err(libc::EINVAL))
    } else {
        Ok(())
    }
}

/// Total length of a list of outbound buffers; `None` if it overflows.
#[inline]
pub(crate) fn out_len(bufs: &[IoSlice<'_>]) -> Option<usize> {
    bufs.iter().try_fold(0usize, |n, b| n.checked_add(b.len()))
}

/// Total capacity of a list of inbound buffers (saturating: a capacity that
/// does not fit `usize` holds every message a `usize` can measure).
#[inline]
pub(crate) fn in_len(bufs: &[IoSliceMut<'_>]) -> usize {
    bufs.iter().fold(0usize, |n, b| n.saturating_add(b.len()))
}

/// Sends `head`, then every buffer of `bufs`, then `tail`, as one run of
/// bytes: one `bsendl` when everything fits a window, else several.
pub(crate) fn send_framed<S: ByteStream + ?Sized>(
    s: &mut S,
    head: &[u8],
    bufs: &[IoSlice<'_>],
    tail: &[u8],
    deadline: i64,
) -> io::Result<()> {
    let mut win = [IoSlice::new(&[]); WINDOW];
    let mut n = 0;
    if !head.is_empty() {
        win[0] = IoSlice::new(head);
        n = 1;
    }
    for b in bufs {
        if b.is_empty() {
            continue;
        }
        if n == WINDOW {
            s.bsendl(&win[..n], deadline)?;
            n = 0;
        }
        win[n] = IoSlice::new(b);
        n += 1;
    }
    if !tail.is_empty() {
        if n == WINDOW {
            s.bsendl(&win[..n], deadline)?;
            n = 0;
        }
        win[n] = IoSlice::new(tail);
        n += 1;
    }
    if n == 1 {
        s.bsend(&win[0], deadline)
    } else {
        s.bsendl(&win[..n], deadline)
    }
}

/// Fills the first `len` bytes of the buffer list `bufs` from `s` (the
/// caller has checked that they hold that many).
pub(crate) fn recv_into<S: ByteStream + ?Sized>(
    s: &mut S,
    bufs: &mut [IoSliceMut<'_>],
    mut len: usize,
    deadline: i64,
) -> io::Result<()> {
    if let [one] = bufs {
        return s.brecv(&mut one[..len], deadline);
    }
    let mut it = bufs.iter_mut();
    while len > 0 {
        let mut win: [IoSliceMut<'_>; WINDOW] = std::array::from_fn(|_| IoSliceMut::new(&mut []));
        let mut n = 0;
        while n < WINDOW && len > 0 {
            let Some(b) = it.next() else { break };
            let take = b.len().min(len);
            if take == 0 {
                continue;
            }
            win[n] = IoSliceMut::new(&mut b[..take]);
            len -= take;
            n += 1;
        }
        debug_assert!(n > 0, "buffers shorter than the caller said");
        if n == 0 {
            break;
        }
        s.brecvl(&mut win[..n], deadline)?;
    }
    Ok(())
}

/// Copies bytes into a caller's buffer list, in order, counting every byte
/// offered; bytes past the end of the list are counted but dropped.
pub(crate) struct Out<'a, 'b> {
    bufs: &'a mut [IoSliceMut<'b>],
    idx: usize,
    off: usize,
    /// Bytes offered so far, stored or not.
    pub(crate) total: usize,
    /// Some bytes did not fit.
    pub(crate) overflow: bool,
}

impl<'a, 'b> Out<'a, 'b> {
    pub(crate) fn new(bufs: &'a mut [IoSliceMut<'b>]) -> Self {
        Out {
            bufs,
            idx: 0,
            off: 0,
            total: 0,
            overflow: false,
        }
    }

    /// Appends `data`.
    #[inline]
    pub(crate) fn put(&mut self, mut data: &[u8]) {
        self.total = self.total.saturating_add(data.len());
        while !data.is_empty() {
            let Some(b) = self.bufs.get_mut(self.idx) else {
                self.overflow = true;
                return;
            };
            let room = b.len() - self.off;
            if room == 0 {
                self.idx += 1;
                self.off = 0;
                continue;
            }
            let k = room.min(data.len());
            b[self.off..self.off + k].copy_from_slice(&data[..k]);
            self.off += k;
            data = &data[k..];
        }
    }
}

/// Whether the first `pat.len()` bytes of the buffer list equal `pat` (the
/// caller has checked the list holds that many).
pub(crate) fn starts_with(bufs: &[IoSliceMut<'_>], pat: &[u8]) -> bool {
    let mut pat = pat;
    for b in bufs {
        if pat.is_empty() {
            break;
        }
        let k = b.len().min(pat.len());
        if b[..k] != pat[..k] {
            return false;
        }
        pat = &pat[k..];
    }
    pat.is_empty()
}

/// Whether the concatenation of the outbound buffers equals `pat`.
pub(crate) fn out_equals(bufs: &[IoSlice<'_>], pat: &[u8]) -> bool {
    if out_len(bufs) != Some(pat.len()) {
        return false;
    }
    let mut pat = pat;
    for b in bufs {
        let k = b.len();
        if b[..] != pat[..k] {
            return false;
        }
        pat = &pat[k..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_spreads_over_buffers_and_counts_overflow() {
        let (mut a, mut b) = ([0u8; 2], [0u8; 3]);
        let mut bufs = [
            IoSliceMut::new(&mut a),
            IoSliceMut::new(&mut []),
            IoSliceMut::new(&mut b),
        ];
        let mut o = Out::new(&mut bufs);
        o.put(b"abc");
        o.put(b"d");
        assert!(!o.overflow);
        o.put(b"efg");
        assert!(o.overflow);
        assert_eq!(o.total, 7);
        assert_eq!((&a, &b), (b"ab", b"cde"));
    }

    #[test]
    fn prefix_comparisons() {
        let (mut a, mut b) = (*b"ST", *b"OPx");
        let bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        assert!(starts_with(&bufs, b"STOP"));
        assert!(!starts_with(&bufs, b"STOQ"));
        assert!(starts_with(&bufs, b""));
        let out = [IoSlice::new(b"S"), IoSlice::new(b""), IoSlice::new(b"TOP")];
        assert!(out_equals(&out, b"STOP"));
        assert!(!out_equals(&out, b"STO"));
        assert!(!out_equals(&out, b"STOQ"));
    }
}

/// What a framing layer (PREFIX, SUFFIX) remembers of the failures of its
/// two directions, so that a message half on the wire is never followed by
/// another: a broken direction keeps failing with `ECONNRESET`, and an
/// inbound stream that ended keeps failing with `EPIPE`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Dirs(u8);

/// Inbound direction broken: later receives fail with `ECONNRESET`.
const INERR: u8 = 1 << 0;
/// Outbound direction broken: later sends fail with `ECONNRESET`.
const OUTERR: u8 = 1 << 1;
/// The stream ended at a receive: later receives fail with `EPIPE`.
const INDONE: u8 = 1 << 2;

impl Dirs {
    /// `ECONNRESET` if either direction is broken: the peers are out of
    /// step, so the byte stream cannot be handed back.
    #[inline]
    pub(crate) fn check_detach(self) -> io::Result<()> {
        if self.0 & (INERR | OUTERR) != 0 {
            return Err(err(libc::ECONNRESET));
        }
        Ok(())
    }

    /// Before a send: `ECONNRESET` once the outbound direction is broken,
    /// then `EINVAL` for a bad deadline.
    #[inline]
    pub(crate) fn check_send(self, deadline: i64) -> io::Result<()> {
        if self.0 & OUTERR != 0 {
            return Err(err(libc::ECONNRESET));
        }
        check_deadline(deadline)
    }

    /// After a send: a stream below that refuses to send at all
    /// (half-closed: `EPIPE`) keeps saying so; any other failure may have
    /// left part of the message on the wire and breaks the direction.
    #[inline]
    pub(crate) fn sent(&mut self, r: &io::Result<()>) {
        if let Err(e) = r {
            if e.raw_os_error() != Some(libc::EPIPE) {
                self.0 |= OUTERR;
            }
        }
    }

    /// Before a receive: `ECONNRESET` once the inbound direction is broken,
    /// `EPIPE` once the stream has ended, then `EINVAL` for a bad deadline.
    #[inline]
    pub(crate) fn check_recv(self, deadline: i64) -> io::Result<()> {
        if self.0 & (INERR | INDONE) != 0 {
            return Err(err(if self.0 & INERR != 0 {
                libc::ECONNRESET
            } else {
                libc::EPIPE
            }));
        }
        check_deadline(deadline)
    }

    /// Marks the inbound direction after a failed receive: the end of the
    /// stream stays `EPIPE`, anything else breaks it (`ECONNRESET` later).
    #[cold]
    pub(crate) fn recv_failed(&mut self, e: io::Error) -> io::Error {
        if e.raw_os_error() == Some(libc::EPIPE) {
            self.0 |= INDONE;
        } else {
            self.0 |= INERR;
        }
        e
    }

    /// The three flags, for a layer's `Debug`.
    pub(crate) fn debug_fields(self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("inerr", &(self.0 & INERR != 0))
            .field("outerr", &(self.0 & OUTERR != 0))
            .field("indone", &(self.0 & INDONE != 0));
    }
}
