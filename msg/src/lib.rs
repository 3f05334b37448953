//! # dill-msg
//!
//! Message sockets layered on byte streams, in the shape of libdill:
//! PREFIX (size-prefixed messages), SUFFIX (delimited messages) and TERM
//! (a terminal handshake over any message socket).
//!
//! Each layer owns the stream below it, keeps its whole state inline (a few
//! bits, the delimiter or the terminal message: no heap allocation per
//! attach or per message) and implements [`MsgStream`], so the layers nest:
//! `term_attach(prefix_attach(ipc_stream, 4, PREFIX_BIG_ENDIAN)?, b"STOP")`.
//! `detach` gives the stream below back, positioned exactly after the last
//! message, so a protocol can switch framing mid-connection.
//!
//! The wire formats are libdill's, so dill and libdill peers understand each
//! other. Where libdill's layers misbehave (a size that does not fit the
//! header is truncated, an oversized inbound message breaks or is silently
//! cut, TERM sends its terminal message as data) these refuse with
//! `EMSGSIZE` or `EINVAL` instead, and an inbound message that does not fit
//! the caller's buffers is skipped, leaving the stream usable.
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod prefix;
mod suffix;
mod term;
mod util;

pub use dill_runtime::{mrecv, mrecvl, msend, msendl, MsgStream};
pub use prefix::{prefix_attach, PrefixStream, PREFIX_BIG_ENDIAN, PREFIX_LITTLE_ENDIAN};
pub use suffix::{suffix_attach, SuffixStream};
pub use term::{term_attach, term_done, TermStream};
