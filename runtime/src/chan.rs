//! Channels: typed, unbuffered rendezvous channels with two ends.
//!
//! A channel is two *directions*. Direction `e` carries what is sent on end
//! `e` to end `e ^ 1`. Each direction has a FIFO queue of blocked senders and
//! one of blocked receivers, plus two state bits: `done` (the sending end
//! said [`Chan::done`] or was dropped) and `closed` (the receiving end was
//! dropped). Either bit turns later sends into `EPIPE`; `done` turns later
//! receives into `EPIPE` too.
//!
//! A blocked party is a [`Node`] living on its own (suspended, so stable)
//! stack, linked into a queue by raw pointer; its value slot (an
//! `Option<T>`) lives there as well. The party that completes a rendezvous
//! unlinks the partner's node, moves the value straight from the sender's
//! slot into the receiver's, and triggers the partner with the index of the
//! clause that fired. Nothing is allocated per operation.
//!
//! A node whose task has already been triggered (by another clause, a timer
//! or cancellation) but has not run yet stays linked until its owner
//! withdraws it; partners skip such nodes, so the first trigger always wins.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;
use std::rc::Rc;

use crate::error::{errno, wait_result};
use crate::inspect::Wait;
use crate::sched::{s, wait_on};
use crate::time;

/// [`attempt`] result: nobody to pair with, the caller would have to block.
pub(crate) const BLOCK: i32 = 1;

/// One blocked clause, linked into a channel queue. Lives on the blocked
/// task's stack; `task`, `index` and `slot` are set before linking and not
/// changed while linked.
#[derive(Debug)]
pub(crate) struct Node {
    prev: Cell<*const Node>,
    next: Cell<*const Node>,
    linked: Cell<bool>,
    /// The blocked task.
    pub(crate) task: usize,
    /// Clause index reported to the task when this node fires.
    pub(crate) index: i32,
    /// `*mut Option<T>`: the value to send (`Some`) or where to put the
    /// received one (`None`).
    pub(crate) slot: *mut (),
    /// Set when the channel's end was done or dropped while this node
    /// waited, and that ended the wait (`Clause::is_done`).
    pub(crate) done: Cell<bool>,
    /// Shared channels only: the wait's cross-thread claim and the owner
    /// scheduler's remote side (see `remote.rs`).
    pub(crate) waiter: *const crate::remote::Waiter,
    pub(crate) remote: *const crate::remote::Remote,
}

impl Node {
    pub(crate) const fn new() -> Node {
        Node {
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            linked: Cell::new(false),
            task: 0,
            index: 0,
            slot: ptr::null_mut(),
            done: Cell::new(false),
            waiter: ptr::null(),
            remote: ptr::null(),
        }
    }

    /// The next node in its queue.
    #[inline]
    pub(crate) fn next(&self) -> *const Node {
        self.next.get()
    }

    /// Is the node in a queue?
    #[inline]
    pub(crate) fn is_linked(&self) -> bool {
        self.linked.get()
    }
}

/// Intrusive FIFO of [`Node`]s.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) head: *const Node,
    tail: *const Node,
}

impl Queue {
    pub(crate) const fn new() -> Queue {
        Queue {
            head: ptr::null(),
            tail: ptr::null(),
        }
    }

    /// Appends `n`.
    ///
    /// # Safety
    /// `n` must be unlinked and stay valid and unmoved until it is unlinked.
    #[inline]
    pub(crate) unsafe fn push_back(&mut self, n: *const Node) {
        // SAFETY: the caller guarantees `n` is valid; the tail, if any, is a
        // linked node and therefore valid too.
        unsafe {
            (*n).prev.set(self.tail);
            (*n).next.set(ptr::null());
            (*n).linked.set(true);
            if self.tail.is_null() {
                self.head = n;
            } else {
                (*self.tail).next.set(n);
            }
        }
        self.tail = n;
    }

