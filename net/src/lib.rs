//! # dill-net
//!
//! IP networking for [`dill_runtime`] coroutines, in the shape of libdill:
//! addresses and name resolution, TCP byte streams, UDP datagrams.
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod addr;
mod dns;
mod udp;

pub use addr::{ipaddr_local, ipaddr_remote, ipaddr_remotes, IpMode};
pub use udp::{udp_open, udp_recv, udp_recvl, udp_send, udp_sendl, UdpSocket};
