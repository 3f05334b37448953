//! PREFIX: messages preceded by their size, as libdill's `prefix_attach`.
//!
//! On the wire a message is an `hdrlen`-byte unsigned size (1, 2, 4 or 8
//! bytes, big- or little-endian) followed by that many payload bytes.
//!
//! State is a handful of bits beside the underlying stream: no buffer, no
//! allocation. Sending is one `bsendl` of `[size, payload…]`. Receiving is
//! one `brecv` for the size and one `brecvl` for the payload, straight into
//! the caller's buffers. A message too big for the caller's buffers is read
//! and thrown away (through the caller's largest buffer or a small stack
//! buffer), so the stream stays in step and the next receive gets the next
//! message: `EMSGSIZE` means "skipped", never "broken".

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};

use dill_runtime::{ByteStream, MsgStream};

use crate::util::{check_deadline, err, in_len, out_len, recv_into, send_framed};

/// The size field is sent most significant byte first (network order, the
/// default).
pub const PREFIX_BIG_ENDIAN: u32 = 0;
/// The size field is sent least significant byte first.
pub const PREFIX_LITTLE_ENDIAN: u32 = 1;

/// Inbound direction broken: later receives fail with `ECONNRESET`.
const INERR: u8 = 1 << 0;
/// Outbound direction broken: later sends fail with `ECONNRESET`.
const OUTERR: u8 = 1 << 1;
/// The stream ended at a receive: later receives fail with `EPIPE`.
const INDONE: u8 = 1 << 2;

/// Bytes thrown away per receive when skipping an oversized message and
/// the caller's buffers are smaller than this.
const SKIP_CHUNK: usize = 512;

/// A message socket of size-prefixed messages over the byte stream `S`:
/// made by [`prefix_attach`], taken apart by
/// [`detach`](PrefixStream::detach).
///
/// Use it through [`msend`](crate::msend)/[`mrecv`](crate::mrecv) and the
/// vectored [`msendl`](crate::msendl)/[`mrecvl`](crate::mrecvl). Dropping it
/// drops (closes) the underlying stream.
pub struct PrefixStream<S> {
    s: S,
    hdrlen: u8,
    little: bool,
    state: u8,
}

/// Creates a PREFIX message socket on top of the byte stream `s`.
///
/// # Errors
///
/// `EINVAL`: see ERRORS below.
#[doc = include_str!("../../docs/prefix_attach.md")]
pub fn prefix_attach<S: ByteStream>(
    s: S,
    hdrlen: usize,
    flags: u32,
) -> io::Result<PrefixStream<S>> {
    if !matches!(hdrlen, 1 | 2 | 4 | 8) || flags & !PREFIX_LITTLE_ENDIAN != 0 {
        return Err(err(libc::EINVAL));
    }
    Ok(PrefixStream {
        s,
        hdrlen: hdrlen as u8,
        little: flags & PREFIX_LITTLE_ENDIAN != 0,
        state: 0,
    })
}

impl<S: ByteStream> PrefixStream<S> {
    /// Ends the PREFIX protocol and gives back the byte stream.
    ///
    /// # Errors
    ///
    /// `ECONNRESET`: see ERRORS below.
    #[doc = include_str!("../../docs/prefix_detach.md")]
    pub fn detach(self) -> io::Result<S> {
        if self.state & (INERR | OUTERR) != 0 {
            return Err(err(libc::ECONNRESET));
        }
        Ok(self.s)
    }