    /// Puts `n` first.
    ///
    /// # Safety
    /// As [`push_back`](Queue::push_back).
    #[inline]
    pub(crate) unsafe fn push_front(&mut self, n: *const Node) {
        // SAFETY: the caller guarantees `n` is valid; the head, if any, is
        // a linked node and therefore valid too.
        unsafe {
            (*n).prev.set(ptr::null());
            (*n).next.set(self.head);
            (*n).linked.set(true);
            if self.head.is_null() {
                self.tail = n;
            } else {
                (*self.head).prev.set(n);
            }
        }
        self.head = n;
    }

    /// Removes `n` from the queue.
    ///
    /// # Safety
    /// `n` must be linked into this queue.
    #[inline]
    pub(crate) unsafe fn unlink(&mut self, n: *const Node) {
        // SAFETY: `n` and its neighbours are linked, hence valid.
        unsafe {
            let (p, x) = ((*n).prev.get(), (*n).next.get());
            if p.is_null() {
                self.head = x;
            } else {
                (*p).next.set(x);
            }
            if x.is_null() {
                self.tail = p;
            } else {
                (*x).prev.set(p);
            }
            (*n).linked.set(false);
        }
    }

    /// Ends the wait of the first node's task that still waits (reporting
    /// that node's clause index), unlinks that node and returns it; null if
    /// nobody waits. Nodes of tasks already triggered are skipped (their
    /// owners withdraw them when they run). The caller completes the
    /// rendezvous (moves the value) before anything else runs.
    #[inline]
    fn pop_and_trigger(&mut self) -> *const Node {
        // SAFETY: no switch while the reference lives.
        let s = unsafe { s() };
        let mut n = self.head;
        while !n.is_null() {
            // SAFETY: linked nodes are valid.
            let (task, index) = unsafe { ((*n).task, (*n).index) };
            if s.trigger(task, index) {
                // SAFETY: `n` is linked into this queue.
                unsafe { self.unlink(n) };
                return n;
            }
            // SAFETY: `n` is linked, hence valid.
            n = unsafe { (*n).next.get() };
        }
        ptr::null()
    }

    /// Unlinks every node and fails its task with `-err`.
    fn fail_all(&mut self, err: i32) {
        while !self.head.is_null() {
            let n = self.head;
            // SAFETY: `n` is linked into this queue, hence valid.
            let task = unsafe {
                self.unlink(n);
                (*n).task
            };
            // SAFETY: no switch while the reference lives.
            if unsafe { s() }.trigger(task, -err) {
                // SAFETY: `n` is valid until its owner runs again.
                unsafe { (*n).done.set(true) };
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        let mut k = 0;
        let mut n = self.head;
        while !n.is_null() {
            k += 1;
            // SAFETY: linked nodes are valid.
            n = unsafe { (*n).next.get() };
        }
        k
    }
}

/// One direction of a channel.
#[derive(Debug)]
struct Dir {
    senders: Queue,
    receivers: Queue,
    /// The sending end is done (or dropped): no more messages.
    done: bool,
    /// The receiving end was dropped: nobody can ever receive.
    closed: bool,
    /// Buffered channels: `cap` slots of `MaybeUninit<T>` (owned by the
    /// channel's `Inner<T>`), `len` of them full starting at `head`.
    buf: *mut (),
    cap: usize,
    head: usize,
    len: usize,
}

impl Dir {
    const fn new(buf: *mut (), cap: usize) -> Dir {
        Dir {
            senders: Queue::new(),
            receivers: Queue::new(),
            done: false,
            closed: false,
            buf,
            cap,
            head: 0,
            len: 0,
        }
    }

    /// Appends `v` to the buffer.
    ///
    /// # Safety
    /// `buf` holds `T`s and `len < cap`.
    #[inline]
    unsafe fn buf_push<T>(&mut self, v: T) {
        let mut i = self.head + self.len;
        if i >= self.cap {
            i -= self.cap;
        }
        // SAFETY: `i < cap` and slot `i` is empty (caller).
        unsafe { (self.buf as *mut T).add(i).write(v) };
        self.len += 1;
    }

    /// Takes the oldest buffered value.
    ///
    /// # Safety
    /// `buf` holds `T`s and `len > 0`.
    #[inline]
    unsafe fn buf_pop<T>(&mut self) -> T {
        // SAFETY: slot `head` is full (caller).
        let v = unsafe { (self.buf as *mut T).add(self.head).read() };
        self.head += 1;
        if self.head == self.cap {
            self.head = 0;
        }
        self.len -= 1;
        v
    }
}

/// The state shared by both ends of a channel, whatever its element type.
pub(crate) struct Core {
    dirs: UnsafeCell<[Dir; 2]>,
    /// Live handles per end.
    handles: [Cell<usize>; 2],
}

/// A channel's allocation: the core and, for a buffered channel, the one
/// block holding both directions' buffers (`2 * capacity` slots).
struct Inner<T> {
    core: Core,
    _buf: Box<[MaybeUninit<T>]>,
    /// Invariant in `T`: both ends must agree on the exact type.
    _marker: PhantomData<fn(T) -> T>,
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // Values still buffered when the last handle goes are dropped here.
        for d in 0..2 {
            // SAFETY: no handle is left, so nothing else touches the core;
            // each reference ends before the value is dropped.
            while unsafe { self.core.dir(d) }.len > 0 {
                // SAFETY: as above; the buffer holds `T`s.
                drop(unsafe { self.core.dir(d).buf_pop::<T>() });
            }
        }
    }
}

impl Core {
    /// Exclusive access to direction `d`.
    ///
    /// # Safety
    /// No other reference into `dirs` may be alive while the result is
    /// (channels are per-thread and no user code runs meanwhile).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    unsafe fn dir(&self, d: usize) -> &mut Dir {
        // SAFETY: exclusivity is the caller's promise; the cell is only
        // touched by this thread (Core is not Send).
        unsafe { &mut (*self.dirs.get())[d] }
    }

