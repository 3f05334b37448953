//! The connected byte-stream socket shared by every family: its memory
//! ([`StreamMem`]), its handle ([`Stream`]), the send/receive loops, the
//! half-close and the orderly close, and the split into two directions.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use super::heap::{self, HeapSlot};
use super::sys::{check_deadline, close_waited, cvt, err, recv_inq, set_inq};
use crate::fd::{fd_drained, fd_maybe_readable};
use crate::{fdin_edge, fdout_edge};

// Per-connection state, one bit per condition, each mapping to one errno
// (libdill's `rbusy`, `sbusy`, `indone`, `outdone`, `inerr`, `outerr`).
/// A receive is in progress (`EBUSY` for a second receiver).
pub const RBUSY: u8 = 1 << 0;
/// A send is in progress (`EBUSY` for a second sender).
pub const SBUSY: u8 = 1 << 1;
/// The peer's end of stream has been read (`EPIPE`).
pub const INDONE: u8 = 1 << 2;
/// We have half-closed the stream (`EPIPE`).
pub const OUTDONE: u8 = 1 << 3;
/// The inbound direction is broken (`ECONNRESET`).
pub const INERR: u8 = 1 << 4;
/// The outbound direction is broken (`ECONNRESET`).
pub const OUTERR: u8 = 1 << 5;
/// Not an error: we have sent to a peer living on this thread since our
/// last receive, so its answer (if any) cannot be there before it runs.
pub const SENT: u8 = 1 << 6;
/// Not a state bit: set in a handle's mask for the direction it lacks
/// (a split half), making calls in that direction `ENOTSUP`.
const NOTSUP: u8 = 1 << 7;

/// How many buffers one `sendmsg`/`recvmsg` covers. Longer buffer lists are
/// walked in windows of this size, kept on the stack.
const IOV_WINDOW: usize = 64;

/// Memory for one connected stream socket: the descriptor, the state bits,
/// the same-thread peer (if known) and how many handles refer to it.
///
/// Socket families wrap it in their own public memory type (`IpcMem`,
/// `TcpMem`); the `_mem` constructors build a [`Stream`] in it, the others
/// in a [`HeapSlot`].
pub struct StreamMem {
    fd: RawFd,
    /// The other end, when it is known to live on this thread (IPC pairs),
    /// else -1. Used only to wake its waiters directly.
    peer: RawFd,
    state: u8,
    /// Whether receives report the bytes left in the socket (`INQ_*`).
    inq: u8,
    /// Live handles: 1 for a whole stream, 2 once split.
    handles: u16,
}

/// Not asked yet: the first receive that finds nothing asks the kernel.
const INQ_UNKNOWN: u8 = 0;
/// Every receive reports what is left (`SO_INQ`/`TCP_INQ`), so a receive
/// that empties the socket says so and the next one waits for a readable
/// event instead of trying a receive that can only fail with `EAGAIN`.
const INQ_ON: u8 = 1;
/// The kernel cannot report it: try the receive, wait after `EAGAIN`.
const INQ_OFF: u8 = 2;

impl StreamMem {
    /// Fresh, unused stream memory.
    pub const fn new() -> StreamMem {
        StreamMem {
            fd: -1,
            peer: -1,
            state: 0,
            inq: INQ_UNKNOWN,
            handles: 0,
        }
    }
}

impl Default for StreamMem {
    fn default() -> StreamMem {
        StreamMem::new()
    }
}

impl fmt::Debug for StreamMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamMem")
            .field("fd", &self.fd)
            .field("peer", &self.peer)
            .field("state", &format_args!("{:#04x}", self.state))
            .field("handles", &self.handles)
            .finish()
    }
}

