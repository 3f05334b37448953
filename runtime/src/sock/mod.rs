//! The socket core shared by every socket family (IPC, TCP, UDP): what
//! libdill keeps in its `fd.c`.
//!
//! This module is for crates that implement socket families on the
//! runtime; applications use the families (`ipc_*`, `tcp_*`) instead.
//!
//! * [`Stream`] is a connected, non-blocking byte-stream socket living in
//!   a [`StreamMem`] (caller memory, or a [`HeapSlot`]): libdill's state
//!   bits (`rbusy`, `sbusy`, `indone`, `outdone`, `inerr`, `outerr`), the
//!   `bsend`/`brecv` loops that try the system call first and wait only on
//!   `EAGAIN`, `io::Read`/`io::Write` helpers, the half-close
//!   ([`Stream::done`]), the orderly close ([`Stream::close`]), the split
//!   into a receiving and a sending handle ([`Stream::split`]), and taking
//!   the descriptor back out ([`Stream::into_fd`]). A family wraps it in
//!   its own types and adds what is specific to it (addresses, descriptor
//!   passing, credentials). The `stream_handles!` macro defines a family's
//!   split halves and the trait impls of its handles over [`Stream`] once
//!   for all families.
//! * [`Listener`] is a listening socket in a [`ListenerMem`]; [`accept`]
//!   takes one connection.
//! * [`RawAddr`] converts `std::net::SocketAddr` to and from the kernel's
//!   form without allocating.
//! * The helpers below create sockets close-on-exec and non-blocking in
//!   one call, and check descriptors handed over by the user.
//!
//! Sends use `MSG_NOSIGNAL`: writing to a closed peer is `ECONNRESET`,
//! never `SIGPIPE`.
#![doc = include_str!("../../../docs/sock.md")]

mod handle;
mod heap;
mod inet;
mod listener;
mod stream;
mod sys;

pub use heap::HeapSlot;
pub use inet::{local_addr, peer_addr, RawAddr};
pub use listener::{Listener, ListenerMem};
pub use stream::{Stream, StreamMem, INDONE, INERR, OUTDONE, OUTERR, RBUSY, SBUSY, SENT};
pub use sys::{
    accept, check_connected, check_deadline, close_waited, cvt, err, finish_connect,
    finish_received_fd, finish_socket, set_nonblocking, set_sockopt_int, sock_kind, socket,
    sockopt_int, SockKind, RECV_CLOEXEC, SOCK_FLAGS,
};
