//! Shared channels: channels whose ends may be used by coroutines of any
//! thread.
//!
//! The layout mirrors the local channel's (two directions, each with a
//! queue of blocked senders and one of blocked receivers, `done`/`closed`
//! bits and an optional buffer), behind one short spin-then-yield lock. The
//! queue nodes are the same [`Node`]s, living on the blocked coroutines'
//! stacks, and `choose` handles these clauses with the same machinery as
//! local ones (it takes the locks of the shared channels it names, in
//! address order, for its check-then-enqueue step).
//!
//! A blocked party publishes a [`Waiter`]: whoever completes its wait, on
//! whatever thread, must first win the waiter's claim. A partner on the
//! owner's thread does it through the scheduler's `trigger`; one on another
//! thread claims, moves the value, unlinks the node, and hands the waiter
//! to the owner's scheduler (see `remote.rs`), all without allocating.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::ptr;
use std::sync::Arc;

use crate::chan::{may_block, Node, Queue, BLOCK};
use crate::error::{errno, wait_result};
use crate::inspect::Wait;
use crate::remote::{RawLock, Remote, Waiter};
use crate::sched::{current_remote, s, wait_on};
use crate::time;

/// One direction of a shared channel.
struct SDir<T> {
    senders: Queue,
    receivers: Queue,
    done: bool,
    closed: bool,
    /// Allocated with room for `cap` values at creation and never grown.
    buf: VecDeque<T>,
    cap: usize,
}

struct State<T> {
    dirs: [SDir<T>; 2],
    handles: [usize; 2],
}

/// A shared channel's allocation.
pub(crate) struct SharedInner<T> {
    pub(crate) lock: RawLock,
    state: UnsafeCell<State<T>>,
}

