//! The connected socket: [`IpcMem`], [`IpcStream`] and its split halves,
//! thin wrappers over the runtime's shared byte-stream core
//! ([`dill_runtime::sock::Stream`]).

use std::os::fd::RawFd;

use dill_runtime::sock::Stream;

/// A connected `AF_UNIX` byte stream.
///
/// Move bytes with [`bsend`](crate::bsend), [`brecv`](crate::brecv) and
/// their vectored forms, or through [`io::Read`](std::io::Read)/
/// [`io::Write`](std::io::Write) (which block without a deadline). Pass descriptors with
/// [`ipc_sendfd`](crate::ipc_sendfd)/[`ipc_recvfd`](crate::ipc_recvfd).
///
/// The lifetime `'m` is that of the [`IpcMem`] the stream lives in;
/// streams from the non-`_mem` constructors own heap memory and are
/// `'static`.
///
/// Dropping the stream closes the socket at once (any unsent data still in
/// the kernel is delivered, unread inbound data is discarded and the peer
/// then sees `ECONNRESET`). Use [`ipc_close`](crate::ipc_close) for an
/// orderly shutdown.
///
/// # One reader and one writer
///
/// As in libdill, one coroutine may receive while another sends on the
/// same stream. Either share the stream (`ByteStream`, `io::Read` and
/// `io::Write` are implemented for `&IpcStream` too, so an
/// `Rc<IpcStream>` serves both coroutines), or [`split`](IpcStream::split)
/// it into two owned halves that move into separate coroutines. A second
/// coroutine receiving (or sending) while one already does gets `EBUSY`.
///
/// A stream belongs to the thread (scheduler) that created it: it is
/// neither `Send` nor `Sync`.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<dill::IpcStream<'static>>();
/// ```
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<dill::IpcStream<'static>>();
/// ```
pub struct IpcStream<'m> {
    pub(crate) core: Stream<'m>,
}

impl<'m> IpcStream<'m> {
    #[inline]
    pub(crate) fn fd(&self) -> RawFd {
        self.core.fd()
    }
}

dill_runtime::stream_handles! {
    /// Memory for one IPC connection, supplied by the caller of the `_mem`
    /// functions ([`ipc_connect_mem`](crate::ipc_connect_mem),
    /// [`ipc_accept_mem`](crate::ipc_accept_mem),
    /// [`ipc_pair_mem`](crate::ipc_pair_mem)).
    ///
    /// It is [`IPC_SIZE`](crate::IPC_SIZE) bytes long. The stream built in it
    /// borrows it mutably, so the borrow checker makes sure the memory outlives
    /// the socket; once the stream is closed the memory can be reused.
    mem: IpcMem, "IpcMem";
    stream: IpcStream, "IpcStream";
    /// The receiving direction of a split [`IpcStream`]: a [`ByteStream`](dill_runtime::ByteStream)
    /// whose sends fail with `ENOTSUP`, and an `io::Read`. Also usable through
    /// a shared reference (`&IpcReadHalf`); a second concurrent receiver gets
    /// `EBUSY`.
    read: IpcReadHalf, "IpcReadHalf";
    /// The sending direction of a split [`IpcStream`]: a [`ByteStream`](dill_runtime::ByteStream)
    /// whose receives fail with `ENOTSUP`, and an `io::Write`. Also usable through a shared
    /// reference (`&IpcWriteHalf`); a second concurrent sender gets `EBUSY`.
    write: IpcWriteHalf, "IpcWriteHalf";
    /// Half-closes the stream, as [`ipc_done`](crate::ipc_done): the peer
    /// reads the end of stream after the data sent so far.
    ///
    /// # Errors
    ///
    /// As [`ipc_done`](crate::ipc_done).
    done;
    /// Splits the stream into its receiving and its sending direction, as
    /// two owned values that can move into different coroutines (they are
    /// `'static` when the stream is).
    ///
    /// Each half is a [`ByteStream`](dill_runtime::ByteStream) for its own direction (calls in the
    /// other direction fail with `ENOTSUP`) and implements `io::Read` or
    /// `io::Write`. The socket is closed when both halves are dropped;
    /// [`IpcStream::unsplit`] puts them back together (for
    /// [`ipc_close`](crate::ipc_close), descriptor passing, …).
    #[doc = include_str!("../../docs/ipc_split.md")]
    split;
    /// Joins the two halves of one stream back into the stream.
    ///
    /// # Errors
    ///
    /// Gives both halves back, unchanged, if they come from different
    /// streams.
    unsplit;
}
