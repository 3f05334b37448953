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

pub use addr::IpMode;