/// A handle to a connected, non-blocking stream socket living in a
/// [`StreamMem`]: the whole stream, or one direction of it after
/// [`split`](Stream::split).
///
/// Every operation takes `&self`: the state is read and written through
/// the handle's raw pointer, never through a reference held across a call,
/// and the handle is
/// `!Send` and `!Sync`, so coroutines of one thread may share it (one
/// receiver and one sender at a time; a second one gets `EBUSY`, as
/// libdill's `rbusy`/`sbusy`).
///
/// The lifetime `'m` is that of the memory; handles built with
/// [`in_slot`](Stream::in_slot) own heap memory and are `'static`.
/// Dropping the last handle of a socket closes it at once.
pub struct Stream<'m> {
    mem: NonNull<StreamMem>,
    owned: bool,
    /// `NOTSUP` when this handle may not send (a read half).
    no_send: u8,
    /// `NOTSUP` when this handle may not receive (a write half).
    no_recv: u8,
    _mem: PhantomData<&'m mut StreamMem>,
    _not_send: PhantomData<*mut ()>,
}

impl<'m> Stream<'m> {
    /// Builds a stream for the connected socket `fd` in caller memory.
    /// `fd` must be non-blocking.
    pub fn in_mem(mem: &'m mut StreamMem, fd: OwnedFd) -> Stream<'m> {
        mem.fd = fd.into_raw_fd();
        mem.peer = -1;
        mem.state = 0;
        mem.inq = INQ_UNKNOWN;
        mem.handles = 1;
        Stream {
            mem: NonNull::from(mem),
            owned: false,
            no_send: 0,
            no_recv: 0,
            _mem: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// The memory, as a raw pointer: all handles of one socket share it,
    /// so no reference to it is ever kept.
    #[inline]
    fn raw(&self) -> *mut StreamMem {
        self.mem.as_ptr()
    }

    #[inline]
    fn get_fd(&self) -> RawFd {
        // SAFETY: `mem` points to a `StreamMem` that lives at least as long
        // as `'m` (borrowed) or until the last handle drops (owned). It is
        // only accessed through the handles of this socket, one field
        // access at a time, on this thread (handles are `!Send`/`!Sync`).
        unsafe { (*self.raw()).fd }
    }

    #[inline]
    fn set_fd(&self, fd: RawFd) -> RawFd {
        // SAFETY: as in `get_fd`.
        unsafe { std::ptr::replace(std::ptr::addr_of_mut!((*self.raw()).fd), fd) }
    }

    /// The value last given to [`set_peer`](Self::set_peer) (`-1` at
    /// first).
    #[inline]
    pub fn peer(&self) -> RawFd {
        // SAFETY: as in `get_fd`.
        unsafe { (*self.raw()).peer }
    }

    #[inline]
    fn handles(&self) -> u16 {
        // SAFETY: as in `get_fd`.
        unsafe { (*self.raw()).handles }
    }

    #[inline]
    fn set_handles(&self, n: u16) {
        // SAFETY: as in `get_fd`.
        unsafe { (*self.raw()).handles = n }
    }

    /// The socket's descriptor (-1 once it has been taken out).
    #[inline]
    pub fn fd(&self) -> RawFd {
        self.get_fd()
    }

    /// Whether the memory is a heap slot owned by the handles.
    pub fn is_heap(&self) -> bool {
        self.owned
    }

    /// The state bits ([`RBUSY`], [`INDONE`], …).
    #[inline]
    pub fn state(&self) -> u8 {
        // SAFETY: as in `get_fd`.
        unsafe { (*self.raw()).state }
    }

    /// Sets state bits.
    #[inline]
    pub fn set(&self, bits: u8) {
        // SAFETY: as in `get_fd`.
        unsafe { (*self.raw()).state |= bits }
    }

    /// Clears state bits.
    #[inline]
    pub fn clear(&self, bits: u8) {
        // SAFETY: as in `get_fd`.
        unsafe { (*self.raw()).state &= !bits }
    }

    /// Records that the other end of the connection is `peer`, a socket
    /// owned by a stream of this thread, whose waiters this stream then
    /// wakes directly. `-1` means none; values below `-1` mean none as
    /// well and are left to the family (TCP counts down its attempts to
    /// find a peer on this thread with them).
    pub fn set_peer(&self, peer: RawFd) {
        // SAFETY: as in `get_fd`.
        unsafe { (*self.raw()).peer = peer }
    }

    /// We have just made the peer readable (sent data, a descriptor, or the
    /// end of stream): if it lives on this thread and a coroutine waits to
    /// read from it, wake that coroutine now rather than after the
    /// reactor's next poll.
    #[inline]
    pub fn wake_peer_reader(&self) {
        let peer = self.peer();
        if peer >= 0 {
            crate::fdwake_in(peer);
            self.set(SENT);
        }
    }

    /// Called before receiving. If we have just sent to a peer of this
    /// thread, its reply cannot have arrived yet: let it run first rather
    /// than pay for a receive that would only say `EAGAIN`. A cancelled
    /// coroutine cannot yield; it just goes on to the receive.
    #[inline]
    pub fn let_peer_answer(&self) {
        if self.state() & SENT != 0 {
            self.clear(SENT);
            let _ = crate::yield_now();
        }
    }

    /// We have just made room in the peer's send path (consumed data): wake
    /// a coroutine of this thread blocked sending on it.
    #[inline]
    pub fn wake_peer_writer(&self) {
        let peer = self.peer();
        if peer >= 0 {
            crate::fdwake_out(peer);
        }
    }

    #[inline]
    fn inq(&self) -> u8 {
        // SAFETY: as in `get_fd`.
        unsafe { (*self.raw()).inq }
    }

    /// A receive found the socket empty: from now on, have every receive
    /// say what it left (asked once per stream; streams that never wait
    /// never pay for it).
    #[cold]
    fn learn_inq(&self) {
        if self.inq() == INQ_UNKNOWN && self.peer() < 0 {
            let v = if set_inq(self.fd(), true) {
                INQ_ON
            } else {
                INQ_OFF
            };
            // SAFETY: as in `get_fd`.
            unsafe { (*self.raw()).inq = v };
        }
    }

    /// One receive into `cnt` buffers at `iov`: the bytes read (0 at end of
    /// stream) or the error. Where receives report what they leave, one
    /// that empties the socket records it with the reactor, and while the
    /// socket is known to be empty (and the caller may wait) no system call
    /// is made: `EAGAIN` at once, so that the caller waits for the next
    /// readable event as after a real `EAGAIN`.
    #[inline]
    fn recv_iov(&self, iov: *mut libc::iovec, cnt: usize, deadline: i64) -> io::Result<usize> {
        let fd = self.fd();
        // A peer on this thread wakes its reader itself and lets it run
        // only once there is something to read (`let_peer_answer`): the
        // report would cost more than it saves.
        let n = if self.inq() != INQ_ON || self.peer() >= 0 {
            if cnt == 1 {
                // SAFETY: the caller's one iovec describes a live, writable
                // buffer.
                unsafe { libc::recv(fd, (*iov).iov_base, (*iov).iov_len, 0) }
            } else {
                // SAFETY: msghdr is plain old data; all-zero is valid.
                let mut msg: libc::msghdr = unsafe { mem::zeroed() };
                msg.msg_iov = iov;
                msg.msg_iovlen = cnt as _;
                // SAFETY: `iov` describes `cnt` live, writable buffers; no
                // address or control data.
                unsafe { libc::recvmsg(fd, &mut msg, 0) }
            }
        } else {
            if !fd_maybe_readable(fd, deadline) {
                return Err(err(libc::EAGAIN));
            }
            let (n, empty) = recv_inq(fd, iov, cnt);
            if empty {
                fd_drained(fd);
            }
            n
        };
        if n >= 0 {
            Ok(n as usize)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Checks that the outbound direction is usable and the deadline
    /// valid: `ENOTSUP` (a read half), `EBUSY`, `EPIPE`, `ECONNRESET`,
    /// `EINVAL`.
    #[inline]
    pub fn check_send(&self, deadline: i64) -> io::Result<()> {
        let st = self.state() | self.no_send;
        if st & (NOTSUP | SBUSY | OUTDONE | OUTERR) != 0 {
            return Err(err(if st & NOTSUP != 0 {
                libc::ENOTSUP
            } else if st & SBUSY != 0 {
                libc::EBUSY
            } else if st & OUTDONE != 0 {
                libc::EPIPE
            } else {
                libc::ECONNRESET
            }));
        }
        check_deadline(deadline)
    }

    /// Checks that the inbound direction is usable and the deadline valid:
    /// `ENOTSUP` (a write half), `EBUSY`, `ECONNRESET`, `EPIPE`, `EINVAL`.
    #[inline]
    pub fn check_recv(&self, deadline: i64) -> io::Result<()> {
        let st = self.state() | self.no_recv;
        if st & (NOTSUP | RBUSY | INDONE | INERR) != 0 {
            return Err(err(if st & NOTSUP != 0 {
                libc::ENOTSUP
            } else if st & RBUSY != 0 {
                libc::EBUSY
            } else if st & INERR != 0 {
                libc::ECONNRESET
            } else {
                libc::EPIPE
            }));
        }
        check_deadline(deadline)
    }

    /// Handles a failed send: on `EAGAIN` waits for writability and returns
    /// `Ok` when the send should be retried; otherwise marks the outbound
    /// direction broken and returns the error to report (a closed or reset
    /// peer is `ECONNRESET`).
    #[cold]
    pub fn send_failed(&self, e: io::Error, deadline: i64) -> io::Result<()> {
        self.failed(e, deadline, true)
    }

    /// Handles a failed receive, like [`send_failed`](Self::send_failed).
    #[cold]
    pub fn recv_failed(&self, e: io::Error, deadline: i64) -> io::Result<()> {
        self.failed(e, deadline, false)
    }

    /// Both of the above: `out` says which direction failed.
    #[inline]
    fn failed(&self, e: io::Error, deadline: i64, out: bool) -> io::Result<()> {
        let (busy, broken) = if out { (SBUSY, OUTERR) } else { (RBUSY, INERR) };
        let res = match e.raw_os_error() {
            Some(libc::EAGAIN) => {
                if !out {
                    self.learn_inq();
                }
                self.set(busy);
                let r = if out {
                    fdout_edge(self.fd(), deadline)
                } else {
                    fdin_edge(self.fd(), deadline)
                };
                self.clear(busy);
                r
            }
            Some(libc::EINTR) => Ok(()),
            // The peer has closed or reset the connection: a send sees
            // EPIPE, a receive ETIMEDOUT when keepalive gave up on it.
            Some(libc::ECONNRESET | libc::ENOTCONN) => Err(err(libc::ECONNRESET)),
            Some(libc::EPIPE) if out => Err(err(libc::ECONNRESET)),
            Some(libc::ETIMEDOUT) if !out => Err(err(libc::ECONNRESET)),
            _ => Err(e),
        };
        if res.is_err() {
            self.set(broken);
        }
        res
    }

    /// End of stream seen by a receive that still wanted bytes: `EPIPE`,
    /// and the inbound direction stays done.
    #[cold]
    pub fn eof(&self) -> io::Error {
        self.set(INDONE);
        err(libc::EPIPE)
    }

    /// Sends all of `buf` (`bsend`).
    ///
    /// # Errors
    ///
    /// As [`check_send`](Self::check_send), then `ETIMEDOUT`, `ECANCELED`,
    /// `ECONNRESET`; after any of these the outbound direction is broken.
    pub fn send_all(&self, mut buf: &[u8], deadline: i64) -> io::Result<()> {
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

    /// Fills all of `buf` (`brecv`).
    ///
    /// # Errors
    ///
    /// As [`check_recv`](Self::check_recv), then `EPIPE` at end of stream,
    /// `ETIMEDOUT`, `ECANCELED`, `ECONNRESET`; after the last three the
    /// inbound direction is broken.
    pub fn recv_all(&self, mut buf: &mut [u8], deadline: i64) -> io::Result<()> {
        self.check_recv(deadline)?;
        if buf.is_empty() {
            return Ok(());
        }
        self.let_peer_answer();
        while !buf.is_empty() {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            match self.recv_iov(&mut iov, 1, deadline) {
                Ok(0) => return Err(self.eof()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    self.wake_peer_writer();
                }
                Err(e) => self.recv_failed(e, deadline)?,
            }
        }
        Ok(())
    }

    /// Sends all bytes of all of `bufs` (`bsendl`), `IOV_WINDOW` buffers per
    /// system call.
    ///
    /// # Errors
    ///
    /// As [`send_all`](Self::send_all).
    pub fn send_all_vectored(&self, bufs: &[IoSlice<'_>], deadline: i64) -> io::Result<()> {
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

    /// Fills all of `bufs` (`brecvl`), `IOV_WINDOW` buffers per system call.
    ///
    /// # Errors
    ///
    /// As [`recv_all`](Self::recv_all).
    pub fn recv_all_vectored(&self, bufs: &mut [IoSliceMut<'_>], deadline: i64) -> io::Result<()> {
        self.check_recv(deadline)?;
        if bufs.iter().any(|b| !b.is_empty()) {
            self.let_peer_answer();
        }
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
            // The iovecs describe live, writable parts of `bufs` (the
            // pointers come from `as_mut_ptr`).
            match self.recv_iov(iov.as_mut_ptr(), cnt, deadline) {
                Ok(0) => return Err(self.eof()),
                Ok(n) => {
                    cur.advance(bufs[cur.idx..].iter().map(|b| b.len()), n);
                    self.wake_peer_writer();
                }
                Err(e) => self.recv_failed(e, deadline)?,
            }
        }
    }

    /// One receive, for `io::Read`: some bytes, or 0 at end of stream;
    /// blocks without a deadline.
    ///
    /// # Errors
    ///
    /// `ENOTSUP` (a write half), `EBUSY`, `ECONNRESET`, `ECANCELED`.
    pub fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.no_recv != 0 {
            return Err(err(libc::ENOTSUP));
        }
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
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            match self.recv_iov(&mut iov, 1, -1) {
                Ok(0) => {
                    self.set(INDONE);
                    return Ok(0);
                }
                Ok(n) => {
                    self.wake_peer_writer();
                    return Ok(n);
                }
                Err(e) => self.recv_failed(e, -1)?,
            }
        }
    }

    /// One send, for `io::Write`: at least one byte, unless `buf` is empty;
    /// blocks without a deadline.
    ///
    /// # Errors
    ///
    /// As [`send_all`](Self::send_all).
    pub fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
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

    /// One gathering send, for `io::Write::write_vectored`: up to
    /// `IOV_WINDOW` buffers in one `sendmsg`, at least one byte unless all
    /// of `bufs` are empty; blocks without a deadline. Crates that queue
    /// several records (rustls: a handshake flight, or a last record and
    /// an alert before giving up) hand them over in one call, as they
    /// would to a std socket.
    ///
    /// # Errors
    ///
    /// As [`send_all`](Self::send_all).
    pub fn write_some_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.check_send(-1)?;
        let mut iov = [EMPTY_IOV; IOV_WINDOW];
        let cnt = Cursor::default().window(bufs.iter().map(|b| (b.as_ptr(), b.len())), &mut iov);
        if cnt == 0 {
            return Ok(0);
        }
        // SAFETY: msghdr is plain old data; all-zero is valid.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = cnt as _;
        loop {
            // SAFETY: `msg` points at `cnt` iovecs describing live, readable
            // parts of `bufs`; no address or control data.
            let n = unsafe { libc::sendmsg(self.fd(), &msg, libc::MSG_NOSIGNAL) };
            if n >= 0 {
                self.wake_peer_reader();
                return Ok(n as usize);
            }
            self.send_failed(io::Error::last_os_error(), -1)?;
        }
    }

    /// Half-closes the stream (`shutdown(SHUT_WR)`): the peer reads the end
    /// of stream after the data sent so far; receiving keeps working.
    ///
    /// # Errors
    ///
    /// `EINVAL` (bad deadline), `ENOTSUP` (a read half), `EPIPE` (already
    /// done), `ECONNRESET` (outbound direction broken, or the peer gone).
    pub fn done(&self, deadline: i64) -> io::Result<()> {
        check_deadline(deadline)?;
        let st = self.state() | self.no_send;
        if st & NOTSUP != 0 {
            return Err(err(libc::ENOTSUP));
        }
        if st & OUTDONE != 0 {
            return Err(err(libc::EPIPE));
        }
        if st & OUTERR != 0 {
            return Err(err(libc::ECONNRESET));
        }
        // SAFETY: shutdown() takes no pointers.
        match cvt(unsafe { libc::shutdown(self.fd(), libc::SHUT_WR) }) {
            Ok(_) => {
                self.set(OUTDONE);
                self.wake_peer_reader();
                Ok(())
            }
            Err(e) => {
                self.set(OUTERR);
                Err(match e.raw_os_error() {
                    Some(libc::ENOTCONN) => err(libc::ECONNRESET),
                    _ => e,
                })
            }
        }
    }

    /// Orderly close: half-closes (unless done already), reads and discards
    /// until the peer's end of stream or the deadline, then closes. The
    /// socket is closed whatever this returns.
    ///
    /// # Errors
    ///
    /// `EINVAL` (bad deadline), `ENOTSUP` (a half), `ECONNRESET` (either
    /// direction broken, or the peer reset), `ETIMEDOUT`, `ECANCELED`.
    pub fn close(self, deadline: i64) -> io::Result<()> {
        // `self` is dropped, hence closed, on every return path.
        check_deadline(deadline)?;
        if (self.no_send | self.no_recv) != 0 {
            return Err(err(libc::ENOTSUP));
        }
        if self.state() & OUTDONE == 0 {
            self.done(deadline)?;
        }
        let st = self.state();
        if st & INERR != 0 {
            return Err(err(libc::ECONNRESET));
        }
        if st & INDONE != 0 {
            return Ok(());
        }
        // Read until the peer's end of stream: then we know it has seen all
        // our data, or chose to close without reading it.
        let mut buf = [0u8; 512];
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::recv(self.fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n == 0 {
                self.set(INDONE);
                return Ok(());
            }
            if n < 0 {
                self.recv_failed(io::Error::last_os_error(), deadline)?;
            }
        }
    }

    /// Splits the stream into a handle that may only receive and one that
    /// may only send (the other direction is `ENOTSUP`). Both refer to the
    /// same socket, which is closed when both are dropped.
    pub fn split(self) -> (Stream<'m>, Stream<'m>) {
        let this = ManuallyDrop::new(self);
        let n = this.handles().checked_add(1);
        this.set_handles(n.expect("dill: too many handles to one stream"));
        let half = |no_send, no_recv| Stream {
            mem: this.mem,
            owned: this.owned,
            no_send: this.no_send | no_send,
            no_recv: this.no_recv | no_recv,
            _mem: PhantomData,
            _not_send: PhantomData,
        };
        (half(NOTSUP, 0), half(0, NOTSUP))
    }

    /// Joins two handles of the same socket (from [`split`](Self::split))
    /// back into one with both their directions; gives them back unchanged
    /// if they belong to different sockets.
    #[allow(clippy::result_large_err)]
    pub fn unsplit(a: Stream<'m>, b: Stream<'m>) -> Result<Stream<'m>, (Stream<'m>, Stream<'m>)> {
        if a.mem != b.mem {
            return Err((a, b));
        }
        let b = ManuallyDrop::new(b);
        a.set_handles(a.handles() - 1);
        let mut a = a;
        a.no_send &= b.no_send;
        a.no_recv &= b.no_recv;
        Ok(a)
    }

    /// Takes the descriptor out: the runtime forgets it (no waiter, no
    /// reactor registration), the handle's memory is released, and the
    /// socket stays open, owned by the caller. Other handles of the same
    /// socket (split halves) see a closed descriptor (`EBADF`).
    pub fn into_fd(self) -> OwnedFd {
        if self.inq() == INQ_ON {
            // The new owner's receives must not get control messages it
            // did not ask for.
            set_inq(self.fd(), false);
        }
        let fd = self.set_fd(-1);
        crate::fdclean(fd);
        drop(self);
        // SAFETY: the stream owned `fd` (a valid, open descriptor) and has
        // just given it up: `mem.fd` is -1, so nothing closes it.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    /// Closes the socket now. Idempotent.
    fn close_now(&self) {
        let fd = self.set_fd(-1);
        if fd >= 0 {
            close_waited(fd);
            // The peer now sees the end of stream (or a reset).
            self.wake_peer_reader();
            self.wake_peer_writer();
        }
    }

    /// Debug fields shared by the families' handle types.
    pub fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        let st = self.state();
        d.field("fd", &self.fd())
            .field("indone", &(st & INDONE != 0))
            .field("outdone", &(st & OUTDONE != 0))
            .field("inerr", &(st & INERR != 0))
            .field("outerr", &(st & OUTERR != 0))
            .field("heap", &self.owned);
        if self.peer() >= 0 {
            d.field("same_thread_peer", &self.peer());
        }
    }
}

impl Stream<'static> {
    /// Builds a stream for `fd` in a heap slot obtained by the caller: the
    /// handles own the slot and free it when the last one is dropped.
    pub fn in_slot(slot: HeapSlot<StreamMem>, fd: OwnedFd) -> Stream<'static> {
        let mut ptr = slot.leak();
        // SAFETY: the slot is live, initialized, and nothing else refers to
        // it; the stream takes it over for good (freed in `drop`).
        let mut s = Stream::in_mem(unsafe { ptr.as_mut() }, fd);
        s.owned = true;
        s
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        let left = self.handles() - 1;
        self.set_handles(left);
        if left != 0 {
            return;
        }
        self.close_now();
        if self.owned {
            // SAFETY: `owned` handles share a leaked `HeapSlot`; this is the
            // last handle, so nothing references it any more.
            unsafe { heap::free(self.mem) };
        }
    }
}

impl fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Stream");
        self.debug_fields(&mut d);
        d.field("send", &(self.no_send == 0))
            .field("recv", &(self.no_recv == 0))
            .finish()
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
        let all = [RBUSY, SBUSY, INDONE, OUTDONE, INERR, OUTERR, SENT, NOTSUP];
        let mut seen = 0u8;
        for b in all {
            assert_eq!(b.count_ones(), 1);
            assert_eq!(seen & b, 0);
            seen |= b;
        }
    }

