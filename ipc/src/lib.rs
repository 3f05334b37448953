//! # dill-ipc
//!
//! `AF_UNIX` byte-stream sockets for [`dill_runtime`] coroutines, in the
//! shape of libdill's IPC protocol.
//!
//! * [`ipc_listen`] / [`ipc_accept`] / [`ipc_connect`] set up connections on
//!   a filesystem path; [`ipc_pair`] makes a connected pair;
//!   [`ipc_fromfd`] adopts an existing socket, [`ipc_listener_fromfd`] an
//!   existing listening one.
//! * [`IpcListener::share`] gives another thread (with its own scheduler)
//!   its own listener on the same socket; a connection then wakes only one
//!   of the threads waiting to accept.
//! * [`bsend`] / [`brecv`] (and the vectored [`bsendl`] / [`brecvl`]) move
//!   exact amounts of bytes, blocking the calling coroutine (never the
//!   thread) until done or until the deadline.
//! * [`ipc_done`] half-closes, [`ipc_close`] closes in an orderly way,
//!   dropping a stream closes it at once.
//! * [`ipc_sendfd`] / [`ipc_recvfd`] pass descriptors alongside the bytes.
//!
//! Every call that can block takes a *deadline*: an absolute time in
//! milliseconds on the clock of [`dill_runtime::now`], `-1` for none, `0`
//! for "only if it can be done at once". Errors are [`std::io::Error`]s
//! carrying the errno values libdill documents.
//!
//! The `_mem` variants build the socket in caller-provided memory
//! ([`IpcMem`], [`IpcListenerMem`]) and allocate nothing; the plain variants
//! put it on the heap and fail with `ENOMEM` rather than abort if that is
//! impossible.
//!
//! ## Linux notes
//!
//! * An `AF_UNIX` `connect` never completes asynchronously: it succeeds or
//!   fails at once, except that it says `EAGAIN` when the listener's
//!   backlog is full, and no readiness event ever announces that room has
//!   become available. [`ipc_connect`] therefore retries on a jittered
//!   exponential back-off (1 ms growing to 16 ms, never past the
//!   deadline). `EAGAIN` never reaches the caller.
//! * Sends use `MSG_NOSIGNAL`: writing to a closed peer is `ECONNRESET`,
//!   never `SIGPIPE`.
//! * Sockets are created `SOCK_CLOEXEC | SOCK_NONBLOCK`, accepted with
//!   `accept4`, and received descriptors arrive with `MSG_CMSG_CLOEXEC`.
//! * The two ends of an [`ipc_pair`] live on one thread (streams are
//!   `!Send`), so each wakes a coroutine waiting on the other directly
//!   after a send instead of waiting for the reactor to report it, and a
//!   receive that follows a send first lets the peer run: a request/reply
//!   round trip costs the same four system calls as with blocking
//!   sockets, with no `EAGAIN` and no `epoll_wait`.
//!
//! ## Example
//!
//! ```
//! use dill::*;
//!
//! let path = std::env::temp_dir().join(format!("dill-ipc-lib-{}.sock", std::process::id()));
//! let _ = std::fs::remove_file(&path);
//! let listener = ipc_listen(&path, 16)?;
//! let server = go(move || -> std::io::Result<()> {
//!     let mut s = ipc_accept(&listener, -1)?;
//!     let mut buf = [0u8; 5];
//!     brecv(&mut s, &mut buf, -1)?;
//!     bsend(&mut s, &buf, -1)
//! })?;
//! let mut c = ipc_connect(&path, after(1000))?;
//! bsend(&mut c, b"hello", -1)?;
//! let mut buf = [0u8; 5];
//! brecv(&mut c, &mut buf, after(1000))?;
//! assert_eq!(&buf, b"hello");
//! server.join(-1)??;
//! std::fs::remove_file(&path)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod sys;

mod addr;
mod close;
mod connect;
mod cred;
mod fdpass;
mod listener;
mod pair;
mod stream;

pub use close::{ipc_close, ipc_done};
pub use connect::{ipc_connect, ipc_connect_mem};
pub use cred::PeerCred;
pub use dill_runtime::{brecv, brecvl, bsend, bsendl, ByteStream};
pub use fdpass::{ipc_recvfd, ipc_sendfd};
pub use listener::{
    ipc_accept, ipc_accept_mem, ipc_listen, ipc_listen_mem, ipc_listener_fromfd, IpcListener,
    IpcListenerMem,
};
pub use pair::{ipc_fromfd, ipc_pair, ipc_pair_mem};
pub use stream::{IpcMem, IpcReadHalf, IpcStream, IpcWriteHalf};

/// Size in bytes of the memory an IPC stream lives in: `size_of::<IpcMem>()`.
pub const IPC_SIZE: usize = std::mem::size_of::<IpcMem>();

/// Size in bytes of the memory an IPC listener lives in:
/// `size_of::<IpcListenerMem>()`.
pub const IPC_LISTENER_SIZE: usize = std::mem::size_of::<IpcListenerMem>();
