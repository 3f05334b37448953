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
mod dns;
mod happyeyeballs;
mod tcp;
mod tcp_link;
mod tcp_listener;
mod udp;

pub use addr::{ipaddr_local, ipaddr_remote, ipaddr_remotes, IpMode};
pub use happyeyeballs::happyeyeballs_connect;
pub use tcp::{
    tcp_close, tcp_connect, tcp_connect_mem, tcp_done, tcp_fromfd, TcpMem, TcpReadHalf, TcpStream,
    TcpWriteHalf,
};
pub use tcp_listener::{
    tcp_accept, tcp_accept_mem, tcp_listen, tcp_listen_mem, tcp_listener_fromfd, TcpListener,
    TcpListenerMem,
};
pub use udp::{udp_open, udp_recv, udp_recvl, udp_send, udp_sendl, UdpSocket};

/// Size in bytes of the memory a TCP stream lives in: `size_of::<TcpMem>()`.
pub const TCP_SIZE: usize = std::mem::size_of::<TcpMem>();

/// Size in bytes of the memory a TCP listener lives in:
/// `size_of::<TcpListenerMem>()`.
pub const TCP_LISTENER_SIZE: usize = std::mem::size_of::<TcpListenerMem>();