    /// The largest payload the size field can carry.
    #[inline]
    fn max_len(&self) -> u64 {
        if self.hdrlen == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * self.hdrlen as u32)) - 1
        }
    }

    /// Encodes `len` into the first `hdrlen` bytes of a header.
    #[inline]
    fn encode(&self, len: u64) -> [u8; 8] {
        let h = self.hdrlen as usize;
        if self.little {
            len.to_le_bytes()
        } else {
            let mut out = [0u8; 8];
            out[..h].copy_from_slice(&len.to_be_bytes()[8 - h..]);
            out
        }
    }

    #[inline]
    fn decode(&self, hdr: &[u8; 8]) -> u64 {
        let h = self.hdrlen as usize;
        let mut b = [0u8; 8];
        if self.little {
            b[..h].copy_from_slice(&hdr[..h]);
            u64::from_le_bytes(b)
        } else {
            b[8 - h..].copy_from_slice(&hdr[..h]);
            u64::from_be_bytes(b)
        }
    }

    /// Reads and drops `left` bytes of an oversized message, using the
    /// largest of the caller's buffers as scratch when it beats the stack
    /// one.
    #[cold]
    fn skip(
        &mut self,
        bufs: &mut [IoSliceMut<'_>],
        mut left: u64,
        deadline: i64,
    ) -> io::Result<()> {
        let mut stack = [0u8; SKIP_CHUNK];
        let scratch: &mut [u8] = match bufs.iter_mut().max_by_key(|b| b.len()) {
            Some(b) if b.len() > SKIP_CHUNK => b,
            _ => &mut stack,
        };
        while left > 0 {
            let k = scratch
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            self.s.brecv(&mut scratch[..k], deadline)?;
            left -= k as u64;
        }
        Ok(())
    }

    /// Marks the inbound direction after a failed receive: the end of the
    /// stream stays `EPIPE`, anything else breaks it (`ECONNRESET` later).
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

impl<S: ByteStream> MsgStream for PrefixStream<S> {
    fn msendl(&mut self, bufs: &[IoSlice<'_>], deadline: i64) -> io::Result<()> {
        if self.state & OUTERR != 0 {
            return Err(err(libc::ECONNRESET));
        }
        check_deadline(deadline)?;
        let len = match out_len(bufs) {
            Some(n) if n as u64 <= self.max_len() => n as u64,
            _ => return Err(err(libc::EMSGSIZE)),
        };
        let hdr = self.encode(len);
        let r = send_framed(
            &mut self.s,
            &hdr[..self.hdrlen as usize],
            bufs,
            &[],
            deadline,
        );
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
        let mut hdr = [0u8; 8];
        if let Err(e) = self.s.brecv(&mut hdr[..self.hdrlen as usize], deadline) {
            return Err(self.recv_failed(e));
        }
        let len = self.decode(&hdr);
        let cap = in_len(bufs);
        if len > cap as u64 {
            if let Err(e) = self.skip(bufs, len, deadline) {
                return Err(self.recv_failed(e));
            }
            return Err(err(libc::EMSGSIZE));
        }
        let len = len as usize;
        if len > 0 {
            if let Err(e) = recv_into(&mut self.s, bufs, len, deadline) {
                return Err(self.recv_failed(e));
            }
        }
        Ok(len)
    }
}

impl<S> PrefixStream<S> {
    /// The byte stream below, for what it offers besides sending and
    /// receiving (addresses, credentials, descriptor). To move bytes
    /// through it, [`detach`](PrefixStream::detach) it first: that keeps both
    /// peers in step.
    pub fn get_ref(&self) -> &S {
        &self.s
    }
}

impl<S: fmt::Debug> fmt::Debug for PrefixStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefixStream")
            .field("hdrlen", &self.hdrlen)
            .field(
                "order",
                &if self.little {
                    "little-endian"
                } else {
                    "big-endian"
                },
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

    struct Null;
    impl ByteStream for Null {
        fn bsendl(&mut self, _: &[IoSlice<'_>], _: i64) -> io::Result<()> {
            Ok(())
        }
        fn brecvl(&mut self, _: &mut [IoSliceMut<'_>], _: i64) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn header_encoding() {
        let p = prefix_attach(Null, 2, PREFIX_BIG_ENDIAN).unwrap();
        assert_eq!(&p.encode(5)[..2], &[0, 5]);
        assert_eq!(p.decode(&[1, 2, 0, 0, 0, 0, 0, 0]), 0x102);
        assert_eq!(p.max_len(), 0xffff);
        let p = prefix_attach(Null, 4, PREFIX_LITTLE_ENDIAN).unwrap();
        assert_eq!(&p.encode(300)[..4], &[0x2c, 1, 0, 0]);
        assert_eq!(p.decode(&[0x2c, 1, 0, 0, 9, 9, 9, 9]), 300);
        let p = prefix_attach(Null, 8, PREFIX_BIG_ENDIAN).unwrap();
        assert_eq!(p.max_len(), u64::MAX);
        assert_eq!(p.encode(u64::MAX - 1), (u64::MAX - 1).to_be_bytes());
        let p = prefix_attach(Null, 1, PREFIX_LITTLE_ENDIAN).unwrap();
        assert_eq!(p.max_len(), 255);
        assert_eq!(p.decode(&[0xfe, 9, 9, 9, 9, 9, 9, 9]), 0xfe);
    }
}
