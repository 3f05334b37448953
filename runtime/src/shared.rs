//! Shared channels: channels whose ends may be used by coroutines of any
//! thread.
//!
//! The layout mirrors the local channel's (two directions, each with a
//! queue of blocked senders and one of blocked receivers, `done`/`closed`
//! bits), behind one short spin-then-yield lock. The queue nodes are the
//! same [`Node`]s, living on the blocked coroutines' stacks, and `choose`
//! handles these clauses with the same machinery as local ones (it takes
//! the locks of the shared channels it names, in address order, for its
//! check-then-enqueue step).
//!
//! A blocked party publishes a [`Waiter`]: whoever completes its wait, on
//! whatever thread, must first win the waiter's claim. A partner on the
//! owner's thread does it through the scheduler's `trigger`; one on another
//! thread claims, unlinks the node, and hands the waiter to the owner's
//! scheduler (see `remote.rs`), all without allocating.
//!
//! A rendezvous channel does everything under the lock: a partner moves
//! the value straight between the two slots. A buffered direction keeps
//! its values in a lock-free ring ([`Ring`]) that sends and receives use
//! without the lock while nobody is blocked; the lock is taken to block, to
//! wake a blocked party, and by senders while other senders wait their
//! turn. Values only ever move sender → ring → receiver: a blocked party is
//! woken with [`RETRY`] and tries the ring again itself, so no value is
//! handed to a waiter that might have given up meanwhile, and none is put
//! back behind newer ones. Each side announces itself before its last look
//! at the ring (a count raised under the lock, then [`recheck`]); the
//! partner publishes its push or pop, then reads the count (all
//! sequentially consistent), so one of the two always sees the other and
//! no wake-up is lost.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;

use crate::chan::{may_block, EndView, Node, Queue, BLOCK};
use crate::error::{errno, wait_result};
use crate::inspect::Wait;
use crate::mpmc::{Padded, Pop, PushError, Ring};
use crate::remote::{RawLock, Remote, Waiter};
use crate::sched::{current_remote, s, wait_on};
use crate::time;

/// Wait result of a blocked party of a buffered channel woken to try the
/// buffer again (it holds no value and has none taken from it). Neither a
/// clause index nor an errno, nor [`PENDING`](crate::remote::PENDING).
pub(crate) const RETRY: i32 = i32::MIN + 1;

/// Clause index of the node of a plain `send`/`recv` (never a `choose`
/// clause's, whose indices are below `i32::MAX`): senders woken with
/// [`RETRY`] through such a node are counted in [`Flags::retrying`].
const OP: i32 = i32::MAX;

/// One direction of a shared channel: the part kept under the lock.
struct SDir {
    senders: Queue,
    receivers: Queue,
    done: bool,
    closed: bool,
}

/// One direction's lock-free part.
struct Fast<T> {
    /// The buffer; `None` for a rendezvous channel, which keeps everything
    /// under the lock.
    ring: Option<Ring<T>>,
    /// Read by every buffered operation, written only when someone blocks:
    /// on a cache line of its own.
    flags: Padded<Flags>,
}

/// Who is waiting on a buffered direction, for the lock-free fast paths.
#[derive(Default)]
struct Flags {
    /// Receivers linked in `SDir::receivers`. A pusher that sees it
    /// non-zero takes the lock to wake one.
    rwait: AtomicUsize,
    /// Senders linked in `SDir::senders`. While non-zero, new senders take
    /// the locked path (to queue behind), and a popper takes the lock to
    /// wake one.
    swait: AtomicUsize,
    /// Plain senders woken with [`RETRY`] that have not tried again yet
    /// (written under the lock). While non-zero, new senders take the
    /// locked path and queue behind, so that a sender that waited is not
    /// overtaken; poppers need not wake anyone for them.
    retrying: AtomicUsize,
    /// The receiving end was dropped: a pusher that sees it after pushing
    /// drops what is buffered itself (its push may have raced the drain).
    closed: AtomicBool,
}

struct State {
    dirs: [SDir; 2],
    handles: [usize; 2],
}

/// A shared channel's allocation.
pub(crate) struct SharedInner<T> {
    pub(crate) lock: RawLock,
    state: UnsafeCell<State>,
    fast: [Fast<T>; 2],
}

// SAFETY: the state is only touched with `lock` held; values of `T` move
// between threads, hence `T: Send`. The raw node pointers in the queues
// point at blocked coroutines' stacks, which stay valid while linked. The
// rings and flags are thread-safe on their own.
unsafe impl<T: Send> Send for SharedInner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedInner<T> {}

