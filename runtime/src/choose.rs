//! `choose`: one of several channel operations, whichever can happen first.
//!
//! Each [`Clause`] is typed when it is built (it borrows a `Chan<T>` or a
//! `SharedChan<T>` and an `Option<T>` slot) and erased afterwards (it keeps
//! a pointer to the slot and a static table of functions monomorphised for
//! the channel kind and `T`), so one slice can mix channels of different
//! kinds and element types. The clauses' queue nodes live inside the slice
//! on the caller's stack: `choose` allocates nothing.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use crate::chan::{attempt, may_block, Chan, Core, Node, BLOCK};
use crate::error::{errno, wait_result};
use crate::inspect::Wait;
use crate::remote::{RawLock, Waiter};
use crate::sched::wait_on;
use crate::shared::{self, SharedChan, SharedInner};
use crate::time;

/// What `choose` needs from one kind of channel, erased over the element
/// type: one static table per channel type and element type.
#[doc(hidden)]
#[derive(Debug)]
pub struct ClauseOps {
    /// Tries the operation without blocking (`attempt` of the kind).
    attempt: unsafe fn(*const (), usize, bool, *mut ()) -> i32,
    /// Shared channels: their lock, and how to queue and withdraw a node.
    shared: Option<SharedOps>,
}

#[derive(Debug)]
struct SharedOps {
    lock: unsafe fn(*const ()) -> *const RawLock,
    enqueue: unsafe fn(*const (), usize, bool, *const Node),
    withdraw: unsafe fn(*const (), usize, bool, *const Node),
    /// After queueing: may the clause complete after all? (A lock-free
    /// partner raced the decision to wait; see `shared::recheck`.)
    recheck: unsafe fn(*const (), usize, bool, *const Node) -> bool,
    /// Unlinks a queued, unclaimed node with the lock held.
    unlink: unsafe fn(*const (), usize, bool, *const Node),
}

mod sealed {
    /// Keeps [`ChanEnd`](super::ChanEnd) implemented only by dill's
    /// channel ends.
    pub trait Sealed {
        /// The channel's core, the end, and its clause operations.
        #[doc(hidden)]
        fn clause_target(&self) -> (*const (), usize, &'static super::ClauseOps);
    }
}

/// A channel end that [`Clause::send`] and [`Clause::recv`] accept: a
/// [`Chan`] or a [`SharedChan`], so that one [`choose`] can mix both.
/// Sealed: implemented by dill's channel ends only.
pub trait ChanEnd: sealed::Sealed {
    /// The type of the values the channel carries.
    type Item;
}

/// Local channels' [`attempt`] with the core and slot pointers erased.
///
/// # Safety
/// As [`attempt`]; `core` is a `Core` of a `Chan<T>`, `slot` a
/// `*mut Option<T>`.
unsafe fn attempt_local<T>(core: *const (), end: usize, send: bool, slot: *mut ()) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { attempt::<T>(&*(core as *const Core), end, send, slot as *mut Option<T>) }
}

/// Shared channels' attempt, erased likewise. The caller holds the lock.
///
/// # Safety
/// As `shared::attempt`; `core` is a `SharedInner<T>`.
unsafe fn attempt_shared<T>(core: *const (), end: usize, send: bool, slot: *mut ()) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe {
        shared::attempt::<T>(
            &*(core as *const SharedInner<T>),
            end,
            send,
            slot as *mut Option<T>,
        )
    }
}

/// # Safety
/// `core` is a live `SharedInner<T>`.
unsafe fn lock_shared<T>(core: *const ()) -> *const RawLock {
    // SAFETY: the caller's promise.
    unsafe { &(*(core as *const SharedInner<T>)).lock }
}

/// # Safety
/// As `shared::enqueue`.
unsafe fn enqueue_shared<T>(core: *const (), end: usize, send: bool, n: *const Node) {
    // SAFETY: forwarded from the caller.
    unsafe { shared::enqueue::<T>(&*(core as *const SharedInner<T>), end, send, n) }
}

