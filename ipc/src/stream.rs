//! The connected socket: [`IpcMem`], [`IpcStream`], and the send/receive
//! loops every byte-moving call is built on.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use dill_runtime::{fdin_edge, fdout_edge};

use crate::heap::{self, HeapSlot};
use crate::sys::{self, check_deadline, err};

// Per-connection state, one bit per condition, each mapping to one errno.
/// A receive is in progress (`EBUSY`).
pub(crate) const RBUSY: u8 = 1 << 0;
/// A send is in progress (`EBUSY`).
pub(crate) const SBUSY: u8 = 1 << 1;
/// The peer's end of stream has been read (`EPIPE`).
pub(crate) const INDONE: u8 = 1 << 2;
/// We have half-closed the stream with `ipc_done` (`EPIPE`).
pub(crate) const OUTDONE: u8 = 1 << 3;
/// The inbound direction is broken (`ECONNRESET`).
pub(crate) const INERR: u8 = 1 << 4;
/// The outbound direction is broken (`ECONNRESET`).
pub(crate) const OUTERR: u8 = 1 << 5;
/// Not an error: we have sent to a peer living on this thread since our
/// last receive, so its answer (if any) cannot be there before it runs.
pub(crate) const SENT: u8 = 1 << 6;

/// How many buffers one `sendmsg`/`recvmsg` covers. Longer buffer lists are
/// walked in windows of this size, kept on the stack.
const IOV_WINDOW: usize = 64;

/// Memory for one IPC connection, supplied by the caller of the `_mem`
/// functions ([`ipc_connect_mem`](crate::ipc_connect_mem),
/// [`ipc_accept_mem`](crate::ipc_accept_mem),
/// [`ipc_pair_mem`](crate::ipc_pair_mem)).
///
/// It is [`IPC_SIZE`](crate::IPC_SIZE) bytes long. The stream built in it
/// borrows it mutably, so the borrow checker makes sure the memory outlives
/// the socket; once the stream is closed the memory can be reused.
pub struct IpcMem {
    pub(crate) fd: RawFd,
    /// The other end, when it is known to live on this thread (streams
    /// from `ipc_pair`), else -1. Used only to wake its waiters directly.
    pub(crate) peer: RawFd,
    pub(crate) state: u8,
}

impl IpcMem {
    /// Fresh, unused connection memory.
    pub const fn new() -> IpcMem {
        IpcMem {
            fd: -1,
            peer: -1,
            state: 0,
        }
    }
}

impl Default for IpcMem {
    fn default() -> IpcMem {
        IpcMem::new()
    }
}

impl fmt::Debug for IpcMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcMem")
            .field("fd", &self.fd)
            .field("peer", &self.peer)
            .field("state", &format_args!("{:#04x}", self.state))
            .finish()
    }
}

/// A connected `AF_UNIX` byte stream.
///
/// Move bytes with [`bsend`](crate::bsend), [`brecv`](crate::brecv) and
/// their vectored forms, or through [`io::Read`]/[`io::Write`] (which block
/// without a deadline). Pass descriptors with
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
    mem: NonNull<IpcMem>,
    owned: bool,
    _mem: PhantomData<&'m mut IpcMem>,
    _not_send: PhantomData<*mut ()>,
}

