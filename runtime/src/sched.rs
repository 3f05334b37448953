//! The per-thread scheduler and the one primitive under every blocking call.
//!
//! A task (a coroutine, or the thread's own stack, task [`ROOT`]) blocks by
//! registering interest somewhere (an fd slot, a channel queue, a child's
//! joiner field, a bundle's waiter list), optionally arming a timer, and
//! calling [`wait`]. Whoever fires first calls [`Sched::trigger`], which
//! records the result and puts the task on the ready queue; later triggers see
//! that the task no longer waits and do nothing. When the task runs again it
//! withdraws its own registrations (the timer is withdrawn by [`wait`] itself)
//! before any user code sees the result. Cancellation is one more trigger.
//!
//! Coroutines are asymmetric (corosensei): a suspended coroutine returns to
//! whoever resumed it. Only two places resume coroutines: the scheduler loop,
//! which runs on the thread's own stack whenever the root task blocks, and
//! `go`, which starts a new coroutine at once on top of its parent (as
//! libdill does) until the child first blocks.

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};

use corosensei::{CoroutineResult, Yielder};
use slab::Slab;

use crate::inspect::{self, Name, Shared, Wait, WaitCode};
use crate::reactor::Reactor;
use crate::remote::{Remote, RemoteLocal, Waiter};
use crate::ring::Ring;
use crate::stack::{self, CoSlot, StackPool};
use crate::time::now;
use crate::timer::{self, Positions, TimerHeap};

/// The yielder type of every dill coroutine: resumed with a command, yields
/// nothing, returns nothing (results travel through the task).
pub(crate) type Yld = Yielder<usize, ()>;

/// The task id of the thread's own stack.
pub(crate) const ROOT: usize = 0;
/// "No task" / "no position".
pub(crate) const NONE: usize = usize::MAX;

/// Marks a ready-queue entry as "resume this zombie with [`ZOMBIE_DROP`]":
/// a detached zombie whose value must be dropped on its own stack. Keeping
/// the command in the queue entry keeps the common path free of it.
pub(crate) const DROP_TAG: usize = 1 << (usize::BITS - 1);

/// Resume command: carry on.
pub(crate) const RESUME: usize = 0;
/// Resume command to a zombie: its value has been moved out, just return.
pub(crate) const ZOMBIE_TAKEN: usize = 1;
/// Resume command to a zombie: drop your value, then return.
pub(crate) const ZOMBIE_DROP: usize = 2;
/// Resume command to a suspended coroutine: record your backtrace for
/// [`dump`](crate::dump) and suspend again (see `inspect.rs`).
pub(crate) const CAPTURE: usize = 3;

/// How many scheduler iterations may pass between clock checks; when a
/// millisecond has passed since the last poll, the reactor is polled even if
/// coroutines are ready, so busy coroutines cannot starve I/O and timers.
const FAIRNESS_TICKS: u32 = 64;

/// Task tables with more room than this are shrunk when the thread idles
/// with no coroutine left.
const SHRINK_ABOVE: usize = 4096;