impl<T> SharedInner<T> {
    /// The state.
    ///
    /// # Safety
    /// `lock` is held by the caller and no other reference into the state
    /// is alive.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    unsafe fn state(&self) -> &mut State {
        // SAFETY: the caller's promise.
        unsafe { &mut *self.state.get() }
    }
}

/// Wakes the owner of `n`, a node whose claim the caller just won, unless
/// it lives on this thread (then the scheduler's `trigger` did it). Must be
/// the last use of `n`: its owner may resume and free it right after.
///
/// # Safety
/// `n` is valid, was claimed by the caller and is unlinked.
#[inline]
unsafe fn notify(n: *const Node, me: *const Remote) {
    // SAFETY: `n` is valid until its owner resumes, which needs this push.
    unsafe {
        let (r, w) = ((*n).remote, (*n).waiter);
        if r != me {
            // Keep the owner's remote side alive across the push: once the
            // waiter is pushed the owner may run, finish and exit.
            Arc::increment_strong_count(r);
            let r = Arc::from_raw(r);
            r.push(w);
        }
    }
}

/// Claims the wait of `n` with `res`: through the scheduler for a node of
/// this thread, with the waiter's compare-and-swap for another thread's.
///
/// # Safety
/// `n` is linked into a queue whose lock the caller holds.
#[inline]
unsafe fn claim(n: *const Node, res: i32, me: *const Remote) -> bool {
    // SAFETY: linked nodes are valid; their waiter and remote too.
    unsafe {
        if (*n).remote == me {
            s().trigger((*n).task, res)
        } else {
            (*(*n).waiter).claim(res)
        }
    }
}

/// Links `n` at the back (or the front) of `q`, counting it in `cnt`.
/// The count is raised with a sequentially consistent read-modify-write:
/// it is the "I am about to wait" announcement that lock-free partners
/// read after they push or pop (see [`recheck`]).
///
/// # Safety
/// As [`Queue::push_back`]; the caller holds the channel's lock.
#[inline]
unsafe fn link(q: &mut Queue, cnt: &AtomicUsize, n: *const Node, front: bool) {
    cnt.fetch_add(1, SeqCst);
    // SAFETY: forwarded from the caller.
    unsafe {
        if front {
            q.push_front(n)
        } else {
            q.push_back(n)
        }
    }
}

/// Unlinks `n` from `q` and uncounts it.
///
/// # Safety
/// As [`Queue::unlink`]; the caller holds the channel's lock.
#[inline]
unsafe fn unlink(q: &mut Queue, cnt: &AtomicUsize, n: *const Node) {
    // SAFETY: forwarded from the caller.
    unsafe { q.unlink(n) };
    cnt.fetch_sub(1, SeqCst);
}

/// Unlinks and returns the first node of `q` whose wait can be claimed
/// with `res` (its clause index when `None`), or null; stops, returning
/// null, at `stop`. Nodes already claimed are skipped; their owners
/// withdraw them.
///
/// # Safety
/// The caller holds the lock of the channel owning `q`; `cnt` counts `q`.
#[inline]
unsafe fn pop_and_claim(
    q: &mut Queue,
    cnt: &AtomicUsize,
    res: Option<i32>,
    stop: *const Node,
    me: *const Remote,
) -> *const Node {
    let mut n = q.head;
    while !n.is_null() && n != stop {
        // SAFETY: linked nodes are valid (lock held).
        unsafe {
            if claim(n, res.unwrap_or((*n).index), me) {
                unlink(q, cnt, n);
                return n;
            }
            n = (*n).next();
        }
    }
    ptr::null()
}

/// Ends with `res` every wait in `q` that can still be claimed; marks the
/// node done when `res` is `-EPIPE`.
///
/// # Safety
/// The caller holds the lock of the channel owning `q`; `cnt` counts `q`.
unsafe fn end_all(q: &mut Queue, cnt: &AtomicUsize, res: i32, me: *const Remote) {
    let mut n = q.head;
    while !n.is_null() {
        // SAFETY: linked nodes are valid (lock held); `next` is read before
        // the node may be freed by `notify`.
        unsafe {
            let next = (*n).next();
            if claim(n, res, me) {
                unlink(q, cnt, n);
                if res == -libc::EPIPE {
                    (*n).done.set(true);
                }
                notify(n, me);
            }
            n = next;
        }
    }
}

