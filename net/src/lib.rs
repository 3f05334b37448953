//! # dill-net
//!
//! IP networking for [`dill_runtime`] coroutines, in the shape of libdill:
//! addresses and name resolution, TCP byte streams, UDP datagrams.
//!
//! TCP streams are built on the runtime's socket core
//! ([`dill_runtime::sock`]), the same one IPC streams use: the same state
//! bits, send/receive loops, half-close, orderly close and split halves.
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod addr;
mod tcp;
mod tcp_listener;

pub use addr::IpMode;
pub use tcp::{
    tcp_close, tcp_connect, tcp_connect_mem, tcp_done, tcp_fromfd, TcpMem, TcpReadHalf, TcpStream,
    TcpWriteHalf,
};
pub use tcp_listener::{
    tcp_accept, tcp_accept_mem, tcp_listen, tcp_listen_mem, tcp_listener_fromfd, TcpListener,
    TcpListenerMem,
};

/// Size in bytes of the memory a TCP stream lives in: `size_of::<TcpMem>()`.
pub const TCP_SIZE: usize = std::mem::size_of::<TcpMem>();

/// Size in bytes of the memory a TCP listener lives in:
/// `size_of::<TcpListenerMem>()`.
pub const TCP_LISTENER_SIZE: usize = std::mem::size_of::<TcpListenerMem>();