// SAFETY: the state is only touched with `lock` held; values of `T` move
// between threads, hence `T: Send`. The raw node pointers in the queues
// point at blocked coroutines' stacks, which stay valid while linked.
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
    unsafe fn state(&self) -> &mut State<T> {
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

/// Unlinks and returns the first node whose wait can be claimed (with its
/// clause index), or null. Nodes already claimed are skipped; their owners
/// withdraw them.
///
/// # Safety
/// The caller holds the lock of the channel owning `q`.
#[inline]
unsafe fn pop_and_claim(q: &mut Queue, me: *const Remote) -> *const Node {
    let mut n = q.head;
    while !n.is_null() {
        // SAFETY: linked nodes are valid (lock held).
        unsafe {
            if claim(n, (*n).index, me) {
                q.unlink(n);
                return n;
            }
            n = (*n).next();
        }
    }
    ptr::null()
}

/// Ends with `-EPIPE` every wait in `q` that can still be claimed, marking
/// its node done.
///
/// # Safety
/// The caller holds the lock of the channel owning `q`.
unsafe fn fail_all(q: &mut Queue, me: *const Remote) {
    let mut n = q.head;
    while !n.is_null() {
        // SAFETY: linked nodes are valid (lock held); `next` is read before
        // the node may be freed by `notify`.
        unsafe {
            let next = (*n).next();
            if claim(n, -libc::EPIPE, me) {
                q.unlink(n);
                (*n).done.set(true);
                notify(n, me);
            }
            n = next;
        }
    }
}

/// Tries to complete one operation on end `end` without blocking; as the
/// local channel's `attempt`.
///
/// # Safety
/// The caller holds `inner.lock`; `slot` is a valid `Option<T>` (`Some` to
/// send, `None` to receive).
pub(crate) unsafe fn attempt<T>(
    inner: &SharedInner<T>,
    end: usize,
    send: bool,
    slot: *mut Option<T>,
) -> i32 {
    let me = current_remote();
    // SAFETY: lock held (caller).
    let st = unsafe { inner.state() };
    if send {
        let d = &mut st.dirs[end];
        if d.done || d.closed {
            return -libc::EPIPE;
        }
        if d.buf.is_empty() {
            // SAFETY: lock held.
            let p = unsafe { pop_and_claim(&mut d.receivers, me) };
            if !p.is_null() {
                // SAFETY: the claimed partner's slot is an empty `Option<T>`
                // on its stack, which does not run before `notify`.
                unsafe {
                    ptr::write((*p).slot as *mut Option<T>, (*slot).take());
                    notify(p, me);
                }
                return 0;
            }
        }
        if d.buf.len() < d.cap {
            // SAFETY: a send's slot holds a value.
            d.buf
                .push_back(unsafe { (*slot).take().unwrap_unchecked() });
            return 0;
        }
        BLOCK
    } else {
        let d = &mut st.dirs[end ^ 1];
        if let Some(v) = d.buf.pop_front() {
            // SAFETY: our slot is an empty `Option<T>`.
            unsafe { ptr::write(slot, Some(v)) };
            // SAFETY: lock held.
            let p = unsafe { pop_and_claim(&mut d.senders, me) };
            if !p.is_null() {
                // SAFETY: the claimed sender's slot holds its value.
                unsafe {
                    let v = (*((*p).slot as *mut Option<T>)).take().unwrap_unchecked();
                    d.buf.push_back(v);
                    notify(p, me);
                }
            }
            return 0;
        }
        // SAFETY: lock held.
        let p = unsafe { pop_and_claim(&mut d.senders, me) };
        if p.is_null() {
            return if d.done { -libc::EPIPE } else { BLOCK };
        }
        // SAFETY: as above.
        unsafe {
            ptr::write(slot, (*((*p).slot as *mut Option<T>)).take());
            notify(p, me);
        }
        0
    }
}

/// Links `n` into the queue where a clause on `end` waits.
///
/// # Safety
/// The caller holds `inner.lock`; `n` stays valid and unmoved until
/// withdrawn (or claimed).
pub(crate) unsafe fn enqueue<T>(inner: &SharedInner<T>, end: usize, send: bool, n: *const Node) {
    // SAFETY: lock held (caller).
    let st = unsafe { inner.state() };
    // SAFETY: forwarded from the caller.
    unsafe {
        if send {
            st.dirs[end].senders.push_back(n);
        } else {
            st.dirs[end ^ 1].receivers.push_back(n);
        }
    }
}

/// Unlinks `n` if it is still linked, taking the lock only then.
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
        let st = inner.state();
        if send {
            st.dirs[end].senders.unlink(n);
        } else {
            st.dirs[end ^ 1].receivers.unlink(n);
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
    let mk = || -> io::Result<SDir<T>> {
        let mut buf = VecDeque::new();
        buf.try_reserve_exact(capacity)
            .map_err(|_| errno(libc::ENOMEM))?;
        Ok(SDir {
            senders: Queue::new(),
            receivers: Queue::new(),
            done: false,
            closed: false,
            buf,
            cap: capacity,
        })
    };
    let inner = Arc::new(SharedInner {
        lock: RawLock::new(),
        state: UnsafeCell::new(State {
            dirs: [mk()?, mk()?],
            handles: [1, 1],
        }),
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
        self.core.lock.lock();
        // SAFETY: lock held; the reference ends before unlocking.
        let st = unsafe { self.core.state() };
        let d = &mut st.dirs[self.end];
        let r = if d.done {
            Err(errno(libc::EPIPE))
        } else {
            d.done = true;
            // SAFETY: lock held.
            unsafe {
                fail_all(&mut d.senders, me);
                fail_all(&mut d.receivers, me);
            }
            Ok(())
        };
        self.core.lock.unlock();
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

    fn op(&self, send: bool, slot: &mut Option<T>, deadline: i64, what: Wait) -> io::Result<()> {
        time::check(deadline)?;
        let inner = &*self.core;
        let slot: *mut Option<T> = slot;
        let cur = loop {
            inner.lock.lock();
            // SAFETY: lock held; `slot` is a live `Option<T>` of the right
            // state.
            let r = unsafe { attempt(inner, self.end, send, slot) };
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
        node.slot = slot as *mut ();
        node.waiter = &waiter;
        // SAFETY: `waiter` stays on this stack until `unpublish`.
        node.remote = unsafe { publish(&waiter) };
        let n: *const Node = &node;
        // SAFETY: lock held; `node` stays here until withdrawn below.
        unsafe { enqueue(inner, self.end, send, n) };
        inner.lock.unlock();
        let r = wait_on(what, deadline, true);
        unpublish();
        // SAFETY: enqueued above; the wait has ended.
        unsafe { withdraw(inner, self.end, send, n) };
        wait_result(r).map(drop)
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
        self.core.lock.lock();
        {
            // SAFETY: lock held; the reference ends with this block.
            let st = unsafe { self.core.state() };
            st.handles[e] -= 1;
            if st.handles[e] > 0 {
                self.core.lock.unlock();
                return;
            }
            let [d0, d1] = &mut st.dirs;
            let (out, inn) = if e == 0 { (d0, d1) } else { (d1, d0) };
            // Nothing more goes out of this end, and nobody is left to
            // receive what the other end sends.
            out.done = true;
            inn.closed = true;
            // SAFETY: lock held.
            unsafe {
                fail_all(&mut out.senders, me);
                fail_all(&mut out.receivers, me);
                fail_all(&mut inn.senders, me);
                fail_all(&mut inn.receivers, me);
            }
        }
        self.core.lock.unlock();
        // What was buffered for this end can never be received: drop it
        // now, outside the lock (a destructor may use this channel).
        loop {
            self.core.lock.lock();
            // SAFETY: lock held.
            let v = unsafe { self.core.state() }.dirs[e ^ 1].buf.pop_front();
            self.core.lock.unlock();
            match v {
                Some(v) => drop(v),
                None => break,
            }
        }
    }
}

impl<T> fmt::Debug for SharedChan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.lock.lock();
        let (done, peer_dropped, cap, out, peer_done, inn, senders, receivers) = {
            // SAFETY: lock held; the reference ends with this block.
            let st = unsafe { self.core.state() };
            let (o, i) = (&st.dirs[self.end], &st.dirs[self.end ^ 1]);
            (
                o.done,
                o.closed,
                o.cap,
                o.buf.len(),
                i.done,
                i.buf.len(),
                o.senders.len(),
                i.receivers.len(),
            )
        };
        self.core.lock.unlock();
        f.debug_struct("SharedChan")
            .field("end", &self.end)
            .field("type", &std::any::type_name::<T>())
            .field("done", &done)
            .field("peer_done", &peer_done)
            .field("peer_dropped", &peer_dropped)
            .field("capacity", &cap)
            .field("buffered_out", &out)
            .field("buffered_in", &inn)
            .field("blocked_senders", &senders)
            .field("blocked_receivers", &receivers)
            .finish()
    }
}