/// Buffered direction: when a receive could complete now, wakes the first
/// blocked receiver that can be claimed, with [`RETRY`].
///
/// # Safety
/// The caller holds the channel's lock.
unsafe fn wake_receiver(d: &mut SDir, f: &Flags, ring: &Ring<impl Sized>, me: *const Remote) {
    if d.receivers.head.is_null() || !ring.can_pop() {
        return;
    }
    // SAFETY: lock held (caller).
    unsafe {
        let p = pop_and_claim(&mut d.receivers, &f.rwait, Some(RETRY), ptr::null(), me);
        if !p.is_null() {
            notify(p, me);
        }
    }
}

/// Buffered direction: when a push could complete now and no woken sender
/// is still to try, wakes the first blocked sender that can be claimed,
/// with [`RETRY`] (one at a time: each passes the turn on after trying).
/// Returns true, waking nobody, if it reaches `stop` (a node of the caller,
/// which then tries itself).
///
/// # Safety
/// The caller holds the channel's lock; `stop` is null or linked in
/// `d.senders`.
unsafe fn pass_turn(
    d: &mut SDir,
    f: &Flags,
    ring: &Ring<impl Sized>,
    stop: *const Node,
    me: *const Remote,
) -> bool {
    if f.retrying.load(Relaxed) > 0 || d.senders.head.is_null() || !ring.can_push() {
        return false;
    }
    if d.senders.head == stop {
        return true;
    }
    // SAFETY: lock held (caller).
    unsafe {
        let p = pop_and_claim(&mut d.senders, &f.swait, Some(RETRY), stop, me);
        if p.is_null() {
            // Everyone before `stop` is claimed already: `stop` is first.
            return !stop.is_null();
        }
        if (*p).index == OP {
            f.retrying.fetch_add(1, SeqCst);
        }
        notify(p, me);
    }
    false
}

/// Tries to complete one operation on end `end` without blocking; as the
/// local channel's `attempt`. A buffered send that finds other senders
/// waiting before it blocks when `defer` (a plain send not woken to try
/// again), so that it queues behind them.
///
/// # Safety
/// The caller holds `inner.lock`; `slot` is a valid `Option<T>` (`Some` to
/// send, `None` to receive).
unsafe fn attempt_as<T>(
    inner: &SharedInner<T>,
    end: usize,
    send: bool,
    slot: *mut Option<T>,
    defer: bool,
) -> i32 {
    let me = current_remote();
    // SAFETY: lock held (caller).
    let st = unsafe { inner.state() };
    let dir = if send { end } else { end ^ 1 };
    let d = &mut st.dirs[dir];
    let fast = &inner.fast[dir];
    let f = &fast.flags.0;
    if let Some(ring) = &fast.ring {
        if send {
            if d.done || d.closed {
                return -libc::EPIPE;
            }
            if defer && (f.retrying.load(Relaxed) > 0 || !d.senders.head.is_null()) {
                // SAFETY: lock held.
                unsafe { pass_turn(d, f, ring, ptr::null(), me) };
                return BLOCK;
            }
            // SAFETY: a send's slot holds a value.
            let v = unsafe { (*slot).take().unwrap_unchecked() };
            return match ring.push(v) {
                Ok(()) => {
                    // SAFETY: lock held.
                    unsafe {
                        wake_receiver(d, f, ring, me);
                        pass_turn(d, f, ring, ptr::null(), me);
                    }
                    0
                }
                Err(PushError::Full(v)) => {
                    // SAFETY: as above; the slot is empty again.
                    unsafe { ptr::write(slot, Some(v)) };
                    BLOCK
                }
                Err(PushError::Closed(v)) => {
                    // SAFETY: as above.
                    unsafe { ptr::write(slot, Some(v)) };
                    -libc::EPIPE
                }
            };
        }
        return match ring.pop() {
            Pop::Value(v) => {
                // SAFETY: our slot is an empty `Option<T>`.
                unsafe { ptr::write(slot, Some(v)) };
                // SAFETY: lock held.
                unsafe { pass_turn(d, f, ring, ptr::null(), me) };
                0
            }
            Pop::Closed => -libc::EPIPE,
            Pop::Empty => BLOCK,
        };
    }
    // Rendezvous: hand the value straight to a blocked partner.
    if send {
        if d.done || d.closed {
            return -libc::EPIPE;
        }
        // SAFETY: lock held.
        let p = unsafe { pop_and_claim(&mut d.receivers, &f.rwait, None, ptr::null(), me) };
        if p.is_null() {
            return BLOCK;
        }
        // SAFETY: the claimed partner's slot is an empty `Option<T>` on its
        // stack, which does not run before `notify`.
        unsafe {
            ptr::write((*p).slot as *mut Option<T>, (*slot).take());
            notify(p, me);
        }
        0
    } else {
        // SAFETY: lock held.
        let p = unsafe { pop_and_claim(&mut d.senders, &f.swait, None, ptr::null(), me) };
        if p.is_null() {
            return if d.done { -libc::EPIPE } else { BLOCK };
        }
        // SAFETY: the claimed sender's slot holds its value.
        unsafe {
            ptr::write(slot, (*((*p).slot as *mut Option<T>)).take());
            notify(p, me);
        }
        0
    }
}