    #[test]
    fn the_last_handle_closes() {
        use std::os::unix::net::UnixStream;
        let (x, y) = UnixStream::pair().unwrap();
        x.set_nonblocking(true).unwrap();
        y.set_nonblocking(true).unwrap();
        let mut mem = StreamMem::new();
        let s = Stream::in_mem(&mut mem, x.into());
        let (r, w) = s.split();
        // Splitting a half again: three handles, each with fewer rights.
        let (rr, rw) = r.split();
        assert_eq!(
            rw.check_send(0).unwrap_err().raw_os_error(),
            Some(libc::ENOTSUP)
        );
        assert_eq!(
            rw.check_recv(0).unwrap_err().raw_os_error(),
            Some(libc::ENOTSUP)
        );
        assert!(rr.check_recv(0).is_ok());
        w.send_all(b"ab", 0).unwrap();
        let mut y = y;
        let mut buf = [0u8; 2];
        std::io::Read::read_exact(&mut y, &mut buf).unwrap();
        drop(w);
        drop(rw);
        // One handle left: still open.
        std::io::Write::write_all(&mut y, b"c").unwrap();
        let mut one = [0u8; 1];
        rr.recv_all(&mut one, 0).unwrap();
        drop(rr);
        // All gone: the peer reads the end of stream.
        y.set_nonblocking(false).unwrap();
        assert_eq!(std::io::Read::read(&mut y, &mut one).unwrap(), 0);
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
