//! The [`ByteStream`] trait and the `bsend`/`brecv` family.

use std::io::{self, IoSlice, IoSliceMut};

/// A reliable, ordered stream of bytes: IPC and TCP sockets, their split
/// halves, and protocol layers.
///
/// Both methods move *all* the bytes or fail: there is no partial result.
/// Implementors provide the vectored [`bsendl`](ByteStream::bsendl) and
/// [`brecvl`](ByteStream::brecvl); the single-buffer
/// [`bsend`](ByteStream::bsend) and [`brecv`](ByteStream::brecv) have
/// default implementations in terms of them that an implementor may
/// override with a faster path.
pub trait ByteStream {
    /// Sends every byte of every buffer in `bufs`, in order. See
    /// [`bsendl`](crate::bsendl()).
    ///
    /// # Errors
    ///
    /// As [`bsendl`](crate::bsendl()).
    fn bsendl(&mut self, bufs: &[IoSlice<'_>], deadline: i64) -> io::Result<()>;

    /// Fills every buffer in `bufs`, in order. See
    /// [`brecvl`](crate::brecvl()).
    ///
    /// # Errors
    ///
    /// As [`brecvl`](crate::brecvl()).
    fn brecvl(&mut self, bufs: &mut [IoSliceMut<'_>], deadline: i64) -> io::Result<()>;

    /// Sends every byte of `buf`. See [`bsend`](crate::bsend()).
    ///
    /// # Errors
    ///
    /// As [`bsend`](crate::bsend()).
    fn bsend(&mut self, buf: &[u8], deadline: i64) -> io::Result<()> {
        self.bsendl(&[IoSlice::new(buf)], deadline)
    }

    /// Fills `buf`. See [`brecv`](crate::brecv()).
    ///
    /// # Errors
    ///
    /// As [`brecv`](crate::brecv()).
    fn brecv(&mut self, buf: &mut [u8], deadline: i64) -> io::Result<()> {
        self.brecvl(&mut [IoSliceMut::new(buf)], deadline)
    }
}

/// Sends all of `buf` to `s`.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/bsend.md")]
pub fn bsend<S: ByteStream + ?Sized>(s: &mut S, buf: &[u8], deadline: i64) -> io::Result<()> {
    s.bsend(buf, deadline)
}

/// Fills `buf` from `s`.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/brecv.md")]
pub fn brecv<S: ByteStream + ?Sized>(s: &mut S, buf: &mut [u8], deadline: i64) -> io::Result<()> {
    s.brecv(buf, deadline)
}

/// Sends the contents of every buffer in `bufs` to `s`.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/bsendl.md")]
pub fn bsendl<S: ByteStream + ?Sized>(
    s: &mut S,
    bufs: &[IoSlice<'_>],
    deadline: i64,
) -> io::Result<()> {
    s.bsendl(bufs, deadline)
}

/// Fills every buffer in `bufs` from `s`.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/brecvl.md")]
pub fn brecvl<S: ByteStream + ?Sized>(
    s: &mut S,
    bufs: &mut [IoSliceMut<'_>],
    deadline: i64,
) -> io::Result<()> {
    s.brecvl(bufs, deadline)
}