    /// Queue a clause on end `end` blocks in.
    ///
    /// # Safety
    /// As [`Core::dir`], plus `n` must stay valid and unmoved until
    /// [`Core::withdraw`].
    #[inline]
    pub(crate) unsafe fn enqueue(&self, end: usize, send: bool, n: *const Node) {
        // SAFETY: forwarded from the caller.
        unsafe {
            let d = self.dir(if send { end } else { end ^ 1 });
            if send {
                d.senders.push_back(n);
            } else {
                d.receivers.push_back(n);
            }
        }
    }

    /// Removes `n` from its queue if it is still linked.
    ///
    /// # Safety
    /// `n` was enqueued with the same `end` and `send` on this core.
    #[inline]
    pub(crate) unsafe fn withdraw(&self, end: usize, send: bool, n: *const Node) {
        // SAFETY: `n` is valid (caller); if linked it is in this queue.
        unsafe {
            if !(*n).is_linked() {
                return;
            }
            let d = self.dir(if send { end } else { end ^ 1 });
            if send {
                d.senders.unlink(n);
            } else {
                d.receivers.unlink(n);
            }
        }
    }

    /// Marks direction `d` done and fails everybody waiting in it.
    fn finish_dir(&self, d: usize) {
        // SAFETY: the reference is dropped before anything else touches the
        // core; `fail_all` only triggers tasks.
        let d = unsafe { self.dir(d) };
        d.done = true;
        d.senders.fail_all(libc::EPIPE);
        d.receivers.fail_all(libc::EPIPE);
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("handles", &[self.handles[0].get(), self.handles[1].get()])
            .finish_non_exhaustive()
    }
}

