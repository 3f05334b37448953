//! # dill-msg
//!
//! Message sockets layered on byte streams, in the shape of libdill:
//! PREFIX (size-prefixed messages), SUFFIX (delimited messages) and TERM
//! (a terminal handshake over any message socket).
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub use dill_runtime::{mrecv, mrecvl, msend, msendl, MsgStream};