impl<'m> IpcStream<'m> {
    /// Builds a stream for the connected socket `fd` in caller memory.
    pub(crate) fn in_mem(mem: &'m mut IpcMem, fd: OwnedFd) -> IpcStream<'m> {
        mem.fd = fd.into_raw_fd();
        mem.peer = -1;
        mem.state = 0;
        IpcStream {
            mem: NonNull::from(mem),
            owned: false,
            _mem: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// The socket state.
    #[inline]
    fn mem(&self) -> &IpcMem {
        // SAFETY: `mem` points to an `IpcMem` that lives at least as long as
        // `'m` (borrowed) or until our drop (owned), and only this stream
        // accesses it.
        unsafe { self.mem.as_ref() }
    }

    #[inline]
    fn mem_mut(&mut self) -> &mut IpcMem {
        // SAFETY: as in `mem`; `&mut self` makes the access exclusive.
        unsafe { self.mem.as_mut() }
    }

    #[inline]
    pub(crate) fn fd(&self) -> RawFd {
        self.mem().fd
    }

    /// Records that the other end of the connection is `peer`, a socket
    /// owned by a stream of this thread.
    pub(crate) fn set_peer(&mut self, peer: RawFd) {
        self.mem_mut().peer = peer;
    }

    /// We have just made the peer readable (sent data, a descriptor, or
    /// the end of stream): if it lives on this thread and a coroutine waits
    /// to read from it, wake that coroutine now rather than after the
    /// reactor's next poll.
    #[inline]
    pub(crate) fn wake_peer_reader(&mut self) {
        let peer = self.mem().peer;
        if peer >= 0 {
            dill_runtime::fdwake_in(peer);
            self.set(SENT);
        }
    }

    /// Called before receiving. If we have just sent to a peer of this
    /// thread, its reply cannot have arrived yet: let it run first rather
    /// than pay for a receive that would only say `EAGAIN`. A cancelled
    /// coroutine cannot yield; it just goes on to the receive.
    #[inline]
    pub(crate) fn let_peer_answer(&mut self) {
        if self.state() & SENT != 0 {
            self.clear(SENT);
            let _ = dill_runtime::yield_now();
        }
    }

    /// We have just made room in the peer's send path (consumed data): wake
    /// a coroutine of this thread blocked sending on it.
    #[inline]
    pub(crate) fn wake_peer_writer(&self) {
        let peer = self.mem().peer;
        if peer >= 0 {
            dill_runtime::fdwake_out(peer);
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> u8 {
        self.mem().state
    }

    #[inline]
    pub(crate) fn set(&mut self, bits: u8) {
        self.mem_mut().state |= bits;
    }

    #[inline]
    pub(crate) fn clear(&mut self, bits: u8) {
        self.mem_mut().state &= !bits;
    }

    /// Checks that the outbound direction is usable and the deadline valid.
    #[inline]
    pub(crate) fn check_send(&self, deadline: i64) -> io::Result<()> {
        let st = self.state();
        if st & (SBUSY | OUTDONE | OUTERR) != 0 {
            return Err(err(if st & SBUSY != 0 {
                libc::EBUSY
            } else if st & OUTDONE != 0 {
                libc::EPIPE
            } else {
                libc::ECONNRESET
            }));
        }
        check_deadline(deadline)
    }

    /// Checks that the inbound direction is usable and the deadline valid.
    #[inline]
    pub(crate) fn check_recv(&self, deadline: i64) -> io::Result<()> {
        let st = self.state();
        if st & (RBUSY | INDONE | INERR) != 0 {
            return Err(err(if st & RBUSY != 0 {
                libc::EBUSY
            } else if st & INERR != 0 {
                libc::ECONNRESET
            } else {
                libc::EPIPE
            }));
        }
        check_deadline(deadline)
    }

    /// Handles a failed send: waits for writability and returns `Ok` when
    /// the send should be retried; otherwise marks the outbound direction
    /// broken and returns the error the caller reports.
    #[cold]
    pub(crate) fn send_failed(&mut self, e: io::Error, deadline: i64) -> io::Result<()> {
        let res = match e.raw_os_error() {
            Some(libc::EAGAIN) => {
                self.set(SBUSY);
                let r = fdout_edge(self.fd(), deadline);
                self.clear(SBUSY);
                r
            }
            Some(libc::EINTR) => Ok(()),
            // The peer has closed (EPIPE) or reset the connection.
            Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN) => Err(err(libc::ECONNRESET)),
            _ => Err(e),
        };
        if res.is_err() {
            self.set(OUTERR);
        }
        res
    }

    /// Handles a failed receive, like [`send_failed`](Self::send_failed).
    #[cold]
    pub(crate) fn recv_failed(&mut self, e: io::Error, deadline: i64) -> io::Result<()> {
        let res = match e.raw_os_error() {
            Some(libc::EAGAIN) => {
                self.set(RBUSY);
                let r = fdin_edge(self.fd(), deadline);
                self.clear(RBUSY);
                r
            }
            Some(libc::EINTR) => Ok(()),
            Some(libc::ECONNRESET | libc::ENOTCONN) => Err(err(libc::ECONNRESET)),
            _ => Err(e),
        };
        if res.is_err() {
            self.set(INERR);
        }
        res
    }

    /// End of stream seen by a receive that still wanted bytes.
    #[cold]
    fn eof(&mut self) -> io::Error {
        self.set(INDONE);
        err(libc::EPIPE)
    }

    /// Sends all of `buf`.
    pub(crate) fn send_all(&mut self, mut buf: &[u8], deadline: i64) -> io::Result<()> {
        self.check_send(deadline)?;
        let fd = self.fd();
        while !buf.is_empty() {
            // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
            let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
            if n >= 0 {
                buf = &buf[n as usize..];
                self.wake_peer_reader();
            } else {
                self.send_failed(io::Error::last_os_error(), deadline)?;
            }
        }
        Ok(())
    }

    /// Fills all of `buf`.
    pub(crate) fn recv_all(&mut self, mut buf: &mut [u8], deadline: i64) -> io::Result<()> {
        self.check_recv(deadline)?;
        if buf.is_empty() {
            return Ok(());
        }
        self.let_peer_answer();
        let fd = self.fd();
        while !buf.is_empty() {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n > 0 {
                buf = &mut buf[n as usize..];
                self.wake_peer_writer();
            } else if n == 0 {
                return Err(self.eof());
            } else {
                self.recv_failed(io::Error::last_os_error(), deadline)?;
            }
        }
        Ok(())
    }

    /// Sends all bytes of all of `bufs`, `IOV_WINDOW` buffers per syscall.
    pub(crate) fn send_all_vectored(
        &mut self,
        bufs: &[IoSlice<'_>],
        deadline: i64,
    ) -> io::Result<()> {
        self.check_send(deadline)?;
        let fd = self.fd();
        let mut cur = Cursor::default();
        loop {
            let mut iov = [EMPTY_IOV; IOV_WINDOW];
            let cnt = cur.window(
                bufs[cur.idx..].iter().map(|b| (b.as_ptr(), b.len())),
                &mut iov,
            );
            if cnt == 0 {
                return Ok(());
            }
            // SAFETY: msghdr is plain old data; all-zero is valid.
            let mut msg: libc::msghdr = unsafe { mem::zeroed() };
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = cnt as _;
            // SAFETY: `msg` points at `cnt` iovecs describing live, readable
            // parts of `bufs`; no address or control data.
            let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
            if n >= 0 {
                cur.advance(bufs[cur.idx..].iter().map(|b| b.len()), n as usize);
                self.wake_peer_reader();
            } else {
                self.send_failed(io::Error::last_os_error(), deadline)?;
            }
        }
    }

    /// Fills all of `bufs`, `IOV_WINDOW` buffers per syscall.
    pub(crate) fn recv_all_vectored(
        &mut self,
        bufs: &mut [IoSliceMut<'_>],
        deadline: i64,
    ) -> io::Result<()> {
        self.check_recv(deadline)?;
        if bufs.iter().any(|b| !b.is_empty()) {
            self.let_peer_answer();
        }
        let fd = self.fd();
        let mut cur = Cursor::default();
        loop {
            let mut iov = [EMPTY_IOV; IOV_WINDOW];
            let cnt = cur.window(
                bufs[cur.idx..]
                    .iter_mut()
                    .map(|b| (b.as_mut_ptr().cast_const(), b.len())),
                &mut iov,
            );
            if cnt == 0 {
                return Ok(());
            }
            // SAFETY: msghdr is plain old data; all-zero is valid.
            let mut msg: libc::msghdr = unsafe { mem::zeroed() };
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = cnt as _;
            // SAFETY: `msg` points at `cnt` iovecs describing live, writable
            // parts of `bufs` (the pointers come from `as_mut_ptr`).
            let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
            if n > 0 {
                cur.advance(bufs[cur.idx..].iter().map(|b| b.len()), n as usize);
                self.wake_peer_writer();
            } else if n == 0 {
                return Err(self.eof());
            } else {
                self.recv_failed(io::Error::last_os_error(), deadline)?;
            }
        }
    }

    /// One `recv`, for `io::Read`: some bytes, or 0 at end of stream.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let st = self.state();
        if st & INERR != 0 {
            return Err(err(libc::ECONNRESET));
        }
        if st & INDONE != 0 || buf.is_empty() {
            return Ok(0);
        }
        if st & RBUSY != 0 {
            return Err(err(libc::EBUSY));
        }
        self.let_peer_answer();
        loop {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
            let n = unsafe { libc::recv(self.fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n > 0 {
                self.wake_peer_writer();
                return Ok(n as usize);
            } else if n == 0 {
                self.set(INDONE);
                return Ok(0);
            }
            self.recv_failed(io::Error::last_os_error(), -1)?;
        }
    }

    /// One `send`, for `io::Write`: at least one byte, unless `buf` is empty.
    fn write_some(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_send(-1)?;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
            let n = unsafe {
                libc::send(
                    self.fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                self.wake_peer_reader();
                return Ok(n as usize);
            }
            self.send_failed(io::Error::last_os_error(), -1)?;
        }
    }

    /// Closes the socket and frees owned memory. Idempotent on the fd.
    fn close_now(&mut self) {
        let fd = mem::replace(&mut self.mem_mut().fd, -1);
        if fd >= 0 {
            sys::close_waited(fd);
            // The peer now sees the end of stream (or a reset).
            self.wake_peer_reader();
            self.wake_peer_writer();
        }
    }
}

impl IpcStream<'static> {
    /// Builds a stream for `fd` in a heap slot obtained by the caller: the
    /// stream owns the slot and frees it when dropped.
    pub(crate) fn in_slot(slot: HeapSlot<IpcMem>, fd: OwnedFd) -> IpcStream<'static> {
        let mut ptr = slot.leak();
        // SAFETY: the slot is live, initialized, and nothing else refers to
        // it; the stream takes it over for good (freed in `drop`).
        let mut s = IpcStream::in_mem(unsafe { ptr.as_mut() }, fd);
        s.owned = true;
        s
    }
}

impl Drop for IpcStream<'_> {
    fn drop(&mut self) {
        self.close_now();
        if self.owned {
            // SAFETY: `owned` streams hold a leaked `HeapSlot` that nothing
            // else references; this is its last use.
            unsafe { heap::free(self.mem) };
        }
    }
}

impl fmt::Debug for IpcStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state();
        f.debug_struct("IpcStream")
            .field("fd", &self.fd())
            .field("indone", &(st & INDONE != 0))
            .field("outdone", &(st & OUTDONE != 0))
            .field("inerr", &(st & INERR != 0))
            .field("outerr", &(st & OUTERR != 0))
            .field("heap", &self.owned)
            .finish()
    }
}

impl AsRawFd for IpcStream<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

impl AsFd for IpcStream<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor stays open for as long as `self` is
        // borrowed (it is closed only by drop).
        unsafe { BorrowedFd::borrow_raw(self.fd()) }
    }
}

