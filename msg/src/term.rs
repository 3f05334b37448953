//! TERM: a terminal handshake over any message socket, as libdill's
//! `term_attach`.
//!
//! The terminal message (up to 32 bytes, kept inline) is an ordinary
//! message of the layer below; both peers use the same one. Sending it
//! ends our outbound direction ([`term_done`]); receiving it ends the
//! inbound one (`EPIPE`). [`TermStream::detach`] finishes both: after it the
//! two peers agree on where the message stream stands, and the underlying
//! socket can carry on (or be closed in an orderly way).
//!
//! Two things libdill gets wrong are refused here: a terminal message over
//! 32 bytes (`EINVAL` at attach) and sending the terminal message as
//! ordinary data (`EINVAL` from `msend`), which the peer would take for the
//! end of the conversation.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};

use dill_runtime::MsgStream;

use crate::util::{check_deadline, err, in_len, out_equals, starts_with, Out};

/// The longest terminal message.
const MAX_TERM: usize = 32;

/// The peer's terminal message has arrived: receives fail with `EPIPE`.
const INDONE: u8 = 1 << 0;
/// Ours has been sent: sends fail with `EPIPE`.
const OUTDONE: u8 = 1 << 1;
/// The stream below ended without a terminal message: `ECONNRESET`.
const INERR: u8 = 1 << 2;

/// A message socket with a terminal handshake over the message socket `S`:
/// made by [`term_attach`], finished by [`term_done`] and
/// [`detach`](TermStream::detach).
///
/// Use it through [`msend`](crate::msend)/[`mrecv`](crate::mrecv) and the
/// vectored [`msendl`](crate::msendl)/[`mrecvl`](crate::mrecvl). Dropping it
/// drops (closes) the underlying socket without a handshake.
pub struct TermStream<S> {
    s: S,
    term: [u8; MAX_TERM],
    len: u8,
    state: u8,
}

/// Creates a TERM socket with the terminal message `msg` on top of the
/// message socket `s`.
///
/// # Errors
///
/// `EINVAL`: see ERRORS below.
#[doc = include_str!("../../docs/term_attach.md")]
pub fn term_attach<S: MsgStream>(s: S, msg: &[u8]) -> io::Result<TermStream<S>> {
    if msg.len() > MAX_TERM {
        return Err(err(libc::EINVAL));
    }
    let mut term = [0u8; MAX_TERM];
    term[..msg.len()].copy_from_slice(msg);
    Ok(TermStream {
        s,
        term,
        len: msg.len() as u8,
        state: 0,
    })
}

/// Sends the terminal message: no more messages from this side.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/term_done.md")]
pub fn term_done<S: MsgStream>(s: &mut TermStream<S>, deadline: i64) -> io::Result<()> {
    if s.state & OUTDONE != 0 {
        return Err(err(libc::EPIPE));
    }
    let len = s.len as usize;
    s.s.msend(&s.term[..len], deadline)?;
    s.state |= OUTDONE;
    Ok(())
}

impl<S: MsgStream> TermStream<S> {
    /// Finishes the terminal handshake and gives back the message socket.
    ///
    /// # Errors
    ///
    /// `ECANCELED`, `ECONNRESET`, `EINVAL`, `ETIMEDOUT`: see ERRORS below for when each occurs.
    #[doc = include_str!("../../docs/term_detach.md")]
    pub fn detach(mut self, deadline: i64) -> io::Result<S> {
        check_deadline(deadline)?;
        if self.state & OUTDONE == 0 {
            term_done(&mut self, deadline)?;
        }
        let mut scratch = [0u8; MAX_TERM];
        while self.state & INDONE == 0 {
            match self.mrecv(&mut scratch, deadline) {
                // Inbound messages still on their way are dropped.
                Ok(_) => {}
                // One too big for the scratch buffer has been skipped by
                // the layer below (PREFIX, SUFFIX and UDP do). Should a
                // layer leave it in place instead, this loop would never
                // wait: yield (so cancellation and other coroutines get
                // through) and honour the deadline here.
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    dill_runtime::yield_now()?;
                    if deadline > 0 && dill_runtime::now() >= deadline {
                        return Err(err(libc::ETIMEDOUT));
                    }
                }
                Err(e) if self.state & INDONE != 0 => drop(e),
                Err(e) => return Err(e),
            }
        }
        Ok(self.s)
    }

    #[inline]
    fn term(&self) -> &[u8] {
        &self.term[..self.len as usize]
    }

    /// The peer's terminal message has just arrived.
    #[cold]
    fn peer_done(&mut self) -> io::Error {
        self.state |= INDONE;
        err(libc::EPIPE)
    }

    /// Maps an error of the layer below: its end of stream is not a clean
    /// termination (no terminal message came), so it is `ECONNRESET`.
    #[cold]
    fn recv_failed(&mut self, e: io::Error) -> io::Error {
        if e.raw_os_error() == Some(libc::EPIPE) {
            self.state |= INERR;
            err(libc::ECONNRESET)
        } else {
            e
        }
    }
}

impl<S: MsgStream> MsgStream for TermStream<S> {
    fn msendl(&mut self, bufs: &[IoSlice<'_>], deadline: i64) -> io::Result<()> {
        if self.state & OUTDONE != 0 {
            return Err(err(libc::EPIPE));
        }
        if out_equals(bufs, self.term()) {
            return Err(err(libc::EINVAL));
        }
        self.s.msendl(bufs, deadline)
    }

    fn mrecvl(&mut self, bufs: &mut [IoSliceMut<'_>], deadline: i64) -> io::Result<usize> {
        if self.state & (INDONE | INERR) != 0 {
            return Err(err(if self.state & INERR != 0 {
                libc::ECONNRESET
            } else {
                libc::EPIPE
            }));
        }
        let len = self.len as usize;
        let cap = in_len(bufs);
        if cap >= len {
            // Straight into the caller's buffers; the terminal message is
            // recognised there.
            let n = match self.s.mrecvl(bufs, deadline) {
                Ok(n) => n,
                Err(e) => return Err(self.recv_failed(e)),
            };
            if n == len && starts_with(bufs, self.term()) {
                return Err(self.peer_done());
            }
            return Ok(n);
        }
        // The caller's buffers cannot hold the terminal message: receive
        // into a scratch buffer that can, so that the terminal message is
        // still recognised, and copy out what fits.
        let mut scratch = [0u8; MAX_TERM];
        let n = match self.s.mrecv(&mut scratch[..len], deadline) {
            Ok(n) => n,
            Err(e) => return Err(self.recv_failed(e)),
        };
        if n == len && scratch[..len] == *self.term() {
            return Err(self.peer_done());
        }
        if n > cap {
            return Err(err(libc::EMSGSIZE));
        }
        Out::new(bufs).put(&scratch[..n]);
        Ok(n)
    }
}

impl<S> TermStream<S> {
    /// The message socket below, for what it offers besides sending and
    /// receiving (addresses, credentials, descriptor). To move bytes
    /// through it, [`detach`](TermStream::detach) it first: that keeps both
    /// peers in step.
    pub fn get_ref(&self) -> &S {
        &self.s
    }
}

impl<S: fmt::Debug> fmt::Debug for TermStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TermStream")
            .field(
                "terminal",
                &format_args!("\"{}\"", self.term[..self.len as usize].escape_ascii()),
            )
            .field("indone", &(self.state & INDONE != 0))
            .field("outdone", &(self.state & OUTDONE != 0))
            .field("inerr", &(self.state & INERR != 0))
            .field("stream", &self.s)
            .finish()
    }
}