/// Tries to complete one operation on end `end` without blocking, as
/// `choose` does (a buffered send never defers to waiting senders).
///
/// # Safety
/// As [`attempt_as`].
pub(crate) unsafe fn attempt<T>(
    inner: &SharedInner<T>,
    end: usize,
    send: bool,
    slot: *mut Option<T>,
) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { attempt_as(inner, end, send, slot, false) }
}

/// Links `n` into the queue where a clause on `end` waits (at the front
/// when `front`).
///
/// # Safety
/// The caller holds `inner.lock`; `n` stays valid and unmoved until
/// withdrawn (or claimed).
unsafe fn enqueue_at<T>(
    inner: &SharedInner<T>,
    end: usize,
    send: bool,
    n: *const Node,
    front: bool,
) {
    // SAFETY: lock held (caller).
    let (q, cnt) = unsafe { wait_queue(inner, end, send) };
    // SAFETY: forwarded from the caller.
    unsafe { link(q, cnt, n, front) }
}

/// The queue where a clause on `end` waits (senders of `end`'s direction,
/// or receivers of the other) and the count of its linked nodes.
///
/// # Safety
/// The caller holds `inner.lock` and keeps no other reference into the
/// state while these live.
#[allow(clippy::mut_from_ref)]
unsafe fn wait_queue<T>(
    inner: &SharedInner<T>,
    end: usize,
    send: bool,
) -> (&mut Queue, &AtomicUsize) {
    // SAFETY: forwarded from the caller.
    let st = unsafe { inner.state() };
    if send {
        (&mut st.dirs[end].senders, &inner.fast[end].flags.0.swait)
    } else {
        let d = end ^ 1;
        (&mut st.dirs[d].receivers, &inner.fast[d].flags.0.rwait)
    }
}

/// Links `n` into the queue where a clause on `end` waits.
///
/// # Safety
/// The caller holds `inner.lock`; `n` stays valid and unmoved until
/// withdrawn (or claimed).
pub(crate) unsafe fn enqueue<T>(inner: &SharedInner<T>, end: usize, send: bool, n: *const Node) {
    // SAFETY: forwarded from the caller.
    unsafe { enqueue_at(inner, end, send, n, false) }
}

/// After [`enqueue`] of a buffered channel's clause, with the lock still
/// held: true if the operation may complete after all, and the caller must
/// unlink `n` ([`unlink_locked`]) and try again instead of waiting.
///
/// The lost wake-up this closes: a partner pushes (or pops) lock-free,
/// without the lock, just as we decide to wait. Our announcement (the
/// count raised by `enqueue`) and this look are sequentially consistent,
/// as are the partner's publication of its push or pop and its look at the
/// count afterwards: either it sees us and takes the lock to wake us, or
/// we see its push or pop here.
///
/// # Safety
/// The caller holds `inner.lock`; `n` was just enqueued with these
/// arguments.
pub(crate) unsafe fn recheck<T>(
    inner: &SharedInner<T>,
    end: usize,
    send: bool,
    n: *const Node,
) -> bool {
    let dir = if send { end } else { end ^ 1 };
    let fast = &inner.fast[dir];
    let Some(ring) = &fast.ring else {
        // Rendezvous: every partner takes the lock.
        return false;
    };
    if send {
        // SAFETY: lock held (caller); `n` is linked in that queue.
        unsafe {
            pass_turn(
                &mut inner.state().dirs[dir],
                &fast.flags.0,
                ring,
                n,
                current_remote(),
            )
        }
    } else {
        ring.can_pop()
    }
}

/// Unlinks `n`, enqueued with these arguments and not claimed, with the
/// lock held.
///
/// # Safety
/// The caller holds `inner.lock`; `n` is linked in that queue.
pub(crate) unsafe fn unlink_locked<T>(
    inner: &SharedInner<T>,
    end: usize,
    send: bool,
    n: *const Node,
) {
    // SAFETY: lock held (caller); `n` is linked there.
    unsafe {
        let (q, cnt) = wait_queue(inner, end, send);
        unlink(q, cnt, n);
    }
}