/// Tries to complete one send or receive on end `end` without blocking.
///
/// Returns `0` when it paired with a waiting partner (the value has moved
/// and the partner is triggered), `BLOCK` when there is nobody to pair
/// with, or `-EPIPE`.
///
/// # Safety
/// `slot` points to a valid `Option<T>`: `Some` for a send, `None` for a
/// receive; `core` is the core of a `Chan<T>`.
#[inline]
pub(crate) unsafe fn attempt<T>(core: &Core, end: usize, send: bool, slot: *mut Option<T>) -> i32 {
    if send {
        // SAFETY: no other reference into the core is alive.
        let d = unsafe { core.dir(end) };
        if d.done || d.closed {
            return -libc::EPIPE;
        }
        if d.len == 0 {
            // Receivers wait only on an empty buffer.
            let peer = d.receivers.pop_and_trigger();
            if !peer.is_null() {
                // SAFETY: `peer` was linked, so it and its slot (an empty
                // `Option<T>` on the partner's suspended stack, which does
                // not run before we return) are valid; `slot` is ours.
                // Moving the value runs no user code.
                unsafe { ptr::write((*peer).slot as *mut Option<T>, (*slot).take()) };
                return 0;
            }
        }
        if d.len < d.cap {
            // SAFETY: `slot` holds the value (send); there is room.
            unsafe {
                let v = (*slot).take().unwrap_unchecked();
                d.buf_push(v);
            }
            return 0;
        }
        BLOCK
    } else {
        // SAFETY: no other reference into the core is alive.
        let d = unsafe { core.dir(end ^ 1) };
        if d.len > 0 {
            // SAFETY: the buffer holds `T`s and is not empty; `slot` is our
            // empty `Option<T>`.
            unsafe { ptr::write(slot, Some(d.buf_pop::<T>())) };
            // The oldest blocked sender's value takes the freed place.
            let peer = d.senders.pop_and_trigger();
            if !peer.is_null() {
                // SAFETY: as for a send; the sender's slot holds a value.
                unsafe {
                    let v = (*((*peer).slot as *mut Option<T>))
                        .take()
                        .unwrap_unchecked();
                    d.buf_push(v);
                }
            }
            return 0;
        }
        let peer = d.senders.pop_and_trigger();
        if peer.is_null() {
            return if d.done { -libc::EPIPE } else { BLOCK };
        }
        // SAFETY: as above, with the roles swapped: the partner's slot
        // holds the value, ours is empty.
        unsafe { ptr::write(slot, (*((*peer).slot as *mut Option<T>)).take()) };
        0
    }
}

/// Fails with ECANCELED or ETIMEDOUT when an operation that found nobody to
/// pair with may not block; otherwise returns the current task.
///
/// With a deadline still ahead, cancellation is left to [`wait`], which
/// fails at once in a cancelled task.
#[inline]
pub(crate) fn may_block(deadline: i64) -> io::Result<usize> {
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    if time::expired(deadline) {
        let code = if s.cancelled() {
            libc::ECANCELED
        } else {
            libc::ETIMEDOUT
        };
        return Err(errno(code));
    }
    Ok(s.current)
}

/// Creates an unbuffered channel and returns its two ends.
///
/// What is sent on one end is received on the other, in both directions.
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
#[doc = include_str!("../../docs/chmake.md")]
pub fn chmake<T: 'static>() -> io::Result<(Chan<T>, Chan<T>)> {
    chmake_buffered(0)
}

/// Creates a buffered channel (Go's `make(chan T, capacity)`) and returns
/// its two ends.
///
/// Each direction has its own buffer of `capacity` values: a send completes
/// at once while the buffer has room and blocks only when it is full.
/// `capacity` 0 is [`chmake`]. The buffers are allocated here, once;
/// sending and receiving allocate nothing.
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
/// * `ENOMEM`: `capacity` is too large to allocate.
#[doc = include_str!("../../docs/chmake_buffered.md")]
pub fn chmake_buffered<T: 'static>(capacity: usize) -> io::Result<(Chan<T>, Chan<T>)> {
    // SAFETY: no switch while the reference lives.
    if unsafe { s() }.cancelled() {
        return Err(errno(libc::ECANCELED));
    }
    let total = capacity.checked_mul(2).ok_or_else(|| errno(libc::ENOMEM))?;
    if std::mem::size_of::<T>() > 0
        && total
            .checked_mul(std::mem::size_of::<T>())
            .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(errno(libc::ENOMEM));
    }
    let mut buf: Vec<MaybeUninit<T>> = Vec::new();
    if buf.try_reserve_exact(total).is_err() {
        return Err(errno(libc::ENOMEM));
    }
    // SAFETY: `MaybeUninit` needs no initialisation; the capacity is there.
    unsafe { buf.set_len(total) };
    let mut buf = buf.into_boxed_slice();
    let base = buf.as_mut_ptr() as *mut T;
    // SAFETY: `capacity <= total` slots past `base` are inside the block
    // (for zero-sized `T` any offset of the dangling pointer is fine).
    let second = unsafe { base.add(capacity) };
    let inner = Rc::new(Inner {
        core: Core {
            dirs: UnsafeCell::new([
                Dir::new(base as *mut (), capacity),
                Dir::new(second as *mut (), capacity),
            ]),
            handles: [Cell::new(1), Cell::new(1)],
        },
        _buf: buf,
        _marker: PhantomData,
    });
    let a = Chan {
        core: inner.clone(),
        end: 0,
    };
    let b = Chan {
        core: inner,
        end: 1,
    };
    Ok((a, b))
}

