//! Ending a connection: `ipc_done` (half-close) and `ipc_close` (orderly
//! close).

use std::io;

use crate::stream::{IpcStream, INDONE, INERR, OUTDONE, OUTERR};
use crate::sys::{check_deadline, err, syscall};

/// `shutdown(SHUT_WR)` on the stream, recording it.
fn shutdown_write(s: &mut IpcStream<'_>) -> io::Result<()> {
    let st = s.state();
    if st & OUTDONE != 0 {
        return Err(err(libc::EPIPE));
    }
    if st & OUTERR != 0 {
        return Err(err(libc::ECONNRESET));
    }
    let res = syscall!(
        // SAFETY: shutdown() takes no pointers.
        unsafe { libc::shutdown(s.fd(), libc::SHUT_WR) }
    );
    match res {
        Ok(_) => {
            s.set(OUTDONE);
            s.wake_peer_reader();
            Ok(())
        }
        Err(e) => {
            s.set(OUTERR);
            Err(match e.raw_os_error() {
                Some(libc::ENOTCONN) => err(libc::ECONNRESET),
                _ => e,
            })
        }
    }
}

/// Half-closes `s`: no more data will be sent.
///
/// # Errors
///
/// `EINVAL`, `ECONNRESET`, `EPIPE`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_done.md")]
pub fn ipc_done(s: &mut IpcStream<'_>, deadline: i64) -> io::Result<()> {
    check_deadline(deadline)?;
    shutdown_write(s)
}

/// Closes `s` after an orderly end-of-stream handshake with the peer.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_close.md")]
pub fn ipc_close(mut s: IpcStream<'_>, deadline: i64) -> io::Result<()> {
    // `s` is dropped, hence closed, on every return path.
    check_deadline(deadline)?;
    if s.state() & OUTDONE == 0 {
        shutdown_write(&mut s)?;
    }
    let st = s.state();
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
        let n = unsafe { libc::recv(s.fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n == 0 {
            s.set(INDONE);
            return Ok(());
        }
        if n < 0 {
            s.recv_failed(io::Error::last_os_error(), deadline)?;
        }
    }
}