/// # Safety
/// As `shared::withdraw`.
unsafe fn withdraw_shared<T>(core: *const (), end: usize, send: bool, n: *const Node) {
    // SAFETY: forwarded from the caller.
    unsafe { shared::withdraw::<T>(&*(core as *const SharedInner<T>), end, send, n) }
}

/// # Safety
/// As `shared::recheck`.
unsafe fn recheck_shared<T>(core: *const (), end: usize, send: bool, n: *const Node) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { shared::recheck::<T>(&*(core as *const SharedInner<T>), end, send, n) }
}

/// # Safety
/// As `shared::unlink_locked`.
unsafe fn unlink_shared<T>(core: *const (), end: usize, send: bool, n: *const Node) {
    // SAFETY: forwarded from the caller.
    unsafe { shared::unlink_locked::<T>(&*(core as *const SharedInner<T>), end, send, n) }
}

struct LocalOps<T>(PhantomData<T>);
impl<T> LocalOps<T> {
    const OPS: ClauseOps = ClauseOps {
        attempt: attempt_local::<T>,
        shared: None,
    };
}

struct SharedOpsOf<T>(PhantomData<T>);
impl<T> SharedOpsOf<T> {
    const OPS: ClauseOps = ClauseOps {
        attempt: attempt_shared::<T>,
        shared: Some(SharedOps {
            lock: lock_shared::<T>,
            enqueue: enqueue_shared::<T>,
            withdraw: withdraw_shared::<T>,
            recheck: recheck_shared::<T>,
            unlink: unlink_shared::<T>,
        }),
    };
}

impl<T> sealed::Sealed for Chan<T> {
    #[inline]
    fn clause_target(&self) -> (*const (), usize, &'static ClauseOps) {
        (
            self.core() as *const Core as *const (),
            self.end(),
            &LocalOps::<T>::OPS,
        )
    }
}

impl<T> ChanEnd for Chan<T> {
    type Item = T;
}

impl<T: Send> sealed::Sealed for SharedChan<T> {
    #[inline]
    fn clause_target(&self) -> (*const (), usize, &'static ClauseOps) {
        (
            self.inner() as *const SharedInner<T> as *const (),
            self.end(),
            &SharedOpsOf::<T>::OPS,
        )
    }
}

impl<T: Send> ChanEnd for SharedChan<T> {
    type Item = T;
}

/// One operation offered to [`choose`]: a send or a receive on one channel
/// end, local ([`Chan`]) or shared ([`SharedChan`]).
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
    core: *const (),
    end: usize,
    send: bool,
    /// A send clause built on an empty slot.
    empty: bool,
    ops: &'static ClauseOps,
    _marker: PhantomData<&'a mut ()>,
}

impl<'a> Clause<'a> {
    /// A clause sending the value in `val` on `ch`. When it fires, `val`
    /// is left `None`; otherwise the value stays in `val`. A clause built
    /// on an empty `val` makes [`choose`] fail with `EINVAL`.
    #[inline]
    pub fn send<C: ChanEnd>(ch: &'a C, val: &'a mut Option<C::Item>) -> Clause<'a> {
        let empty = val.is_none();
        Clause::new(ch, val, true, empty)
    }

    /// A clause receiving from `ch` into `out`. `out` is set to `None` now
    /// (dropping what it held) and to `Some(value)` if the clause fires.
    #[inline]
    pub fn recv<C: ChanEnd>(ch: &'a C, out: &'a mut Option<C::Item>) -> Clause<'a> {
        *out = None;
        Clause::new(ch, out, false, false)
    }

    #[inline]
    fn new<C: ChanEnd>(
        ch: &'a C,
        slot: &'a mut Option<C::Item>,
        send: bool,
        empty: bool,
    ) -> Clause<'a> {
        let (core, end, ops) = ch.clause_target();
        let mut node = Node::new();
        node.slot = slot as *mut Option<C::Item> as *mut ();
        Clause {
            node,
            core,
            end,
            send,
            empty,
            ops,
            _marker: PhantomData,
        }
    }

    /// Is this a send clause?
    pub fn is_send(&self) -> bool {
        self.send
    }

    /// After [`choose`] failed with `EPIPE`: whether this clause is the one
    /// that met a channel end that is done or dropped (libdill returns its
    /// index with `EPIPE`). False for every clause after any other outcome.
    pub fn is_done(&self) -> bool {
        self.node.done.get()
    }
}