/// One end of an unbuffered channel made by [`chmake`].
///
/// Values sent on one end are received on the other end; both ends can send
/// and receive. A send completes only when a receiver takes the value (a
/// rendezvous); several blocked senders, or receivers, are served in the
/// order they arrived.
///
/// Cloning a handle gives another handle to the **same end** (libdill's
/// `hdup`). When the last handle to an end is dropped, the end is closed
/// in both directions: the other end's pending and later receives and
/// sends fail with `EPIPE`, as after [`done`](Chan::done) on the dropped
/// end, and nobody is left to receive what the other end sends.
///
/// Handles belong to the thread that created them:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let (a, _b) = dill::chmake::<u32>().unwrap();
/// assert_send(a);
/// ```
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: &T) {}
/// let (a, _b) = dill::chmake::<u32>().unwrap();
/// assert_sync(&a);
/// ```
pub struct Chan<T> {
    /// `Rc` makes the handle `!Send` and `!Sync`; `Inner<T>` keeps it
    /// invariant in `T`.
    core: Rc<Inner<T>>,
    end: usize,
}

impl<T> Chan<T> {
    /// Sends `val` to the other end, waiting until a receiver takes it.
    ///
    /// On failure `val` is dropped; [`send_or_return`](Chan::send_or_return)
    /// gives it back instead.
    ///
    /// # Errors
    ///
    /// * `EINVAL`: `deadline` is negative other than `-1`.
    /// * `EPIPE`: [`done`](Chan::done) was called on this end, the other
    ///   end was dropped, or either happened while waiting.
    /// * `ETIMEDOUT`: no receiver took the value before the deadline.
    /// * `ECANCELED`: the calling coroutine is being cancelled and no
    ///   receiver was waiting.
    #[doc = include_str!("../../docs/chsend.md")]
    #[inline(always)]
    pub fn send(&self, val: T, deadline: i64) -> io::Result<()> {
        self.send_or_return(val, deadline).map_err(|(e, _)| e)
    }

    /// Like [`send`](Chan::send), but on failure gives the value back with
    /// the error.
    ///
    /// # Errors
    ///
    /// As [`send`](Chan::send).
    ///
    /// ```
    /// let (a, _b) = dill::chmake::<String>().unwrap();
    /// let (e, s) = a.send_or_return("kept".to_string(), 0).unwrap_err();
    /// assert_eq!(e.raw_os_error(), Some(dill::errno::ETIMEDOUT));
    /// assert_eq!(s, "kept");
    /// ```
    #[inline(always)]
    pub fn send_or_return(&self, val: T, deadline: i64) -> Result<(), (io::Error, T)> {
        let mut slot = Some(val);
        match self.op(true, &mut slot, deadline) {
            Ok(()) => Ok(()),
            Err(e) => Err((e, slot.take().expect("failed send keeps its value"))),
        }
    }

    /// Receives a value sent on the other end, waiting until one comes.
    ///
    /// # Errors
    ///
    /// * `EINVAL`: `deadline` is negative other than `-1`.
    /// * `EPIPE`: the other end is [`done`](Chan::done) or dropped (before
    ///   or while waiting).
    /// * `ETIMEDOUT`: nothing was sent before the deadline.
    /// * `ECANCELED`: the calling coroutine is being cancelled and no
    ///   sender was waiting.
    #[doc = include_str!("../../docs/chrecv.md")]
    #[inline(always)]
    pub fn recv(&self, deadline: i64) -> io::Result<T> {
        let mut slot = None;
        self.op(false, &mut slot, deadline)?;
        Ok(slot.take().expect("successful receive has a value"))
    }

