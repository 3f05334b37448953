//! Ending a connection: `ipc_done` (half-close) and `ipc_close` (orderly
//! close), both the shared core's.

use std::io;

use crate::stream::IpcStream;

/// Half-closes `s`: no more data will be sent.
///
/// # Errors
///
/// `EINVAL`, `ECONNRESET`, `EPIPE`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_done.md")]
pub fn ipc_done(s: &mut IpcStream<'_>, deadline: i64) -> io::Result<()> {
    s.core.done(deadline)
}

/// Closes `s` after an orderly end-of-stream handshake with the peer.
///
/// # Errors
///
/// `ECANCELED`, `ECONNRESET`, `EINVAL`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_close.md")]
pub fn ipc_close(s: IpcStream<'_>, deadline: i64) -> io::Result<()> {
    s.core.close(deadline)
}
