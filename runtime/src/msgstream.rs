//! The [`MsgStream`] trait and the `msend`/`mrecv` family.

use std::io::{self, IoSlice, IoSliceMut};

/// A socket that carries whole messages: PREFIX, SUFFIX and TERM layers,
/// and UDP sockets opened with a remote address.
///
/// A message sent with [`msendl`](MsgStream::msendl) arrives as one
/// message, whole, at the peer's [`mrecvl`](MsgStream::mrecvl). Implementors
/// provide the vectored methods; [`msend`](MsgStream::msend) and
/// [`mrecv`](MsgStream::mrecv) have default implementations in terms of
/// them that an implementor may override with a faster path.
pub trait MsgStream {
    /// Sends one message made of the buffers of `bufs`, in order. See
    /// [`msendl`](crate::msendl()).
    ///
    /// # Errors
    ///
    /// As [`msendl`](crate::msendl()).
    fn msendl(&mut self, bufs: &[IoSlice<'_>], deadline: i64) -> io::Result<()>;

    /// Receives one whole message into the buffers of `bufs`, in order, and
    /// returns its length. `EMSGSIZE` if it does not fit. See
    /// [`mrecvl`](crate::mrecvl()).
    ///
    /// # Errors
    ///
    /// As [`mrecvl`](crate::mrecvl()).
    fn mrecvl(&mut self, bufs: &mut [IoSliceMut<'_>], deadline: i64) -> io::Result<usize>;

    /// Sends `buf` as one message. See [`msend`](crate::msend()).
    ///
    /// # Errors
    ///
    /// As [`msend`](crate::msend()).
    fn msend(&mut self, buf: &[u8], deadline: i64) -> io::Result<()> {
        self.msendl(&[IoSlice::new(buf)], deadline)
    }

    /// Receives one message into `buf`; its length. See
    /// [`mrecv`](crate::mrecv()).
    ///
    /// # Errors
    ///
    /// As [`mrecv`](crate::mrecv()).
    fn mrecv(&mut self, buf: &mut [u8], deadline: i64) -> io::Result<usize> {
        self.mrecvl(&mut [IoSliceMut::new(buf)], deadline)
    }
}

/// Sends `buf` as one message on `s`.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EMSGSIZE`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/msend.md")]
pub fn msend<S: MsgStream + ?Sized>(s: &mut S, buf: &[u8], deadline: i64) -> io::Result<()> {
    s.msend(buf, deadline)
}

/// Receives one message from `s` into `buf` and returns its length.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EMSGSIZE`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/mrecv.md")]
pub fn mrecv<S: MsgStream + ?Sized>(s: &mut S, buf: &mut [u8], deadline: i64) -> io::Result<usize> {
    s.mrecv(buf, deadline)
}

/// Sends the buffers of `bufs`, in order, as one message on `s`.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EMSGSIZE`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/msendl.md")]
pub fn msendl<S: MsgStream + ?Sized>(
    s: &mut S,
    bufs: &[IoSlice<'_>],
    deadline: i64,
) -> io::Result<()> {
    s.msendl(bufs, deadline)
}

/// Receives one message from `s` into the buffers of `bufs`, in order, and
/// returns its length.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EMSGSIZE`, `EPIPE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/mrecvl.md")]
pub fn mrecvl<S: MsgStream + ?Sized>(
    s: &mut S,
    bufs: &mut [IoSliceMut<'_>],
    deadline: i64,
) -> io::Result<usize> {
    s.mrecvl(bufs, deadline)
}