impl fmt::Debug for Clause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clause")
            .field("op", &if self.send { "send" } else { "recv" })
            .field("shared", &self.ops.shared.is_some())
            .field("end", &self.end)
            .field("empty", &self.empty)
            .field("done", &self.node.done.get())
            .finish_non_exhaustive()
    }
}

/// Performs whichever of `clauses` can happen first and returns its index.
///
/// If several clauses can complete at once, the one listed first wins.
/// Otherwise the caller blocks until one completes, the deadline passes or
/// the coroutine is cancelled. Exactly one clause completes on success; no
/// other clause has any effect. Clauses may mix local and shared channels.
///
/// # Errors
///
/// * `EINVAL`: `deadline` is negative other than `-1`, a send clause was
///   built on an empty `Option`, or there are more than `i32::MAX` clauses.
/// * `EPIPE`: the first clause that could not wait is a send on an end
///   that is done or whose peer is dropped, or a receive from a peer that
///   is done or dropped; or that happened to one of the channels while
///   waiting. [`Clause::is_done`] tells which clause it was.
/// * `ETIMEDOUT`: no clause could complete before the deadline.
/// * `ECANCELED`: the calling coroutine is being cancelled and no clause
///   could complete at once.
#[doc = include_str!("../../docs/choose.md")]
#[inline(always)]
pub fn choose(clauses: &mut [Clause<'_>], deadline: i64) -> io::Result<usize> {
    time::check(deadline)?;
    let mut any_shared = false;
    for c in clauses.iter() {
        if c.empty {
            return Err(errno(libc::EINVAL));
        }
        c.node.done.set(false);
        any_shared |= c.ops.shared.is_some();
    }
    if clauses.len() > i32::MAX as usize {
        return Err(errno(libc::EINVAL));
    }
    if any_shared {
        return choose_shared(clauses, deadline);
    }
    for (i, c) in clauses.iter().enumerate() {
        // SAFETY: the clause borrows its channel (so the core is alive) and
        // its slot for `'a`; `attempt` was instantiated for that channel's
        // element type; no other reference into the core is alive.
        let r = unsafe { (c.ops.attempt)(c.core, c.end, c.send, c.node.slot) };
        if r != BLOCK {
            if r == -libc::EPIPE {
                c.node.done.set(true);
            }
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
        unsafe { (*(c.core as *const Core)).enqueue(c.end, c.send, &c.node) };
    }
    let r = wait_on(Wait::Choose(clauses.len()), deadline, true);
    for c in clauses.iter() {
        // SAFETY: enqueued above with the same arguments.
        unsafe { (*(c.core as *const Core)).withdraw(c.end, c.send, &c.node) };
    }
    wait_result(r)
}

/// Calls `f` once for each distinct lock of the shared clauses, in address
/// order (the order every `choose` takes them in, so two never deadlock).
fn each_lock(clauses: &[Clause<'_>], mut f: impl FnMut(&RawLock)) {
    let mut last: *const RawLock = std::ptr::null();
    loop {
        let mut next: *const RawLock = std::ptr::null();
        for c in clauses {
            if let Some(sh) = &c.ops.shared {
                // SAFETY: the clause borrows its shared channel.
                let l = unsafe { (sh.lock)(c.core) };
                if l > last && (next.is_null() || l < next) {
                    next = l;
                }
            }
        }
        if next.is_null() {
            return;
        }
        // SAFETY: the lock belongs to a borrowed, live channel.
        f(unsafe { &*next });
        last = next;
    }
}

/// `choose` with at least one shared clause: the same steps with the
/// shared channels' locks held from the first check until every node is
/// queued, and the wait published so that other threads can end it.
#[inline(never)]
fn choose_shared(clauses: &mut [Clause<'_>], deadline: i64) -> io::Result<usize> {
    // A buffered shared channel ends a wait with `shared::RETRY` (try the
    // buffer again) rather than with a value: then start over.
    loop {
        let cur = loop {
            each_lock(clauses, |l| l.lock());
            for (i, c) in clauses.iter().enumerate() {
                // SAFETY: as in `choose`; the locks of shared clauses are held.
                let r = unsafe { (c.ops.attempt)(c.core, c.end, c.send, c.node.slot) };
                if r != BLOCK {
                    each_lock(clauses, |l| l.unlock());
                    if r == -libc::EPIPE {
                        c.node.done.set(true);
                    }
                    return wait_result(r).map(|_| i);
                }
            }
            let cur = match may_block(deadline) {
                Ok(c) => c,
                Err(e) => {
                    each_lock(clauses, |l| l.unlock());
                    return Err(e);
                }
            };
            match shared::can_block() {
                Ok(true) => break cur,
                Ok(false) => {
                    each_lock(clauses, |l| l.unlock());
                    shared::ensure_remote()?;
                }
                Err(e) => {
                    each_lock(clauses, |l| l.unlock());
                    return Err(e);
                }
            }
        };
        let waiter = Waiter::new(cur);
        // SAFETY: `waiter` stays on this stack until `unpublish` below.
        let remote = unsafe { shared::publish(&waiter) };
        for (i, c) in clauses.iter_mut().enumerate() {
            c.node.task = cur;
            c.node.index = i as i32;
            c.node.waiter = &waiter;
            c.node.remote = remote;
            // SAFETY: the channels are borrowed (alive), the shared ones
            // locked; the nodes live in the borrowed slice until withdrawn.
            unsafe {
                match &c.ops.shared {
                    None => (*(c.core as *const Core)).enqueue(c.end, c.send, &c.node),
                    Some(sh) => (sh.enqueue)(c.core, c.end, c.send, &c.node),
                }
            }
        }
        let again = clauses.iter().any(|c| match &c.ops.shared {
            // SAFETY: every node was just queued; the shared locks are held.
            Some(sh) => unsafe { (sh.recheck)(c.core, c.end, c.send, &c.node) },
            None => false,
        });
        if again {
            for c in clauses.iter() {
                // SAFETY: queued above and claimed by nobody: claims of
                // shared nodes need the locks we hold, and local partners
                // run on this thread, which is busy here.
                unsafe {
                    match &c.ops.shared {
                        None => (*(c.core as *const Core)).withdraw(c.end, c.send, &c.node),
                        Some(sh) => (sh.unlink)(c.core, c.end, c.send, &c.node),
                    }
                }
            }
            each_lock(clauses, |l| l.unlock());
            shared::unpublish();
            continue;
        }
        each_lock(clauses, |l| l.unlock());
        let r = wait_on(Wait::Choose(clauses.len()), deadline, true);
        shared::unpublish();
        for c in clauses.iter() {
            // SAFETY: enqueued above with the same arguments; the wait ended.
            unsafe {
                match &c.ops.shared {
                    None => (*(c.core as *const Core)).withdraw(c.end, c.send, &c.node),
                    Some(sh) => (sh.withdraw)(c.core, c.end, c.send, &c.node),
                }
            }
        }
        if r == shared::RETRY {
            continue;
        }
        return wait_result(r);
    }
}
