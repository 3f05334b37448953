//! # dill-runtime
//!
//! Stackful coroutines with structured concurrency, in the shape of
//! [libdill](https://libdill.org): one scheduler per OS thread, an epoll
//! reactor, a timer heap, millisecond deadlines and cancellation.
//!
//! * [`go`] launches a coroutine and returns its [`Coroutine`] handle.
//!   Dropping the handle cancels the coroutine and waits until it has
//!   returned, so no coroutine outlives its owner.
//! * Blocking calls ([`yield_now`], [`msleep`], [`fdin`], [`fdout`],
//!   [`Coroutine::join`], [`Bundle::wait`], channel operations) take an
//!   absolute `deadline` in milliseconds on the [`now`] clock: `-1` means
//!   never, `0` means "only if it can be done without blocking", a deadline
//!   in the past behaves like `0`, and other negative values are `EINVAL`.
//! * In a cancelled coroutine every blocking call fails at once with
//!   `ECANCELED`, and so do calls that create handles.
//! * [`chmake`] makes an unbuffered rendezvous channel with two typed ends;
//!   [`choose`] waits on several send and receive [`Clause`]s at once, over
//!   channels of different element types, without allocating.
//! * [`bundle`] owns a set of coroutines and cancels them together.
//! * [`spawn_thread`] and [`spawn_threads`] start OS threads with their own
//!   schedulers (one per core); dropping their handles cancels and joins
//!   them, coroutines included.
//! * The thread's own stack is a coroutine too: a blocking call made from
//!   `main` runs the other coroutines until it can return.
//!
//! Errors are `std::io::Error`s carrying the errno libdill documents, so
//! `err.raw_os_error() == Some(dill::errno::ETIMEDOUT)` works (see
//! [`errno`]).
//!
//! Coroutines never move between threads; every handle is `!Send` and
//! `!Sync`.
//!
//! ## Stacks
//!
//! Each coroutine runs on its own `mmap`ed stack of [`DEFAULT_STACK_SIZE`]
//! (256 KiB) bytes, or the size given to [`go_with_stack_size`], with a
//! guard page below it. Stacks of returned coroutines are pooled per thread
//! and reused. A coroutine that overflows its stack kills the process with
//! the message `dill: coroutine stack overflow`, never silent corruption.
//! When no new stack can be mapped (out of memory, or `vm.max_map_count`
//! exhausted; every stack takes two mappings, so about 32k coroutines with
//! the default limit of 65530), [`go`] fails with `ENOMEM`.
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod bundle;
mod bytestream;
mod chan;
mod choose;
mod coroutine;
mod error;
mod fd;
mod msgstream;
mod reactor;
mod ring;
mod sched;
pub mod sock;
mod stack;
mod thread;
mod time;
mod timer;

pub use bundle::{bundle, Bundle};
pub use bytestream::{brecv, brecvl, bsend, bsendl, ByteStream};
pub use chan::{chmake, Chan};
pub use choose::{choose, Clause};
pub use coroutine::{
    check_cancelled, go, go_with_stack_size, is_cancelled, msleep, yield_now, Coroutine,
};
pub use error::errno;
pub use fd::{fdclean, fdin, fdin_edge, fdin_exclusive, fdout, fdout_edge, fdwake_in, fdwake_out};
pub use msgstream::{mrecv, mrecvl, msend, msendl, MsgStream};
pub use stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
pub use thread::{spawn_thread, spawn_threads, Thread, Threads};
pub use time::{after, now};