/// Unlinks `n` if it is still linked, taking the lock only then. A sender
/// leaving a buffered channel's queue without being woken through it
/// passes the turn on, should there be room.
///
/// # Safety
/// `n` was enqueued with these arguments and its wait has ended (claimed
/// by whoever ended it), so only lock holders can still touch it, and they
/// no longer unlink it.
pub(crate) unsafe fn withdraw<T>(inner: &SharedInner<T>, end: usize, send: bool, n: *const Node) {
    // SAFETY: `n` is valid (caller); its `linked` bit is only written by
    // whoever wins its claim, which is settled.
    if !unsafe { (*n).is_linked() } {
        return;
    }
    inner.lock.lock();
    // SAFETY: lock held; `n` is linked into that queue.
    unsafe {
        unlink_locked(inner, end, send, n);
        let fast = &inner.fast[end];
        if let (true, Some(ring)) = (send, &fast.ring) {
            pass_turn(
                &mut inner.state().dirs[end],
                &fast.flags.0,
                ring,
                ptr::null(),
                current_remote(),
            );
        }
    }
    inner.lock.unlock();
}

/// Publishes the current task's wait so other threads can claim it:
/// returns the thread's remote side, after counting the wait.
///
/// # Safety
/// `w` lives on the current task's stack until [`unpublish`].
pub(crate) unsafe fn publish(w: *const Waiter) -> *const Remote {
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    let cur = s.current;
    s.tasks[cur].claim = w;
    let rl = s
        .remote
        .as_ref()
        .expect("remote side set up before publishing");
    rl.waits.set(rl.waits.get() + 1);
    Arc::as_ptr(&rl.remote)
}

/// Ends what [`publish`] started, once the task runs again.
pub(crate) fn unpublish() {
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    let cur = s.current;
    s.tasks[cur].claim = ptr::null();
    let rl = s.remote.as_ref().expect("remote side set up");
    rl.waits.set(rl.waits.get() - 1);
}

/// Before blocking with shared clauses: `Err(ECANCELED)` if the task is
/// cancelled (a published wait must only end through its claim, so the
/// scheduler's early cancellation exit must not be taken), `Ok(false)` if
/// the thread's remote side does not exist yet. Touches no lock: on
/// anything but `Ok(true)` the caller releases its locks, then calls
/// [`ensure_remote`] for `Ok(false)` and checks the channels again.
pub(crate) fn can_block() -> io::Result<bool> {
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    if s.cancelled() {
        return Err(errno(libc::ECANCELED));
    }
    Ok(s.remote.is_some())
}

/// Sets up the thread's remote side (an eventfd in its reactor).
pub(crate) fn ensure_remote() -> io::Result<()> {
    // SAFETY: no switch while the reference lives.
    unsafe { s() }.remote().map(drop)
}

/// Creates a channel whose ends may be used from coroutines of any thread.
///
/// # Errors
/// Creates a channel whose ends may be used from coroutines of any thread.
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
/// * `ENOMEM`: `capacity` is too large to allocate.
#[doc = include_str!("../../docs/chmake_shared.md")]
pub fn chmake_shared<T: Send + 'static>(
    capacity: usize,
) -> io::Result<(SharedChan<T>, SharedChan<T>)> {
    // SAFETY: no switch while the reference lives.
    if unsafe { s() }.cancelled() {
        return Err(errno(libc::ECANCELED));
    }
    let dir = || SDir {
        senders: Queue::new(),
        receivers: Queue::new(),
        done: false,
        closed: false,
    };
    let fast = || -> io::Result<Fast<T>> {
        let ring = if capacity == 0 {
            None
        } else {
            Some(Ring::new(capacity).ok_or_else(|| errno(libc::ENOMEM))?)
        };
        Ok(Fast {
            ring,
            flags: Padded(Flags::default()),
        })
    };
    let inner = Arc::new(SharedInner {
        lock: RawLock::new(),
        state: UnsafeCell::new(State {
            dirs: [dir(), dir()],
            handles: [1, 1],
        }),
        fast: [fast()?, fast()?],
    });
    Ok((
        SharedChan {
            core: inner.clone(),
            end: 0,
        },
        SharedChan {
            core: inner,
            end: 1,
        },
    ))
}