/// A coroutine's (or the root's) control block.
#[derive(Debug)]
pub(crate) struct Task {
    /// The coroutine and its stack; `None` for the root and once returned.
    pub(crate) co: Option<NonNull<CoSlot>>,
    /// Set by the coroutine when it first runs.
    pub(crate) yielder: *const Yld,
    /// Blocked in [`wait`], not yet triggered.
    pub(crate) waiting: bool,
    /// The current wait may be ended by cancellation.
    pub(crate) cancellable: bool,
    /// Cancelled: every later cancellable wait fails with ECANCELED.
    pub(crate) cancelled: bool,
    /// The user function has returned (or panicked).
    pub(crate) finished: bool,
    /// The corosensei coroutine has completed and its stack is recycled.
    pub(crate) returned: bool,
    /// No handle refers to the task: it frees itself when it returns.
    pub(crate) detached: bool,
    /// Result of the last wait: `>= 0` clause index, `< 0` negated errno.
    pub(crate) result: i32,
    /// Position of the task's timer in the heap, or [`NONE`].
    pub(crate) timer: usize,
    /// The task waiting for this one to finish, or [`NONE`].
    pub(crate) joiner: usize,
    /// Where to write the result for the joiner (`*mut Option<thread::Result<T>>`).
    pub(crate) out: *mut (),
    /// A finished coroutine with nobody to take its value keeps it on its own
    /// stack (`*mut thread::Result<T>`) and stays suspended: a zombie.
    pub(crate) zombie: *mut (),
    /// A finished coroutine's result when it is small enough
    /// (`thread::Result<T>`, see [`InlineValue`]); valid iff `has_value`.
    pub(crate) value: InlineValue,
    /// `value` holds a result.
    pub(crate) has_value: bool,
    /// Owning bundle id, or [`NONE`].
    pub(crate) bundle: usize,
    /// Position in the bundle's member list.
    pub(crate) bundle_pos: usize,
    /// Per-thread unique number, never reused (the root is 0).
    pub(crate) seq: u64,
    /// Where `go` (or `Builder::go`, `Bundle::go`) was called.
    pub(crate) spawned_at: &'static std::panic::Location<'static>,
    /// The name given with [`Builder::name`](crate::Builder::name), or
    /// null: a `Box<String>` turned into a raw pointer, freed when the
    /// coroutine finishes. Raw, so that the task has no destructor: the
    /// task table's insertion then stays inlined into `spawn`.
    pub(crate) name: *mut String,
    /// What the current (or last) wait is for; meaningful while `waiting`.
    pub(crate) wait: WaitCode,
    /// When the current wait began, on the scheduler's coarse clock.
    pub(crate) since: i64,
    /// Ready-queue position of the task's last wake-up (valid while the
    /// entry is queued, see [`Sched::take_ready`]).
    pub(crate) queued_at: usize,
    /// While blocked on a shared channel: the wait's claim, which every
    /// trigger must win first (see `remote.rs`); null otherwise.
    pub(crate) claim: *const Waiter,
}

impl Task {
    /// The coroutine's name, if it has one.
    pub(crate) fn name(&self) -> Option<&str> {
        // SAFETY: a non-null `name` is a live `Box<String>` owned by the
        // task until `drop_name`.
        unsafe { self.name.as_ref() }.map(String::as_str)
    }

    /// Frees the name (the coroutine has finished: nobody lists it again).
    #[inline(always)]
    pub(crate) fn drop_name(&mut self) {
        if !self.name.is_null() {
            self.free_name();
        }
    }

    #[cold]
    #[inline(never)]
    fn free_name(&mut self) {
        // SAFETY: see `name`; the pointer is cleared at once.
        drop(unsafe { Box::from_raw(self.name) });
        self.name = ptr::null_mut();
    }

    #[inline]
    fn new(
        co: Option<NonNull<CoSlot>>,
        detached: bool,
        bundle: usize,
        seq: u64,
        spawned_at: &'static std::panic::Location<'static>,
        name: Option<Name>,
    ) -> Task {
        Task {
            seq,
            spawned_at,
            name: name.map_or(ptr::null_mut(), Box::into_raw),
            wait: WaitCode::pack(Wait::Other),
            since: 0,
            co,
            yielder: ptr::null(),
            waiting: false,
            cancellable: false,
            cancelled: false,
            finished: false,
            returned: co.is_none(),
            detached,
            result: 0,
            timer: NONE,
            joiner: NONE,
            out: ptr::null_mut(),
            zombie: ptr::null_mut(),
            value: InlineValue::EMPTY,
            has_value: false,
            bundle,
            bundle_pos: NONE,
            queued_at: NONE,
            claim: ptr::null(),
        }
    }
}

/// Room for a finished coroutine's result inside its task, so that the
/// coroutine can return (and its stack be recycled) before anyone joins it.
/// Results that do not fit make the coroutine wait as a zombie instead.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct InlineValue(pub(crate) [std::mem::MaybeUninit<u8>; INLINE_VALUE_SIZE]);

/// Size of [`InlineValue`].
pub(crate) const INLINE_VALUE_SIZE: usize = 32;