/// Reads block without a deadline and return as soon as some bytes are
/// available; `Ok(0)` means the peer has finished sending.
impl io::Read for IpcStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_some(buf)
    }
}

/// Writes block without a deadline and return once at least one byte has
/// been handed to the kernel. `flush` does nothing: there is no user-space
/// buffer.
impl io::Write for IpcStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_some(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.send_all(buf, -1)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const EMPTY_IOV: libc::iovec = libc::iovec {
    iov_base: std::ptr::null_mut(),
    iov_len: 0,
};

/// Position inside a list of buffers: buffer index and offset in it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    idx: usize,
    off: usize,
}

impl Cursor {
    /// Fills `iov` with the non-empty remainder of the buffers from the
    /// cursor on (at most `iov.len()` of them) and returns how many it used.
    /// `bufs` yields the buffers starting at index `self.idx`.
    fn window(
        &self,
        bufs: impl Iterator<Item = (*const u8, usize)>,
        iov: &mut [libc::iovec],
    ) -> usize {
        let mut cnt = 0;
        for (i, (ptr, len)) in bufs.enumerate() {
            if cnt == iov.len() {
                break;
            }
            let off = if i == 0 { self.off } else { 0 };
            if len > off {
                // `off < len`, so the pointer stays inside the buffer.
                iov[cnt] = libc::iovec {
                    iov_base: ptr.wrapping_add(off).cast_mut().cast(),
                    iov_len: len - off,
                };
                cnt += 1;
            }
        }
        cnt
    }