/// One end of a channel made by [`chmake_shared`], usable from any thread.
///
/// It behaves as [`Chan`](crate::Chan): values sent on one end are received
/// on the other, in both directions, in FIFO order; `capacity` values per
/// direction may wait in a buffer; `done`, `EPIPE`, `ETIMEDOUT` and
/// `ECANCELED` mean the same. A blocked operation suspends only the calling
/// coroutine; the other coroutines of its thread keep running, and a
/// partner on another thread wakes it through its own thread's scheduler.
///
/// Handles are `Send + Sync + Clone`: a clone is another handle to the
/// same end. When the last handle to an end is dropped, the end is closed
/// as a `Chan`'s is.
pub struct SharedChan<T> {
    core: Arc<SharedInner<T>>,
    end: usize,
}

impl<T: Send> SharedChan<T> {
    /// Sends `val` to the other end, waiting while the buffer is full (or,
    /// unbuffered, until a receiver takes it). On failure `val` is dropped.
    ///
    /// # Errors
    ///
    /// As [`Chan::send`](crate::Chan::send).
    #[inline]
    pub fn send(&self, val: T, deadline: i64) -> io::Result<()> {
        self.send_or_return(val, deadline).map_err(|(e, _)| e)
    }

    /// Like [`send`](SharedChan::send), but on failure gives the value back
    /// with the error.
    ///
    /// # Errors
    ///
    /// As [`Chan::send`](crate::Chan::send).
    #[inline]
    pub fn send_or_return(&self, val: T, deadline: i64) -> Result<(), (io::Error, T)> {
        let mut slot = Some(val);
        match self.op(true, &mut slot, deadline, Wait::Send) {
            Ok(()) => Ok(()),
            Err(e) => Err((e, slot.take().expect("failed send keeps its value"))),
        }
    }

    /// Receives a value sent on the other end, waiting until one comes.
    ///
    /// # Errors
    ///
    /// As [`Chan::recv`](crate::Chan::recv).
    #[inline]
    pub fn recv(&self, deadline: i64) -> io::Result<T> {
        self.recv_as(Wait::Recv, deadline)
    }

    /// [`recv`](SharedChan::recv), shown by `coroutines()` and `dump()` as a
    /// wait for `what` (`blocking` waits for its helper's result this way).
    #[inline]
    pub(crate) fn recv_as(&self, what: Wait, deadline: i64) -> io::Result<T> {
        let mut slot = None;
        self.op(false, &mut slot, deadline, what)?;
        Ok(slot.take().expect("successful receive has a value"))
    }

    /// Says that no more messages will go out of this end, as
    /// [`Chan::done`](crate::Chan::done): receivers on the other end get
    /// what is buffered, then `EPIPE`; sends on this end fail with `EPIPE`.
    ///
    /// # Errors
    ///
    /// * `EPIPE`: `done` was already called on this end.
    pub fn done(&self) -> io::Result<()> {
        let me = current_remote();
        let inner = &*self.core;
        inner.lock.lock();
        // SAFETY: lock held; the reference ends before unlocking.
        let st = unsafe { inner.state() };
        let d = &mut st.dirs[self.end];
        let r = if d.done {
            Err(errno(libc::EPIPE))
        } else {
            d.done = true;
            // SAFETY: lock held.
            unsafe { close_dir(d, &inner.fast[self.end], true, me) };
            Ok(())
        };
        inner.lock.unlock();
        r
    }

    /// Which end this is: `0` for the first value [`chmake_shared`]
    /// returns, `1` for the second.
    pub fn end(&self) -> usize {
        self.end
    }

    pub(crate) fn inner(&self) -> &SharedInner<T> {
        &self.core
    }

    /// One send or receive. A buffered channel's operation first tries
    /// the ring without the lock; the lock is taken only to block, to
    /// wake a blocked partner, or while senders wait their turn.
    #[inline]
    fn op(&self, send: bool, slot: &mut Option<T>, deadline: i64, what: Wait) -> io::Result<()> {
        time::check(deadline)?;
        let dir = if send { self.end } else { self.end ^ 1 };
        let fast = &self.core.fast[dir];
        if let Some(ring) = &fast.ring {
            let f = &fast.flags.0;
            if send {
                // Senders are waiting for their turn: queue behind them.
                if f.swait.load(Relaxed) == 0 && f.retrying.load(Relaxed) == 0 {
                    if let Some(v) = slot.take() {
                        match ring.push(v) {
                            Ok(()) => {
                                // Sequentially consistent, after the push's
                                // own: see `recheck`.
                                if f.rwait.load(SeqCst) != 0 || f.closed.load(SeqCst) {
                                    self.pushed_slow(dir);
                                }
                                return Ok(());
                            }
                            Err(PushError::Closed(v)) => {
                                *slot = Some(v);
                                return Err(errno(libc::EPIPE));
                            }
                            Err(PushError::Full(v)) => *slot = Some(v),
                        }
                    }
                }
            } else {
                match ring.pop() {
                    Pop::Value(v) => {
                        *slot = Some(v);
                        // As for the push above.
                        if f.swait.load(SeqCst) != 0 {
                            self.popped_slow(dir);
                        }
                        return Ok(());
                    }
                    Pop::Closed => return Err(errno(libc::EPIPE)),
                    Pop::Empty => {}
                }
            }
        }
        self.op_slow(send, slot, deadline, what)
    }