impl InlineValue {
    const EMPTY: InlineValue = InlineValue([std::mem::MaybeUninit::uninit(); INLINE_VALUE_SIZE]);
}

impl std::fmt::Debug for InlineValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InlineValue")
    }
}

/// Members and waiters of one bundle.
#[derive(Debug, Default)]
pub(crate) struct BundleState {
    pub(crate) members: Vec<usize>,
    pub(crate) waiters: Vec<usize>,
}

/// One scheduler per thread.
#[derive(Debug)]
pub(crate) struct Sched {
    pub(crate) tasks: Slab<Task>,
    pub(crate) ready: Ring,
    pub(crate) current: usize,
    pub(crate) timers: TimerHeap,
    pub(crate) reactor: Reactor,
    pub(crate) stacks: StackPool,
    pub(crate) bundles: Slab<BundleState>,
    /// Cross-thread wake-ups, set up when a task first blocks on a shared
    /// channel.
    pub(crate) remote: Option<RemoteLocal>,
    ticks: u32,
    pub(crate) last_poll: i64,
    /// The last coroutine number handed out.
    pub(crate) last_seq: u64,
    /// Reactor polls so far.
    pub(crate) polls: u64,
    /// What other threads (the stall monitor, the dump signal) may read or
    /// set; owned through a raw pointer so `&mut Sched` never covers it.
    pub(crate) shared: *const Shared,
    /// The dump signal's wake-up descriptor, registered with the reactor.
    pub(crate) dump_fd: std::os::fd::RawFd,
    /// Where the signal handler writes (the same eventfd on Linux).
    pub(crate) dump_wfd: std::os::fd::RawFd,
    /// A dump was asked for by signal; printed at the next loop turn.
    pub(crate) dump_pending: bool,
    /// The thread-local owner has run its destructor while handles were
    /// still alive: the last handle to go frees the scheduler.
    orphaned: bool,
    _altstack: stack::AltStack,
}

/// Lets the timer heap record positions in the task table.
struct TaskPos<'a>(&'a mut Slab<Task>);

impl Positions for TaskPos<'_> {
    #[inline]
    fn set_pos(&mut self, owner: usize, pos: usize) {
        self.0[owner].timer = pos;
    }
}

thread_local! {
    static SCHED: Cell<*mut Sched> = const { Cell::new(ptr::null_mut()) };
    static OWNER: SchedOwner = const { SchedOwner };
}

/// Frees the thread's scheduler when the thread exits.
struct SchedOwner;

/// Schedulers alive in the process (a diagnostic for leak tests).
static LIVE_SCHEDULERS: AtomicUsize = AtomicUsize::new(0);

/// How many thread schedulers exist in the process: created on a thread's
/// first use of dill, freed when the thread exits (or, when handles kept in
/// thread-locals outlive the scheduler's owner, when the last one goes).
#[doc(hidden)]
pub fn live_schedulers() -> usize {
    LIVE_SCHEDULERS.load(Ordering::Relaxed)
}

