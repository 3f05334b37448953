//! Passing file descriptors over a stream: `ipc_sendfd` and `ipc_recvfd`.
//!
//! Each descriptor travels as `SCM_RIGHTS` ancillary data attached to a
//! single marker byte of the stream. Linux never merges a message carrying
//! descriptors with neighbouring data when it is read, and never lets one
//! read cross it, so as long as the receiver asks for exactly as many bytes
//! as the sender sent before the descriptor, the marker is read by
//! `ipc_recvfd` and nothing else.

use std::io::{self};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use dill_runtime::sock::{INDONE, INERR};

use crate::stream::IpcStream;
use crate::sys::err;

/// The byte that carries the descriptor.
const MARKER: u8 = 0;

/// Size of a control message carrying one descriptor.
// SAFETY: CMSG_SPACE only does arithmetic on its argument.
const RIGHTS_SPACE: usize =
    unsafe { libc::CMSG_SPACE(mem::size_of::<libc::c_int>() as u32) } as usize;

/// Size of the control buffer of a receive: one descriptor, plus the count
/// of bytes left that the kernel adds to every receive once the stream
/// core has asked for it (`SO_INQ`; without room for both, the descriptor
/// would be cut off and closed).
const CMSG_BUF: usize = 2 * RIGHTS_SPACE;

/// A control-message buffer aligned for `cmsghdr`.
#[repr(C)]
union CmsgBuf {
    _align: libc::cmsghdr,
    bytes: [u8; CMSG_BUF],
}

impl CmsgBuf {
    fn new() -> CmsgBuf {
        CmsgBuf {
            bytes: [0; CMSG_BUF],
        }
    }
}

/// Sends a duplicate of descriptor `fd` over `s`.
///
/// # Errors
///
/// `EBADF`, `ECANCELED`, `ECONNRESET`, `EINVAL`, `EPIPE`, `ETOOMANYREFS`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_sendfd.md")]
pub fn ipc_sendfd(s: &mut IpcStream<'_>, fd: BorrowedFd<'_>, deadline: i64) -> io::Result<()> {
    s.core.check_send(deadline)?;
    let mut byte = MARKER;
    let mut iov = libc::iovec {
        iov_base: (&mut byte as *mut u8).cast(),
        iov_len: 1,
    };
    let mut cbuf = CmsgBuf::new();
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&mut cbuf as *mut CmsgBuf).cast();
    msg.msg_controllen = RIGHTS_SPACE as _;
    // SAFETY: `msg` describes a control buffer of CMSG_SPACE(sizeof(int))
    // bytes, aligned for cmsghdr, so the first header and its int-sized
    // payload fit in it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(mem::size_of::<libc::c_int>() as u32) as _;
        libc::CMSG_DATA(cmsg)
            .cast::<libc::c_int>()
            .write_unaligned(fd.as_raw_fd());
    }
    loop {
        // SAFETY: `msg` points at live `iov`, `byte` and `cbuf`.
        let n = unsafe { libc::sendmsg(s.fd(), &msg, libc::MSG_NOSIGNAL) };
        if n > 0 {
            s.core.wake_peer_reader();
            return Ok(());
        }
        let e = if n == 0 {
            err(libc::EAGAIN)
        } else {
            io::Error::last_os_error()
        };
        // The kernel refused the descriptor itself (not open, or passed on
        // too many times): nothing was sent, the stream is still in step.
        if let Some(libc::EBADF | libc::ETOOMANYREFS) = e.raw_os_error() {
            return Err(e);
        }
        s.core.send_failed(e, deadline)?;
    }
}

/// Receives a descriptor sent with `ipc_sendfd` over `s`.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `EPIPE`, `EPROTO`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_recvfd.md")]
pub fn ipc_recvfd(s: &mut IpcStream<'_>, deadline: i64) -> io::Result<OwnedFd> {
    s.core.check_recv(deadline)?;
    s.core.let_peer_answer();
    let mut byte = 0u8;
    let mut iov = libc::iovec {
        iov_base: (&mut byte as *mut u8).cast(),
        iov_len: 1,
    };
    let mut cbuf = CmsgBuf::new();
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    loop {
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = (&mut cbuf as *mut CmsgBuf).cast();
        msg.msg_controllen = CMSG_BUF as _;
        msg.msg_flags = 0;
        // SAFETY: `msg` points at a live one-byte buffer and a live control
        // buffer of the size it claims.
        let n = unsafe { libc::recvmsg(s.fd(), &mut msg, crate::sys::RECV_CLOEXEC) };
        if n > 0 {
            s.core.wake_peer_writer();
            break;
        }
        if n == 0 {
            s.core.set(INDONE);
            return Err(err(libc::EPIPE));
        }
        s.core.recv_failed(io::Error::last_os_error(), deadline)?;
    }
    // Take every descriptor that arrived, so none can leak.
    let mut first: Option<OwnedFd> = None;
    let mut extra = false;
    for_each_fd(&msg, |fd| {
        // SAFETY: the kernel installed `fd` in our table for us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if first.is_none() {
            first = Some(fd);
        } else {
            extra = true; // dropped, hence closed
        }
    });
    let truncated = msg.msg_flags & libc::MSG_CTRUNC != 0;
    match first {
        Some(fd) if !truncated && !extra => {
            crate::sys::finish_received_fd(fd.as_raw_fd())?;
            Ok(fd)
        }
        _ => {
            // A data byte where a descriptor was expected, or a message we
            // did not produce: the stream is out of step.
            drop(first);
            s.core.set(INERR);
            Err(err(libc::EPROTO))
        }
    }
}

/// Calls `f` with every descriptor carried by `SCM_RIGHTS` messages in
/// `msg`'s control buffer.
fn for_each_fd(msg: &libc::msghdr, mut f: impl FnMut(RawFd)) {
    // SAFETY: `msg` was filled by recvmsg: its control buffer holds
    // `msg_controllen` bytes of well-formed control messages, which the
    // CMSG_* helpers walk without leaving it; payloads may be unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..payload / mem::size_of::<libc::c_int>() {
                    f(data.add(i).read_unaligned());
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
}