    /// After a lock-free push into direction `dir`'s ring that saw a
    /// blocked receiver or a dropped receiving end.
    #[cold]
    fn pushed_slow(&self, dir: usize) {
        let inner = &*self.core;
        let fast = &inner.fast[dir];
        let Some(ring) = &fast.ring else { return };
        if fast.flags.0.closed.load(SeqCst) {
            // The receiving end is gone and our push may have raced its
            // drain: drop what is left (each value is taken once).
            while let Pop::Value(v) = ring.pop() {
                drop(v);
            }
        }
        if fast.flags.0.rwait.load(SeqCst) != 0 {
            let me = current_remote();
            inner.lock.lock();
            // SAFETY: lock held; the reference ends before unlocking.
            unsafe { wake_receiver(&mut inner.state().dirs[dir], &fast.flags.0, ring, me) };
            inner.lock.unlock();
        }
    }

    /// After a lock-free pop from direction `dir`'s ring that saw senders
    /// waiting.
    #[cold]
    fn popped_slow(&self, dir: usize) {
        let inner = &*self.core;
        let fast = &inner.fast[dir];
        let Some(ring) = &fast.ring else { return };
        let me = current_remote();
        inner.lock.lock();
        // SAFETY: lock held; the reference ends before unlocking.
        unsafe {
            pass_turn(
                &mut inner.state().dirs[dir],
                &fast.flags.0,
                ring,
                ptr::null(),
                me,
            )
        };
        inner.lock.unlock();
    }

    /// The locked path: try under the lock, else queue a node and wait.
    /// On a buffered channel a waiter is woken with [`RETRY`] and tries
    /// again (values never wait in a blocked party's slot), so the loop.
    #[inline(never)]
    fn op_slow(
        &self,
        send: bool,
        slot: &mut Option<T>,
        deadline: i64,
        what: Wait,
    ) -> io::Result<()> {
        let inner = &*self.core;
        let end = self.end;
        let dir = if send { end } else { end ^ 1 };
        let buffered = inner.fast[dir].ring.is_some();
        let slot: *mut Option<T> = slot;
        // Woken to try again (a sender then goes first).
        let mut retry = false;
        // Counted in `retrying` by whoever woke us.
        let mut counted = false;
        loop {
            let cur = loop {
                inner.lock.lock();
                if counted {
                    counted = false;
                    inner.fast[dir].flags.0.retrying.fetch_sub(1, SeqCst);
                }
                // SAFETY: lock held; `slot` is a live `Option<T>` of the
                // right state.
                let r = unsafe { attempt_as(inner, end, send, slot, !retry) };
                if r != BLOCK {
                    inner.lock.unlock();
                    return wait_result(r).map(drop);
                }
                let cur = match may_block(deadline) {
                    Ok(c) => c,
                    Err(e) => {
                        inner.lock.unlock();
                        return Err(e);
                    }
                };
                match can_block() {
                    Ok(true) => break cur,
                    Ok(false) => {
                        inner.lock.unlock();
                        ensure_remote()?;
                    }
                    Err(e) => {
                        inner.lock.unlock();
                        return Err(e);
                    }
                }
            };
            let waiter = Waiter::new(cur);
            let mut node = Node::new();
            node.task = cur;
            node.index = OP;
            node.slot = slot as *mut ();
            node.waiter = &waiter;
            // SAFETY: `waiter` stays on this stack until `unpublish`.
            node.remote = unsafe { publish(&waiter) };
            let n: *const Node = &node;
            // SAFETY: lock held; `node` stays here until withdrawn below.
            // A sender woken to try again keeps its place at the front.
            unsafe { enqueue_at(inner, end, send, n, retry && send) };
            // SAFETY: lock held; `n` was just enqueued.
            if unsafe { recheck(inner, end, send, n) } {
                // SAFETY: lock held; nobody claimed `n` (claims need the
                // lock, and our task is not waiting yet).
                unsafe { unlink_locked(inner, end, send, n) };
                inner.lock.unlock();
                unpublish();
                retry = true;
                continue;
            }
            inner.lock.unlock();
            let r = wait_on(what, deadline, true);
            unpublish();
            // SAFETY: enqueued above; the wait has ended.
            unsafe { withdraw(inner, end, send, n) };
            if r == RETRY {
                retry = true;
                counted = send && buffered;
                continue;
            }
            return wait_result(r).map(drop);
        }
    }
}