    /// Says that no more messages will go out of this end: pending and
    /// later receives on the other end, and pending and later sends on this
    /// end, fail with `EPIPE`. The opposite direction is unaffected.
    ///
    /// # Errors
    ///
    /// * `EPIPE`: `done` was already called on this end.
    #[doc = include_str!("../../docs/chdone.md")]
    pub fn done(&self) -> io::Result<()> {
        // SAFETY: the reference ends at once.
        if unsafe { self.core.core.dir(self.end) }.done {
            return Err(errno(libc::EPIPE));
        }
        self.core.core.finish_dir(self.end);
        Ok(())
    }

    /// Which end of the channel this is: `0` for the first value
    /// [`chmake`] returns, `1` for the second.
    pub fn end(&self) -> usize {
        self.end
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core.core
    }

    /// One send (`slot` full) or receive (`slot` empty), blocking if needed.
    ///
    /// Always inlined into the caller, like the scheduler's `wait`: code
    /// that runs right after a stack switch should not return through
    /// frames the CPU's return predictor has not seen (see `switch_out`).
    #[inline(always)]
    fn op(&self, send: bool, slot: &mut Option<T>, deadline: i64) -> io::Result<()> {
        time::check(deadline)?;
        let slot: *mut Option<T> = slot;
        // SAFETY: `slot` is a live `Option<T>` of the right state and the
        // core belongs to a `Chan<T>`.
        let r = unsafe { attempt(&self.core.core, self.end, send, slot) };
        if r != BLOCK {
            return wait_result(r).map(drop);
        }
        let mut node = Node::new();
        node.task = may_block(deadline)?;
        node.slot = slot as *mut ();
        let n: *const Node = &node;
        // SAFETY: `node` stays on this stack, unmoved, until withdrawn below.
        unsafe { self.core.core.enqueue(self.end, send, n) };
        let what = if send { Wait::Send } else { Wait::Recv };
        let r = wait_on(what, deadline, true);
        // SAFETY: enqueued above with the same arguments.
        unsafe { self.core.core.withdraw(self.end, send, n) };
        wait_result(r).map(drop)
    }
}

impl<T> Clone for Chan<T> {
    /// Another handle to the same end.
    fn clone(&self) -> Chan<T> {
        let h = &self.core.core.handles[self.end];
        h.set(h.get() + 1);
        Chan {
            core: self.core.clone(),
            end: self.end,
        }
    }
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        let h = &self.core.core.handles[self.end];
        h.set(h.get() - 1);
        if h.get() > 0 {
            return;
        }
        let e = self.end;
        // Nothing more goes out of this end...
        self.core.core.finish_dir(e);
        // ...and nobody is left to receive what the other end sends.
        // SAFETY: the reference is dropped before anything else touches
        // the core; `fail_all` only triggers tasks.
        let d = unsafe { self.core.core.dir(e ^ 1) };
        d.closed = true;
        d.senders.fail_all(libc::EPIPE);
        d.receivers.fail_all(libc::EPIPE);
        // What is buffered for this end can never be received: drop it now,
        // one value at a time, with no reference into the core alive while
        // its destructor runs (it may use this very channel).
        // SAFETY: each reference ends before the value is dropped; the
        // buffer holds `T`s.
        while unsafe { self.core.core.dir(e ^ 1) }.len > 0 {
            // SAFETY: as above.
            drop(unsafe { self.core.core.dir(e ^ 1).buf_pop::<T>() });
        }
    }
}