    /// Moves the cursor forward by `n` bytes. `lens` yields the buffer
    /// lengths starting at index `self.idx`.
    fn advance(&mut self, lens: impl Iterator<Item = usize>, mut n: usize) {
        for len in lens {
            let rest = len - self.off;
            if n < rest {
                self.off += n;
                return;
            }
            n -= rest;
            self.idx += 1;
            self.off = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_bits_are_distinct() {
        let all = [RBUSY, SBUSY, INDONE, OUTDONE, INERR, OUTERR];
        let mut seen = 0u8;
        for b in all {
            assert_eq!(b.count_ones(), 1);
            assert_eq!(seen & b, 0);
            seen |= b;
        }
    }

    #[test]
    fn cursor_walks_buffers() {
        let a = [1u8; 3];
        let b: [u8; 0] = [];
        let c = [2u8; 5];
        let bufs = [(a.as_ptr(), 3), (b.as_ptr(), 0), (c.as_ptr(), 5)];
        let lens = |c: Cursor| bufs[c.idx..].iter().map(|b| b.1);
        let win = |c: Cursor, iov: &mut [libc::iovec]| c.window(bufs[c.idx..].iter().copied(), iov);
        let mut iov = [EMPTY_IOV; 4];
        let mut cur = Cursor::default();
        assert_eq!(win(cur, &mut iov), 2);
        assert_eq!(iov[0].iov_len, 3);
        assert_eq!(iov[1].iov_len, 5);
        cur.advance(lens(cur), 2);
        assert_eq!(cur, Cursor { idx: 0, off: 2 });
        assert_eq!(win(cur, &mut iov), 2);
        assert_eq!(iov[0].iov_len, 1);
        assert_eq!(iov[0].iov_base as usize, a.as_ptr() as usize + 2);
        cur.advance(lens(cur), 1);
        // The empty buffer is stepped over as well.
        assert_eq!(cur, Cursor { idx: 2, off: 0 });
        assert_eq!(win(cur, &mut iov), 1);
        cur.advance(lens(cur), 4);
        assert_eq!(cur, Cursor { idx: 2, off: 4 });
        cur.advance(lens(cur), 1);
        assert_eq!(cur.idx, 3);
        assert_eq!(win(cur, &mut iov), 0);
    }

    #[test]
    fn cursor_window_is_bounded() {
        let data = [0u8; 10];
        let bufs: Vec<_> = (0..10).map(|i| (data[i..].as_ptr(), 1)).collect();
        let mut iov = [EMPTY_IOV; 4];
        let mut cur = Cursor::default();
        assert_eq!(cur.window(bufs.iter().copied(), &mut iov), 4);
        cur.advance(bufs.iter().map(|b| b.1), 4);
        assert_eq!(cur.window(bufs[cur.idx..].iter().copied(), &mut iov), 4);
        assert_eq!(cur.idx, 4);
    }
}