/// Closes direction `d` for sends (its end is done or dropped): refuses
/// later pushes, fails blocked senders with `EPIPE`, and ends blocked
/// receivers' waits: with `EPIPE` on a rendezvous channel; with [`RETRY`]
/// on a buffered one, where they take what is buffered first (and wait for
/// pushes still under way) before they see `EPIPE`. With `wake_receivers`
/// false (the receiving end is gone) they are failed too.
///
/// # Safety
/// The caller holds the channel's lock.
unsafe fn close_dir<T>(d: &mut SDir, fast: &Fast<T>, wake_receivers: bool, me: *const Remote) {
    let f = &fast.flags.0;
    // SAFETY: lock held (caller).
    unsafe {
        match &fast.ring {
            Some(ring) => {
                ring.mark();
                end_all(&mut d.senders, &f.swait, -libc::EPIPE, me);
                let res = if wake_receivers { RETRY } else { -libc::EPIPE };
                end_all(&mut d.receivers, &f.rwait, res, me);
            }
            None => {
                end_all(&mut d.senders, &f.swait, -libc::EPIPE, me);
                end_all(&mut d.receivers, &f.rwait, -libc::EPIPE, me);
            }
        }
    }
}

impl<T> Clone for SharedChan<T> {
    /// Another handle to the same end.
    fn clone(&self) -> SharedChan<T> {
        self.core.lock.lock();
        // SAFETY: lock held.
        unsafe { self.core.state() }.handles[self.end] += 1;
        self.core.lock.unlock();
        SharedChan {
            core: self.core.clone(),
            end: self.end,
        }
    }
}

impl<T> Drop for SharedChan<T> {
    fn drop(&mut self) {
        let me = current_remote();
        let e = self.end;
        let inner = &*self.core;
        inner.lock.lock();
        {
            // SAFETY: lock held; the reference ends with this block.
            let st = unsafe { inner.state() };
            st.handles[e] -= 1;
            if st.handles[e] > 0 {
                inner.lock.unlock();
                return;
            }
            let [d0, d1] = &mut st.dirs;
            let (out, inn) = if e == 0 { (d0, d1) } else { (d1, d0) };
            // Nothing more goes out of this end, and nobody is left to
            // receive what the other end sends.
            out.done = true;
            inn.closed = true;
            inner.fast[e ^ 1].flags.0.closed.store(true, SeqCst);
            // SAFETY: lock held.
            unsafe {
                close_dir(out, &inner.fast[e], true, me);
                close_dir(inn, &inner.fast[e ^ 1], false, me);
            }
        }
        inner.lock.unlock();
        // After `closed` and before looking at the ring, as a pusher does
        // the reverse (see `pushed_slow`).
        std::sync::atomic::fence(SeqCst);
        // What was buffered for this end can never be received: drop it
        // now, without the lock (a destructor may use this channel). A
        // push still under way drops its value itself when it sees
        // `closed` (see `pushed_slow`).
        if let Some(ring) = &inner.fast[e ^ 1].ring {
            while let Pop::Value(v) = ring.pop() {
                drop(v);
            }
        }
    }
}

impl<T> fmt::Debug for SharedChan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.core;
        let (o, i) = (self.end, self.end ^ 1);
        let len = |d: usize| inner.fast[d].ring.as_ref().map_or(0, Ring::len);
        inner.lock.lock();
        let v = {
            // SAFETY: lock held; the reference ends with this block.
            let st = unsafe { inner.state() };
            EndView {
                end: self.end,
                done: st.dirs[o].done,
                peer_done: st.dirs[i].done,
                peer_dropped: st.dirs[o].closed,
                capacity: inner.fast[o].ring.as_ref().map_or(0, Ring::capacity),
                buffered_out: len(o),
                buffered_in: len(i),
                blocked_senders: st.dirs[o].senders.len(),
                blocked_receivers: st.dirs[i].receivers.len(),
            }
        };
        inner.lock.unlock();
        v.fmt::<T>(f, "SharedChan")
    }
}
