//! This crate is the facade: it re-exports [`dill_runtime`] (coroutines,
//! scheduler, deadlines, cancellation, bundles, channels) and [`dill_ipc`]
//! (AF_UNIX byte streams). The project README follows.
#![doc = include_str!("../README.md")]
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub use dill_ipc::*;
pub use dill_msg::*;
pub use dill_net::*;
pub use dill_runtime::*;
