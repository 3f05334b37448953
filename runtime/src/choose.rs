//! `choose`: one of several channel operations, whichever can happen first.
//!
//! Each [`Clause`] is typed when it is built (it borrows a `Chan<T>` and an
//! `Option<T>` slot) and erased afterwards (it keeps a pointer to the slot
//! and a function monomorphised for `T`), so one slice can mix channels of
//! different element types. The clauses' queue nodes live inside the slice
//! on the caller's stack: `choose` allocates nothing.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use crate::chan::{attempt, may_block, Chan, Core, Node, BLOCK};
use crate::error::{errno, wait_result};
use crate::sched::wait;
use crate::time;

/// Type-erased [`attempt`].
type AttemptFn = unsafe fn(&Core, usize, bool, *mut ()) -> i32;

/// [`attempt`] for `T`, with the slot pointer erased.
///
/// # Safety
/// As [`attempt`]; `slot` is a `*mut Option<T>`.
unsafe fn attempt_erased<T>(core: &Core, end: usize, send: bool, slot: *mut ()) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { attempt::<T>(core, end, send, slot as *mut Option<T>) }
}

/// One operation offered to [`choose`]: a send or a receive on one channel
/// end.
///
/// A send clause takes its value out of the `Option` it borrows only if
/// that clause fires; otherwise the value stays there for the caller. A
/// receive clause empties its `Option` when built and fills it if it fires.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let (a, _b) = dill::chmake::<u32>().unwrap();
/// let mut v = None;
/// assert_send(dill::Clause::recv(&a, &mut v));
/// ```
pub struct Clause<'a> {
    node: Node,
    core: *const Core,
    end: usize,
    send: bool,
    /// A send clause built on an empty slot.
    empty: bool,
    attempt: AttemptFn,
    _marker: PhantomData<&'a mut ()>,
}

impl<'a> Clause<'a> {
    /// A clause sending the value in `val` on `ch`. When it fires, `val`
    /// is left `None`; otherwise the value stays in `val`. A clause built
    /// on an empty `val` makes [`choose`] fail with `EINVAL`.
    pub fn send<T>(ch: &'a Chan<T>, val: &'a mut Option<T>) -> Clause<'a> {
        let empty = val.is_none();
        Clause::new(ch, val, true, empty)
    }

    /// A clause receiving from `ch` into `out`. `out` is set to `None` now
    /// (dropping what it held) and to `Some(value)` if the clause fires.
    pub fn recv<T>(ch: &'a Chan<T>, out: &'a mut Option<T>) -> Clause<'a> {
        *out = None;
        Clause::new(ch, out, false, false)
    }

    fn new<T>(ch: &'a Chan<T>, slot: &'a mut Option<T>, send: bool, empty: bool) -> Clause<'a> {
        let mut node = Node::new();
        node.slot = slot as *mut Option<T> as *mut ();
        Clause {
            node,
            core: ch.core(),
            end: ch.end(),
            send,
            empty,
            attempt: attempt_erased::<T>,
            _marker: PhantomData,
        }
    }

    /// Is this a send clause?
    pub fn is_send(&self) -> bool {
        self.send
    }
}

impl fmt::Debug for Clause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clause")
            .field("op", &if self.send { "send" } else { "recv" })
            .field("end", &self.end)
            .field("empty", &self.empty)
            .finish_non_exhaustive()
    }
}

/// Performs whichever of `clauses` can happen first and returns its index.
///
/// If several clauses can complete at once, the one listed first wins.
/// Otherwise the caller blocks until one completes, the deadline passes or
/// the coroutine is cancelled. Exactly one clause completes on success; no
/// other clause has any effect.
///
/// # Errors
///
/// * `EINVAL`: `deadline` is negative other than `-1`, a send clause was
///   built on an empty `Option`, or there are more than `i32::MAX` clauses.
/// * `EPIPE`: the first clause that could not wait is a send on an end
///   that is done or whose peer is dropped, or a receive from a peer that
///   is done or dropped; or that happened to one of the channels while
///   waiting.
/// * `ETIMEDOUT`: no clause could complete before the deadline.
/// * `ECANCELED`: the calling coroutine is being cancelled and no clause
///   could complete at once.
#[doc = include_str!("../../docs/choose.md")]
#[inline(always)]
pub fn choose(clauses: &mut [Clause<'_>], deadline: i64) -> io::Result<usize> {
    time::check(deadline)?;
    if clauses.len() > i32::MAX as usize || clauses.iter().any(|c| c.empty) {
        return Err(errno(libc::EINVAL));
    }
    for (i, c) in clauses.iter().enumerate() {
        // SAFETY: the clause borrows its channel (so the core is alive) and
        // its slot for `'a`; `attempt` was instantiated for that channel's
        // element type; no other reference into the core is alive.
        let r = unsafe { (c.attempt)(&*c.core, c.end, c.send, c.node.slot) };
        if r != BLOCK {
            return wait_result(r).map(|_| i);
        }
    }
    let cur = may_block(deadline)?;
    for (i, c) in clauses.iter_mut().enumerate() {
        c.node.task = cur;
        c.node.index = i as i32;
        // SAFETY: the core is alive (borrowed channel); the node lives in
        // the caller's slice, which is borrowed (so unmoved) until every
        // node is withdrawn below.
        unsafe { (*c.core).enqueue(c.end, c.send, &c.node) };
    }
    let r = wait(deadline, true);
    for c in clauses.iter() {
        // SAFETY: enqueued above with the same arguments.
        unsafe { (*c.core).withdraw(c.end, c.send, &c.node) };
    }
    wait_result(r)
}
