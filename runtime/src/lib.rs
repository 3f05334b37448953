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
//! * [`sock`] is the socket core every socket family (IPC, TCP) is built
//!   on: one byte-stream implementation, as libdill's `fd.c`.
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
//! Each coroutine runs on its own stack of [`default_stack_size`] bytes
//! ([`DEFAULT_STACK_SIZE`], 256 KiB, unless changed process-wide with
//! [`set_default_stack_size`]), or the size given to [`go_with_stack_size`],
//! with a guard page below it. Stacks are carved from large regions of
//! address space reserved per thread (`MAP_NORESERVE`: memory is used only
//! for the pages a coroutine touches, typically one), and the guard pages
//! are installed with `MADV_GUARD_INSTALL` (Linux 6.13 and later), so a
//! region stays a single memory mapping however many stacks it holds; on
//! older kernels, `mprotect` guards are used instead. Stacks of returned
//! coroutines are reused most-recent-first; beyond a cache of idle stacks
//! (1024 per size and thread, `DILL_STACK_CACHE` to change), their memory is
//! given back to the kernel when the thread next idles (at once past 16
//! times the cache), so RSS falls after a burst. A million parked
//! coroutines take about 4.2 KiB each.
//!
//! A coroutine that overflows its stack kills the process with the message
//! `dill: coroutine stack overflow`, never silent corruption. [`go`] fails
//! with `ENOMEM` when a stack cannot be had without eating into the headroom
//! kept for the rest of the process (address space under a finite
//! `RLIMIT_AS`, and memory mappings under `vm.max_map_count`), so the
//! allocator and the rest of the program keep working.
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod blocking;
mod bundle;
mod bytestream;
mod chan;
mod choose;
mod coroutine;
mod error;
mod fd;
mod inspect;
mod knob;
mod mpmc;
mod msgstream;
mod reactor;
mod remote;
mod ring;
mod sched;
mod scope;
mod shared;
pub mod sock;
mod stack;
mod thread;
mod time;
mod timer;

pub use blocking::blocking;
pub use bundle::{bundle, Bundle};
pub use bytestream::{brecv, brecvl, bsend, bsendl, ByteStream};
pub use chan::{chmake, chmake_buffered, Chan};
pub use choose::{choose, ChanEnd, Clause};
pub use coroutine::{
    check_cancelled, go, go_with_stack_size, is_cancelled, msleep, yield_now, Coroutine,
};
pub use error::errno;
pub use fd::{fdclean, fdin, fdin_edge, fdin_exclusive, fdout, fdout_edge, fdwake_in, fdwake_out};
pub use inspect::{
    coroutines, counters, dump, dump_on_signal, dump_on_sigquit, stall_detector, Builder,
    CoroutineInfo, Counters, State, Wait,
};
pub use msgstream::{mrecv, mrecvl, msend, msendl, MsgStream};
pub use scope::{scope, Scope};
pub use shared::{chmake_shared, SharedChan};
pub use stack::{
    default_stack_size, set_default_stack_size, DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE,
};
pub use thread::{spawn_thread, spawn_threads, Thread, Threads};

/// Diagnostics for the test suite; not part of the API.
#[doc(hidden)]
pub mod testing {
    pub use crate::sched::live_schedulers;
    pub use crate::stack::{
        reserved_stack_bytes, running_stack_top_page, stack_guards_use_madvise,
    };
}
pub use time::{after, now};