impl Drop for SchedOwner {
    fn drop(&mut self) {
        let p = SCHED.with(|c| c.get());
        if p.is_null() {
            return;
        }
        // SAFETY: `p` is the live scheduler; nothing runs during this check.
        let sched = unsafe { &mut *p };
        inspect::thread_exit(sched);
        if sched.in_use() {
            // Handles still exist: leaked, or kept in thread-locals whose
            // destructors run after this one (they run in reverse order of
            // registration). Their drops need this scheduler to cancel and
            // wait, so it stays in place; the last of them frees it
            // (`release_if_orphaned`).
            sched.orphaned = true;
            return;
        }
        SCHED.with(|c| c.set(ptr::null_mut()));
        // SAFETY: `p` came from `Box::into_raw` in `init` and the
        // thread-local no longer refers to it, so this is the only owner.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Frees the scheduler if its owner (the thread-local destructor) has
/// already run and the last handle has just gone. Called at the end of
/// handle drops, with no reference to the scheduler alive.
#[inline]
pub(crate) fn release_if_orphaned() {
    let p = SCHED.with(|c| c.get());
    if p.is_null() {
        return;
    }
    // SAFETY: `p` is the live scheduler; no reference to it is held by the
    // caller (see above) and nothing runs during this check.
    let sched = unsafe { &*p };
    if !sched.orphaned || sched.in_use() || sched.current != ROOT {
        return;
    }
    release_orphan(p);
}

#[cold]
fn release_orphan(p: *mut Sched) {
    SCHED.with(|c| c.set(ptr::null_mut()));
    // SAFETY: the owner has given the scheduler up (`orphaned`), no handle
    // refers to it any more and the thread-local no longer does either.
    drop(unsafe { Box::from_raw(p) });
}

impl Drop for Sched {
    fn drop(&mut self) {
        // Coroutines still alive here belong to leaked handles. Unwinding
        // them now could run user code during thread teardown, so their
        // stacks are left as they are: the stack pool sees them in use and
        // keeps its regions mapped.
        for (_, t) in self.tasks.iter_mut() {
            t.co = None;
        }
        inspect::free_shared(self.shared);
        LIVE_SCHEDULERS.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cold]
fn init() -> *mut Sched {
    stack::install_overflow_handler();
    let mut tasks = Slab::with_capacity(64);
    let root = tasks.insert(Task::new(
        None,
        false,
        NONE,
        0,
        std::panic::Location::caller(),
        None,
    ));
    debug_assert_eq!(root, ROOT);
    let s = Box::new(Sched {
        tasks,
        ready: Ring::with_capacity(64),
        current: ROOT,
        timers: TimerHeap::default(),
        reactor: Reactor::new(),
        stacks: StackPool::default(),
        bundles: Slab::new(),
        remote: None,
        ticks: 0,
        last_poll: now(),
        last_seq: 0,
        polls: 0,
        shared: inspect::thread_start(),
        dump_fd: -1,
        dump_wfd: -1,
        dump_pending: false,
        orphaned: false,
        _altstack: stack::AltStack::ensure(),
    });
    let p = Box::into_raw(s);
    LIVE_SCHEDULERS.fetch_add(1, Ordering::Relaxed);
    SCHED.with(|c| c.set(p));
    // Registers the destructor. If the thread is already tearing down its
    // thread-locals this fails and the scheduler is leaked, which is safe.
    let _ = OWNER.try_with(|_| ());
    p
}

/// The calling thread's scheduler, created on first use.
///
/// Callers turn it into `&mut Sched` only for short stretches that contain
/// no coroutine switch, and derive it again after every switch.
#[inline]
pub(crate) fn sched() -> *mut Sched {
    let p = SCHED.with(|c| c.get());
    if p.is_null() {
        init()
    } else {
        p
    }
}

/// The calling thread's scheduler, or null if it has none (never creates
/// one: for signal handlers).
pub(crate) fn sched_if_any() -> *mut Sched {
    SCHED.try_with(|c| c.get()).unwrap_or(ptr::null_mut())
}

/// The calling thread's [`Remote`], or null if it has none (or no
/// scheduler). Creates nothing.
#[inline]
pub(crate) fn current_remote() -> *const Remote {
    let p = SCHED.with(|c| c.get());
    if p.is_null() {
        return ptr::null();
    }
    // SAFETY: the scheduler is valid for the thread's lifetime; the
    // reference ends at once.
    match unsafe { &(*p).remote } {
        Some(rl) => std::sync::Arc::as_ptr(&rl.remote),
        None => ptr::null(),
    }
}

/// Short-lived exclusive access to the scheduler.
///
/// # Safety
/// The caller must not keep the reference across a coroutine switch
/// ([`wait`], [`switch_out`], [`resume`]) nor hold two of them at once.
#[inline]
pub(crate) unsafe fn s<'a>() -> &'a mut Sched {
    // SAFETY: the pointer is valid for the thread's lifetime and only this
    // thread touches it; exclusivity is the caller's promise.
    unsafe { &mut *sched() }
}

impl Sched {
    /// After a burst, when only the root is left: gives back the memory of
    /// the task table and the ready queue, which grow with the population
    /// (about 150 bytes per coroutine) and never shrink on their own.
    #[inline]
    fn shrink_idle(&mut self) {
        if self.tasks.len() == 1 && self.tasks.capacity() > SHRINK_ABOVE {
            self.shrink_tables();
        }
    }

    #[cold]
    fn shrink_tables(&mut self) {
        // Only the root is left and it runs this loop, so moving its task
        // moves nothing anyone points at (tasks are named by id), and on an
        // empty slab it gets id 0 = ROOT again.
        let root = self.tasks.remove(ROOT);
        let mut tasks = Slab::with_capacity(64);
        let id = tasks.insert(root);
        debug_assert_eq!(id, ROOT);
        self.tasks = tasks;
        self.ready.shrink();
        self.timers.shrink();
    }

    /// Does any handle still refer to this scheduler (a coroutine other
    /// than the root, or a bundle)?
    fn in_use(&self) -> bool {
        self.tasks.len() > 1 || !self.bundles.is_empty()
    }

    /// Ends `id`'s wait with `res` unless it is not waiting (first trigger
    /// wins). Returns whether the trigger took effect.
    #[inline]
    pub(crate) fn trigger(&mut self, id: usize, res: i32) -> bool {
        let t = &mut self.tasks[id];
        if !t.waiting {
            return false;
        }
        // SAFETY: a published claim lives on the waiting task's stack.
        if !t.claim.is_null() && !unsafe { (*t.claim).claim(res) } {
            // Another thread completed the wait; its hand-off readies it.
            return false;
        }
        t.waiting = false;
        t.result = res;
        t.queued_at = self.ready.push_back(id);
        true
    }

    /// If `id` has been woken and waits in the ready queue, takes it out so
    /// that the caller can resume it at once ([`resume`]). Used by a task
    /// that is about to wait for `id` to finish: running it directly lets it
    /// return (and its stack be reused) right away instead of after every
    /// task queued before it, which keeps fan-in trees (skynet) from
    /// holding all their stacks at once.
    #[inline]
    pub(crate) fn take_ready(&mut self, id: usize) -> bool {
        let pos = self.tasks[id].queued_at;
        pos != NONE && self.ready.withdraw(pos, id)
    }

    /// The current thread's cross-thread wake-up state, created (with its
    /// doorbell registered in the reactor) on first use.
    pub(crate) fn remote(&mut self) -> std::io::Result<&RemoteLocal> {
        if self.remote.is_none() {
            let r = Remote::new()?;
            self.reactor
                .register(r.fd(), crate::reactor::Dir::In, NONE)?;
            self.remote = Some(RemoteLocal {
                remote: std::sync::Arc::new(r),
                waits: Cell::new(0),
            });
        }
        Ok(self.remote.as_ref().expect("just set"))
    }

    /// Makes ready the tasks whose waits other threads completed.
    #[inline]
    fn drain_remote(&mut self) {
        let Some(rl) = &self.remote else { return };
        if !rl.remote.has_pending() {
            return;
        }
        let (tasks, ready) = (&mut self.tasks, &mut self.ready);
        rl.remote.take(|id, res| {
            let t = &mut tasks[id];
            debug_assert!(t.waiting);
            t.waiting = false;
            t.result = res;
            t.queued_at = ready.push_back(id);
        });
    }

    /// Marks `id` cancelled and ends its current wait if that wait allows it.
    pub(crate) fn cancel(&mut self, id: usize) {
        let t = &mut self.tasks[id];
        if t.finished {
            return;
        }
        t.cancelled = true;
        if t.waiting && t.cancellable {
            self.trigger(id, -libc::ECANCELED);
        }
    }

    /// Is the current task cancelled?
    #[inline]
    pub(crate) fn cancelled(&self) -> bool {
        self.tasks[self.current].cancelled
    }

    /// Polls the reactor (blocking until the next timer if `block`) and
    /// fires expired timers.
    fn poll(&mut self, block: bool) {
        let timeout = if block {
            match self.timers.next_deadline() {
                None => -1,
                Some(d) => (d - now()).clamp(0, i32::MAX as i64) as i32,
            }
        } else {
            0
        };
        self.polls += 1;
        if self.dump_fd == -1 && inspect::dump_signal_enabled() {
            inspect::register_dump_fd(self);
        }
        // Before sleeping, give the CPU away and look again (see
        // `look_before_sleeping`): events found that way need no wake-up.
        let early = if timeout != 0 {
            self.look_before_sleeping()
        } else {
            0
        };
        // With waits handed over by other threads pending, there is work
        // already: the reactor is not asked now (that would be a system
        // call per cross-thread hand-over); the fairness poll in the loop
        // still asks it at least once a millisecond.
        let (sleep, ask) = match &self.remote {
            _ if early > 0 => (false, false),
            Some(rl) if timeout != 0 => {
                let sleep = rl.remote.prepare_sleep(rl.waits.get() > 0);
                (sleep, sleep)
            }
            _ => (timeout != 0, true),
        };
        let n = if early > 0 {
            early
        } else if ask && sleep {
            // SAFETY: `shared` lives as long as the scheduler.
            let sh = unsafe { &*self.shared };
            sh.idle(true);
            let n = self.reactor.wait(timeout);
            sh.idle(false);
            n
        } else if ask {
            self.reactor.wait(0)
        } else {
            0
        };
        if sleep {
            if let Some(rl) = &self.remote {
                rl.remote.after_sleep();
            }
        }
        for i in 0..n {
            let (fd, readable, writable) = self.reactor.event(i);
            if fd == self.dump_fd {
                inspect::drain_dump_fd(fd);
                self.dump_pending = true;
                continue;
            }
            let (r, w) = self.reactor.waiters(fd);
            if readable {
                self.reactor.set_readable(fd);
                if r != NONE {
                    self.trigger(r, 0);
                }
            }
            if writable && w != NONE {
                self.trigger(w, 0);
            }
        }
        let t = now();
        while let Some(id) = self.timers.pop_expired(t, &mut TaskPos(&mut self.tasks)) {
            self.trigger(id, -libc::ETIMEDOUT);
        }
        self.drain_remote();
        if ask || early > 0 {
            self.last_poll = t;
        }
    }

    /// Runs just before the scheduler would block in the reactor: polls it
    /// without blocking and, when nothing is there, yields the CPU and
    /// polls again, up to [`idle_yields`] times. Returns the events found
    /// (0: go to sleep).
    ///
    /// A thread that sleeps in `epoll_wait` must be woken by whoever makes
    /// its descriptor ready: a wake-up costs the waker a few microseconds
    /// and, from another CPU, an inter-processor interrupt, which on a VM
    /// is tens of microseconds. When other threads (the peer process, the
    /// process's other schedulers) share this CPU, yielding lets them run
    /// first and often produce the very events this thread waits for, which
    /// it then finds without having slept. When nothing else is runnable,
    /// `sched_yield` returns at once and this costs a few system calls per
    /// idle transition. Measured in DESIGN.md ("Going idle").
    fn look_before_sleeping(&mut self) -> usize {
        let yields = idle_yields();
        // Coroutines blocked on shared channels: `prepare_sleep` looks for
        // their partners' answers, which come sooner than a system call.
        if yields == 0 || self.remote.as_ref().is_some_and(|rl| rl.waits.get() > 0) {
            return 0;
        }
        let mut n = self.reactor.wait(0);
        for _ in 0..yields {
            if n > 0
                || self
                    .remote
                    .as_ref()
                    .is_some_and(|rl| rl.remote.has_pending())
            {
                break;
            }
            // SAFETY: plain system call.
            unsafe { libc::sched_yield() };
            n = self.reactor.wait(0);
        }
        n
    }

    /// Called when a coroutine's function has completed: recycles its stack
    /// and frees the task if no handle refers to it.
    fn reap(&mut self, id: usize) {
        let t = &mut self.tasks[id];
        t.returned = true;
        if let Some(slot) = t.co.take() {
            self.stacks.recycle(slot);
        }
        if t.detached {
            self.tasks.remove(id);
        }
    }

    /// Adds task `id` to bundle `b`.
    pub(crate) fn bundle_add(&mut self, b: usize, id: usize) {
        let members = &mut self.bundles[b].members;
        self.tasks[id].bundle_pos = members.len();
        members.push(id);
    }

    /// Removes task `id` from its bundle; wakes the bundle's waiters when it
    /// was the last member.
    pub(crate) fn bundle_remove(&mut self, id: usize) {
        let t = &mut self.tasks[id];
        let (b, pos) = (t.bundle, t.bundle_pos);
        t.bundle = NONE;
        t.bundle_pos = NONE;
        let st = &mut self.bundles[b];
        st.members.swap_remove(pos);
        if let Some(&moved) = st.members.get(pos) {
            self.tasks[moved].bundle_pos = pos;
        }
        let st = &mut self.bundles[b];
        if st.members.is_empty() {
            let mut waiters = std::mem::take(&mut st.waiters);
            for &w in &waiters {
                self.trigger(w, 0);
            }
            waiters.clear();
            self.bundles[b].waiters = waiters;
        }
    }
}

/// [`wait_on`] for a wait that does not say what it waits on
/// ([`Wait::Other`]). Every wait site of the runtime names its wait; this
/// stays for new ones until they do.
#[allow(dead_code)]
#[inline(always)]
pub(crate) fn wait(deadline: i64, cancellable: bool) -> i32 {
    wait_on(Wait::Other, deadline, cancellable)
}

/// Blocks the current task until something triggers it or `deadline`
/// passes, and returns the trigger's result (`-ETIMEDOUT` on timeout,
/// `-ECANCELED` on cancellation when `cancellable`).
///
/// The caller registers its interest before and withdraws it after.
///
/// Always inlined, for the reason given at [`switch_out`]: callers on hot
/// paths (channels) should be inlined into user code as well.
///
/// `what` is recorded for [`coroutines`](crate::coroutines) and
/// [`dump`](crate::dump), with the time the wait began.
#[inline(always)]
pub(crate) fn wait_on(what: Wait, deadline: i64, cancellable: bool) -> i32 {
    let cur;
    {
        // SAFETY: no switch inside this block.
        let s = unsafe { s() };
        cur = s.current;
        if cancellable && s.tasks[cur].cancelled {
            return -libc::ECANCELED;
        }
        if deadline > 0 {
            s.timers.push(deadline, cur, &mut TaskPos(&mut s.tasks));
        }
        let since = s.last_poll;
        let t = &mut s.tasks[cur];
        t.waiting = true;
        t.cancellable = cancellable;
        t.wait = WaitCode::pack(what);
        t.since = since;
    }
    switch_out(cur);
    // SAFETY: no switch from here on.
    let s = unsafe { s() };
    let pos = s.tasks[cur].timer;
    if pos != timer::NONE {
        s.timers.remove(pos, &mut TaskPos(&mut s.tasks));
    }
    s.tasks[cur].result
}

/// Gives up the CPU: a coroutine suspends to whoever resumed it; the root
/// runs the scheduler loop until it is itself taken off the ready queue.
///
/// Inlined, like [`resume`], so that the code running right after a stack
/// switch does not `ret` through frames the CPU's return-address predictor
/// saw on the other stack: that costs a misprediction per frame and used to
/// multiply the cost of a switch by ten.
#[inline(always)]
pub(crate) fn switch_out(cur: usize) {
    if cur == ROOT {
        run_loop();
    } else {
        // SAFETY: no switch while the reference lives.
        let y = unsafe { s() }.tasks[cur].yielder;
        debug_assert!(!y.is_null());
        // SAFETY: the yielder lives on this coroutine's own stack for as
        // long as the coroutine runs, and we are running on that stack.
        if unsafe { (*y).suspend(()) } == CAPTURE {
            // SAFETY: as above.
            inspect::capture_suspended(unsafe { &*y });
        }
    }
}

/// The scheduler loop, run on the thread's own stack while the root waits.
fn run_loop() {
    loop {
        let next = {
            // SAFETY: no switch inside this block.
            let s = unsafe { s() };
            s.ticks += 1;
            if s.remote.is_some() {
                s.drain_remote();
            }
            // A dump asked for by signal is noticed by a poll; the loop
            // then takes a turn without running anyone and prints it.
            let mut dump = false;
            if s.ticks >= FAIRNESS_TICKS {
                s.ticks = 0;
                if now() > s.last_poll {
                    s.poll(false);
                    dump = s.dump_pending;
                }
            }
            if dump {
                None
            } else {
                match s.ready.pop_front() {
                    Some(id) => Some(id),
                    None => {
                        // Nothing to run: a good time to give idle stacks'
                        // memory back.
                        s.stacks.trim_idle();
                        s.shrink_idle();
                        s.poll(true);
                        None
                    }
                }
            }
        };
        match next {
            Some(ROOT) => {
                // SAFETY: `shared` lives as long as the scheduler.
                unsafe { &*s().shared }.count_switch();
                return;
            }
            Some(id) if id & DROP_TAG == 0 => resume(id, RESUME),
            Some(id) => resume(id & !DROP_TAG, ZOMBIE_DROP),
            None => {
                // SAFETY: no switch while the reference lives.
                if unsafe { s() }.dump_pending {
                    inspect::signal_dump();
                }
            }
        }
    }
}

/// Runs coroutine `id` until it suspends or returns.
#[inline(always)]
pub(crate) fn resume(id: usize, input: usize) {
    let (slot, prev) = {
        // SAFETY: no switch inside this block.
        let s = unsafe { s() };
        let slot = s.tasks[id]
            .co
            .expect("resumed a coroutine that has returned");
        let prev = s.current;
        s.current = id;
        // SAFETY: `shared` lives as long as the scheduler.
        unsafe { &*s.shared }.count_switch();
        (slot, prev)
    };
    let guard = stack::enter(slot);
    // SAFETY: the slot is owned by task `id` and stays put (it is boxed);
    // nothing else touches its coroutine while it runs, and a running
    // coroutine is never resumed again (it is neither waiting nor queued).
    let r = unsafe { (*slot.as_ptr()).resume(input) };
    stack::leave(guard);
    // SAFETY: no switch from here on.
    let s = unsafe { s() };
    s.current = prev;
    if let CoroutineResult::Return(()) = r {
        s.reap(id);
    }
}

/// Creates task bookkeeping for a new coroutine running `body` and starts
/// it (at once, unless the thread is panicking: then it is queued).
/// `spawned_at` is the user's call site; `name` is set only by `Builder`.
pub(crate) fn spawn(
    stack_size: usize,
    bundle: usize,
    spawned_at: &'static std::panic::Location<'static>,
    name: Option<Name>,
    body: impl FnOnce(usize, &Yld) + 'static,
) -> std::io::Result<usize> {
    let id = {
        // SAFETY: no switch inside this block.
        let s = unsafe { s() };
        if s.cancelled() {
            return Err(crate::error::errno(libc::ECANCELED));
        }
        let slot = s.stacks.get(stack_size)?;
        s.last_seq += 1;
        let id = s.tasks.insert(Task::new(
            Some(slot),
            bundle != NONE,
            bundle,
            s.last_seq,
            spawned_at,
            name,
        ));
        if bundle != NONE {
            s.bundle_add(bundle, id);
        }
        // SAFETY: `shared` lives as long as the scheduler.
        unsafe { &*s.shared }.live_add(1);
        // SAFETY: the slot was just taken from the pool and belongs to us.
        unsafe { (*slot.as_ptr()).start(move |y: &Yld, _: usize| body(id, y)) };
        if std::thread::panicking() {
            s.ready.push_back(id);
            return Ok(id);
        }
        id
    };
    resume(id, RESUME);
    Ok(id)
}

/// How many times an idle scheduler yields the CPU and looks again before
/// it blocks in the reactor (see `Sched::look_before_sleeping`).
const IDLE_YIELDS: usize = 3;

/// [`IDLE_YIELDS`], or `DILL_IDLE_YIELDS` from the environment (read once
/// per process; 0 sleeps at once, at most 100), which the benchmarks use to
/// measure the choice.
fn idle_yields() -> usize {
    static YIELDS: crate::knob::Knob = crate::knob::Knob::new("DILL_IDLE_YIELDS");
    YIELDS.get(|v| v.map_or(IDLE_YIELDS as u64, |n| n.min(100))) as usize
}