impl<T> fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = {
            // SAFETY: the reference ends with this block.
            let o = unsafe { self.core.core.dir(self.end) };
            EndView {
                end: self.end,
                done: o.done,
                peer_dropped: o.closed,
                capacity: o.cap,
                buffered_out: o.len,
                blocked_senders: o.senders.len(),
                ..EndView::default()
            }
        };
        {
            // SAFETY: the reference ends with this block.
            let i = unsafe { self.core.core.dir(self.end ^ 1) };
            v.peer_done = i.done;
            v.buffered_in = i.len;
            v.blocked_receivers = i.receivers.len();
        }
        v.fmt::<T>(f, "Chan")
    }
}

/// What `Debug` shows of one end of a channel, [`Chan`] or
/// [`SharedChan`](crate::SharedChan): the fields are the same for both.
#[derive(Default)]
pub(crate) struct EndView {
    pub(crate) end: usize,
    pub(crate) done: bool,
    pub(crate) peer_done: bool,
    pub(crate) peer_dropped: bool,
    pub(crate) capacity: usize,
    pub(crate) buffered_out: usize,
    pub(crate) buffered_in: usize,
    pub(crate) blocked_senders: usize,
    pub(crate) blocked_receivers: usize,
}

impl EndView {
    /// Writes the view as a struct named `name`, for a channel of `T`.
    pub(crate) fn fmt<T>(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        f.debug_struct(name)
            .field("end", &self.end)
            .field("type", &std::any::type_name::<T>())
            .field("done", &self.done)
            .field("peer_done", &self.peer_done)
            .field("peer_dropped", &self.peer_dropped)
            .field("capacity", &self.capacity)
            .field("buffered_out", &self.buffered_out)
            .field("buffered_in", &self.buffered_in)
            .field("blocked_senders", &self.blocked_senders)
            .field("blocked_receivers", &self.blocked_receivers)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(q: &Queue) -> Vec<i32> {
        let mut v = Vec::new();
        let mut n = q.head;
        while !n.is_null() {
            // SAFETY: linked nodes are alive for the whole test.
            unsafe {
                v.push((*n).index);
                n = (*n).next.get();
            }
        }
        v
    }

    #[test]
    fn queue_keeps_fifo_order_and_unlinks_anywhere() {
        let mut nodes: Vec<Node> = (0..4).map(|_| Node::new()).collect();
        for (i, n) in nodes.iter_mut().enumerate() {
            n.index = i as i32;
        }
        let mut q = Queue::new();
        for n in &nodes {
            // SAFETY: the nodes outlive the queue's use and do not move.
            unsafe { q.push_back(n) };
        }
        assert_eq!(order(&q), [0, 1, 2, 3]);
        assert_eq!(q.len(), 4);
        // SAFETY: each node is linked into `q` when unlinked.
        unsafe { q.unlink(&nodes[1]) };
        assert_eq!(order(&q), [0, 2, 3]);
        assert!(!nodes[1].is_linked());
        // SAFETY: as above.
        unsafe { q.unlink(&nodes[3]) };
        assert_eq!(order(&q), [0, 2]);
        // SAFETY: as above.
        unsafe { q.unlink(&nodes[0]) };
        assert_eq!(order(&q), [2]);
        // SAFETY: `nodes[1]` is unlinked again, so it may be pushed.
        unsafe { q.push_back(&nodes[1]) };
        assert_eq!(order(&q), [2, 1]);
        // SAFETY: as above.
        unsafe {
            q.unlink(&nodes[2]);
            q.unlink(&nodes[1]);
        }
        assert!(q.head.is_null() && q.tail.is_null());
    }

    #[test]
    fn fail_all_empties_the_queue() {
        // The test thread's root task is not waiting, so triggers are
        // no-ops; only the unlinking is observed.
        let mut nodes: Vec<Node> = (0..3).map(|_| Node::new()).collect();
        let mut q = Queue::new();
        for n in nodes.iter_mut() {
            n.task = crate::sched::ROOT;
        }
        for n in &nodes {
            // SAFETY: the nodes outlive the queue's use and do not move.
            unsafe { q.push_back(n) };
        }
        q.fail_all(libc::EPIPE);
        assert_eq!(q.len(), 0);
        assert!(nodes.iter().all(|n| !n.is_linked()));
        assert!(q.pop_and_trigger().is_null());
    }
}
