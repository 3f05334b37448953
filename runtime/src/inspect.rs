//! Seeing inside a running program: coroutine names and spawn locations,
//! [`coroutines`], [`dump`] with backtraces, a dump on a signal, a stall
//! detector and per-thread [`counters`].
//!
//! **Bookkeeping.** Every task records where it was spawned (a
//! `&'static Location` from `#[track_caller]`, no allocation), an optional
//! name (set only through [`Builder`], which allocates it), what its current
//! wait is for ([`Wait`], one store at each wait site) and when that wait
//! began, on the scheduler's coarse clock (the time of the last reactor
//! poll, so no clock read is added to the wait path).
//!
//! **Backtraces.** A suspended coroutine sits in `sched::switch_out`. `dump`
//! resumes it with the command `CAPTURE`; `switch_out` sees the command and
//! calls [`capture_suspended`], which walks the coroutine's own stack and
//! suspends straight back, so none of the coroutine's own code runs and its
//! wait is left exactly as it was. Raw return addresses are collected first
//! (cheap); a `std::backtrace::Backtrace` is captured, and later symbolized,
//! only once per distinct stack, so ten thousand coroutines parked at the
//! same place cost one symbolization.
//!
//! **Signal.** [`dump_on_signal`] installs a handler that only writes to one
//! wake-up descriptor per thread (an eventfd on Linux, a pipe elsewhere),
//! which each scheduler has registered with its reactor. The scheduler
//! notices it at its next reactor turn and prints its [`dump`] to stderr.
//!
//! **Stall detector.** Every scheduler counts its switches in a block other
//! threads may read ([`Shared`]). The monitor thread started by
//! [`stall_detector`] samples these counters; a thread whose counter has not
//! moved for the threshold while it has live coroutines and is not asleep in
//! the reactor is stalled. The monitor then sends the thread `SIGURG`; the
//! handler, on the stalled thread, reads which task runs and, when the
//! thread is blocked in a system call that cannot hold a lock the
//! backtrace machinery needs, captures the thread's backtrace.

use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU64, AtomicU8};
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::bundle::Bundle;
use crate::coroutine::Coroutine;
use crate::error::errno;
use crate::reactor::Dir;
use crate::sched::{self, s, Sched, Yld, CAPTURE, NONE, ROOT};
use crate::stack::default_stack_size;
use crate::time::now;

// ---------------------------------------------------------------------------
// Builder

/// A coroutine's name, behind a thin pointer: 8 bytes in the task instead
/// of 16 (only named coroutines pay the extra allocation).
#[allow(clippy::box_collection)]
pub(crate) type Name = Box<String>;

/// Coroutine options: a name and a stack size, then [`go`](Builder::go) or
/// [`go_in`](Builder::go_in) a bundle.
///
/// The name shows in [`coroutines`], [`dump`] and stall reports. Naming a
/// coroutine allocates the name once; unnamed coroutines started with
/// [`go`](crate::go) allocate nothing for their bookkeeping.
#[doc = include_str!("../../docs/builder.md")]
#[derive(Clone, Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Options with no name and the default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine.
    pub fn name(mut self, name: &str) -> Builder {
        self.name = Some(name.to_owned());
        self
    }

    /// Gives the coroutine a stack of `bytes` bytes (as
    /// [`go_with_stack_size`](crate::go_with_stack_size)).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Launches `f` as a coroutine with these options, as [`go`](crate::go)
    /// does, and returns its handle.
    ///
    /// # Errors
    ///
    /// * `ECANCELED`: the calling coroutine is being cancelled.
    /// * `ENOMEM`: no stack could be had.
    #[track_caller]
    pub fn go<F, T>(self, f: F) -> io::Result<Coroutine<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let size = self.stack_size.unwrap_or_else(default_stack_size);
        crate::coroutine::go_at(size, Location::caller(), self.into_name(), f)
    }

    /// Launches `f` as a coroutine owned by bundle `b`, as
    /// [`Bundle::go`] does.
    ///
    /// # Errors
    ///
    /// As [`Builder::go`].
    #[track_caller]
    pub fn go_in<F: FnOnce() + 'static>(self, b: &Bundle, f: F) -> io::Result<()> {
        let size = self.stack_size.unwrap_or_else(default_stack_size);
        b.go_at(size, Location::caller(), self.into_name(), f)
    }

    fn into_name(self) -> Option<Name> {
        self.name.map(Box::new)
    }
}

// ---------------------------------------------------------------------------
// States

/// What a blocked coroutine waits for (part of [`State::Waiting`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wait {
    /// [`fdin`](crate::fdin) (or an I/O call waiting to read) on this fd.
    FdIn(RawFd),
    /// [`fdout`](crate::fdout) (or an I/O call waiting to write) on this fd.
    FdOut(RawFd),
    /// [`msleep`](crate::msleep): only the deadline can end the wait.
    Sleep,
    /// A channel receive (local or shared).
    Recv,
    /// A channel send (local or shared).
    Send,
    /// [`choose`](crate::choose) over this many clauses.
    Choose(usize),
    /// [`Coroutine::join`] (or a handle's drop) waiting for the coroutine
    /// with this id.
    Join(u64),
    /// [`Bundle::wait`] (or a bundle's drop) waiting for its coroutines.
    Bundle,
    /// A call run on another thread by [`blocking`](crate::blocking).
    Blocking,
    /// Any other wait.
    Other,
}

/// A [`Wait`] packed into one word for the task (kind in the low byte,
/// argument above), so the task stays small: one store per wait.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitCode(u64);

impl WaitCode {
    #[inline(always)]
    pub(crate) fn pack(w: Wait) -> WaitCode {
        let (kind, arg): (u64, u64) = match w {
            Wait::Other => (0, 0),
            Wait::FdIn(fd) => (1, fd as u32 as u64),
            Wait::FdOut(fd) => (2, fd as u32 as u64),
            Wait::Sleep => (3, 0),
            Wait::Recv => (4, 0),
            Wait::Send => (5, 0),
            Wait::Choose(n) => (6, n as u64),
            Wait::Join(id) => (7, id),
            Wait::Bundle => (8, 0),
            Wait::Blocking => (9, 0),
        };
        WaitCode(kind | arg << 8)
    }

    fn unpack(self) -> Wait {
        let arg = self.0 >> 8;
        match self.0 & 0xff {
            1 => Wait::FdIn(arg as u32 as RawFd),
            2 => Wait::FdOut(arg as u32 as RawFd),
            3 => Wait::Sleep,
            4 => Wait::Recv,
            5 => Wait::Send,
            6 => Wait::Choose(arg as usize),
            7 => Wait::Join(arg),
            8 => Wait::Bundle,
            9 => Wait::Blocking,
            _ => Wait::Other,
        }
    }
}

/// A coroutine's state, as [`CoroutineInfo::state`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// It is the caller: it is running.
    Running,
    /// Queued to run: it yielded, or its wait has ended.
    Ready,
    /// Running another coroutine on top of its own stack until that one
    /// blocks: it called `go` (a new coroutine starts at once), or `join`
    /// on a child that was ready (the child runs at once).
    Starting,
    /// Blocked on `on` until it happens or the `deadline` (ms on the
    /// [`now`](crate::now) clock, `-1` for none) passes.
    Waiting {
        /// What it waits for.
        on: Wait,
        /// When the wait times out, `-1` for never.
        deadline: i64,
    },
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Running => f.write_str("running"),
            State::Ready => f.write_str("ready"),
            State::Starting => f.write_str("running a coroutine on top of its stack"),
            State::Waiting { on, deadline } => {
                match on {
                    Wait::FdIn(fd) => write!(f, "waiting for fd {fd} to be readable")?,
                    Wait::FdOut(fd) => write!(f, "waiting for fd {fd} to be writable")?,
                    Wait::Sleep => f.write_str("sleeping")?,
                    Wait::Recv => f.write_str("waiting to receive on a channel")?,
                    Wait::Send => f.write_str("waiting to send on a channel")?,
                    Wait::Choose(n) => write!(f, "waiting in choose over {n} clauses")?,
                    Wait::Join(id) => write!(f, "joining coroutine {id}")?,
                    Wait::Bundle => f.write_str("waiting for a bundle")?,
                    Wait::Blocking => f.write_str("waiting for a blocking call")?,
                    Wait::Other => f.write_str("waiting")?,
                }
                if *deadline >= 0 {
                    write!(f, ", deadline in {} ms", (*deadline - now()).max(0))?;
                }
                Ok(())
            }
        }
    }
}

/// One live coroutine of the calling thread, as [`coroutines`] saw it.
#[derive(Clone, Debug)]
pub struct CoroutineInfo {
    id: u64,
    name: Option<String>,
    spawned_at: &'static Location<'static>,
    state: State,
    waiting_ms: i64,
}

impl CoroutineInfo {
    /// The coroutine's number: unique on its thread, never reused, counting
    /// from 1 in the order coroutines were started (0 is the thread's own
    /// stack).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name given with [`Builder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where `go`, `go_with_stack_size`, `Bundle::go` or `Builder::go` was
    /// called to start it.
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// What it is doing.
    pub fn state(&self) -> State {
        self.state
    }

    /// How long, in milliseconds, it has been in its current wait (0 when
    /// not waiting). Measured from the scheduler's last reactor turn before
    /// the wait began, so it may exceed the true time by the length of that
    /// turn.
    pub fn waiting_ms(&self) -> i64 {
        self.waiting_ms
    }
}

/// Tasks queued to run. A task that is neither waiting nor queued nor
/// current nor finished is beneath the current one on the stack: it called
/// `go`, and the coroutine it started is running on top of it.
fn queued(s: &Sched) -> HashSet<usize> {
    s.ready
        .iter()
        .filter(|id| id & sched::DROP_TAG == 0)
        .collect()
}

/// The state of task `id` as seen from the running task.
fn state_of(s: &Sched, queued: &HashSet<usize>, id: usize) -> (State, i64) {
    let t = &s.tasks[id];
    // The root can be current and waiting: the scheduler loop runs on its
    // stack (that is where a dump on a signal is taken).
    if id == s.current && !t.waiting {
        return (State::Running, 0);
    }
    if t.waiting {
        let deadline = if t.timer == NONE {
            -1
        } else {
            s.timers.deadline_at(t.timer).unwrap_or(-1)
        };
        let on = match t.wait.unpack() {
            Wait::Join(slab) => Wait::Join(s.tasks.get(slab as usize).map_or(0, |j| j.seq)),
            w => w,
        };
        let waited = (now() - t.since).max(0);
        return (State::Waiting { on, deadline }, waited);
    }
    if queued.contains(&id) {
        return (State::Ready, 0);
    }
    (State::Starting, 0)
}

fn info_of(s: &Sched, queued: &HashSet<usize>, id: usize) -> CoroutineInfo {
    let t = &s.tasks[id];
    let (state, waiting_ms) = state_of(s, queued, id);
    CoroutineInfo {
        id: t.seq,
        name: t.name().map(str::to_owned),
        spawned_at: t.spawned_at,
        state,
        waiting_ms,
    }
}

/// Task ids of the thread's live coroutines (not the root), by number.
fn live_ids(s: &Sched) -> Vec<usize> {
    let mut ids: Vec<usize> = s
        .tasks
        .iter()
        .filter(|(id, t)| *id != ROOT && !t.finished)
        .map(|(id, _)| id)
        .collect();
    ids.sort_by_key(|&id| s.tasks[id].seq);
    ids
}

/// This thread's live coroutines (started and not yet returned), in the
/// order they were started. The thread's own stack is not included.
#[doc = include_str!("../../docs/coroutines.md")]
pub fn coroutines() -> Vec<CoroutineInfo> {
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    let q = queued(s);
    live_ids(s)
        .into_iter()
        .map(|id| info_of(s, &q, id))
        .collect()
}

// ---------------------------------------------------------------------------
// Counters

/// Per-thread counters, from [`counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Live coroutines (started, not yet returned).
    pub coroutines: usize,
    /// Switches so far: a coroutine resumed, or the thread's own stack
    /// continuing after the scheduler loop.
    pub switches: u64,
    /// Reactor polls so far (blocking or not).
    pub polls: u64,
    /// Timers armed now (waits with a deadline).
    pub timers: usize,
    /// File descriptors registered with the reactor now.
    pub fds: usize,
    /// Stacks held by coroutines (running, waiting or finished with a
    /// result not yet taken).
    pub stacks_in_use: usize,
    /// Idle stacks kept for reuse.
    pub stacks_cached: usize,
}

/// The calling thread's scheduler counters.
#[doc = include_str!("../../docs/counters.md")]
pub fn counters() -> Counters {
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    // SAFETY: `shared` lives as long as the scheduler.
    let sh = unsafe { &*s.shared };
    Counters {
        coroutines: s
            .tasks
            .iter()
            .filter(|(id, t)| *id != ROOT && !t.finished)
            .count(),
        switches: sh.switches.load(Relaxed),
        polls: s.polls,
        timers: s.timers.len(),
        fds: s.reactor.registered() - usize::from(s.dump_fd >= 0) - usize::from(s.remote.is_some()),
        stacks_in_use: s.stacks.in_use(),
        stacks_cached: s.stacks.idle(),
    }
}

// ---------------------------------------------------------------------------
// Shared per-thread block and the registry of threads

/// What other threads may read of a scheduler: its switch counter, whether
/// it sleeps in the reactor, how many coroutines it has.
#[derive(Debug)]
pub(crate) struct Shared {
    switches: AtomicU64,
    idle: AtomicBool,
    live: AtomicUsize,
    thread: libc::pthread_t,
    thread_name: String,
}

impl Shared {
    /// Counts one switch. A relaxed load and store (only this thread
    /// writes): the same instructions as a plain increment.
    #[inline(always)]
    pub(crate) fn count_switch(&self) {
        self.switches
            .store(self.switches.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Marks the thread asleep in (or back from) the reactor.
    #[inline]
    pub(crate) fn idle(&self, idle: bool) {
        self.idle.store(idle, Relaxed);
    }

    /// Counts a coroutine started (`+1`) or finished (`usize::MAX`, which
    /// wraps to `-1`); only this thread writes.
    #[inline(always)]
    pub(crate) fn live_add(&self, n: usize) {
        self.live
            .store(self.live.load(Relaxed).wrapping_add(n), Relaxed);
    }
}

/// A registered thread's block (raw pointers are not `Send`).
struct Entry(*const Shared);
// SAFETY: the pointee is only read through atomics, and stays allocated
// while it is in the registry (removed under the lock before it is freed).
unsafe impl Send for Entry {}

static THREADS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Allocates and registers the calling thread's block (scheduler creation).
pub(crate) fn thread_start() -> *const Shared {
    // A scheduler created while the thread tears down its thread-locals
    // may find no current-thread handle: then the name is "?".
    let name = std::panic::catch_unwind(|| {
        let cur = std::thread::current();
        match cur.name() {
            Some(n) => n.to_owned(),
            None => format!("{:?}", cur.id()),
        }
    })
    .unwrap_or_else(|_| "?".to_owned());
    let sh = Box::into_raw(Box::new(Shared {
        switches: AtomicU64::new(0),
        idle: AtomicBool::new(false),
        live: AtomicUsize::new(0),
        // SAFETY: pthread_self has no preconditions.
        thread: unsafe { libc::pthread_self() },
        thread_name: name,
    }));
    THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Entry(sh));
    sh
}

/// Unregisters the thread at exit: the monitor stops looking at it and the
/// dump signal stops writing to its descriptor.
pub(crate) fn thread_exit(s: &mut Sched) {
    {
        let mut threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        threads.retain(|e| e.0 != s.shared);
    }
    if s.dump_fd == -1 {
        // Never take part from now on (a leaked scheduler may still poll).
        s.dump_fd = -2;
    }
    if s.dump_fd >= 0 {
        let (fd, wfd) = (s.dump_fd, s.dump_wfd);
        s.dump_fd = -2;
        for slot in WAKE_FDS.iter() {
            if slot.compare_exchange(wfd, -1, AcqRel, Relaxed).is_ok() {
                break;
            }
        }
        // A handler running on another thread may have read the number
        // before it was withdrawn: let it finish before closing.
        while HANDLER_BUSY.load(Acquire) != 0 {
            std::hint::spin_loop();
        }
        s.reactor.clean(fd);
        // SAFETY: the descriptors are ours and nobody else refers to them.
        unsafe {
            libc::close(fd);
            if wfd != fd {
                libc::close(wfd);
            }
        }
    }
}

/// Frees a scheduler's block (the scheduler is being freed and has been
/// unregistered).
pub(crate) fn free_shared(sh: *const Shared) {
    // SAFETY: `sh` came from `Box::into_raw` in `thread_start` and is no
    // longer registered, so nothing else refers to it.
    drop(unsafe { Box::from_raw(sh as *mut Shared) });
}

// ---------------------------------------------------------------------------
// Backtraces of suspended coroutines

/// Runs a coroutine's function; its frame marks the bottom of the
/// coroutine's own part of a backtrace.
#[inline(never)]
pub(crate) fn coroutine_start<F: FnOnce() -> T, T>(f: F) -> T {
    let r = f();
    // Keeps this frame from being replaced by a tail call.
    std::hint::black_box(());
    r
}

/// What `dump` collects while resuming coroutines into the capture routine.
#[derive(Default)]
struct CaptureCtx {
    /// Distinct stacks (by return addresses) -> index in `traces`.
    seen: HashMap<Vec<usize>, usize>,
    traces: Vec<Backtrace>,
    /// The last capture's index in `traces`.
    last: Option<usize>,
    /// The last coroutine had too little stack left (this many bytes).
    low: Option<usize>,
}

/// Stack a backtrace capture needs on the captured coroutine's stack, with
/// a margin (measured: about 4 KiB in debug builds, 2.5 KiB optimized).
const CAPTURE_STACK: usize = if cfg!(debug_assertions) { 8192 } else { 4096 };

thread_local! {
    static CAPTURE_CTX: Cell<*mut CaptureCtx> = const { Cell::new(std::ptr::null_mut()) };
    static IN_DUMP: Cell<bool> = const { Cell::new(false) };
}

/// Called on a suspended coroutine's stack when it is resumed with
/// `CAPTURE`: records the stack and suspends again, as many times as it is
/// asked, and returns when resumed with anything else.
#[cold]
#[inline(never)]
pub(crate) fn capture_suspended(y: &Yld) {
    loop {
        capture_into_ctx();
        if y.suspend(()) != CAPTURE {
            return;
        }
    }
}

#[inline(never)]
fn capture_into_ctx() {
    let ctx = CAPTURE_CTX.with(|c| c.get());
    if ctx.is_null() {
        return;
    }
    // SAFETY: `dump` set the pointer to its own context, which outlives
    // this resume, and does not touch it until the resume returns.
    let ctx = unsafe { &mut *ctx };
    // Taking a backtrace needs a few KiB of stack: a coroutine parked too
    // close to its guard page is listed without one rather than crashed.
    let here = 0u8;
    let sp = &here as *const u8 as usize;
    if let Some(limit) = crate::stack::running_stack_limit() {
        let left = sp.saturating_sub(limit);
        if left < CAPTURE_STACK {
            ctx.low = Some(left);
            return;
        }
    }
    let ips = raw_trace();
    let idx = match ctx.seen.get(&ips) {
        Some(&i) => i,
        None => {
            let i = ctx.traces.len();
            ctx.traces.push(Backtrace::force_capture());
            ctx.seen.insert(ips, i);
            i
        }
    };
    ctx.last = Some(idx);
}

/// The return addresses of the current stack (at most 256), for telling
/// identical stacks apart without symbolizing them.
fn raw_trace() -> Vec<usize> {
    #[allow(non_camel_case_types)]
    type _Unwind_Trace_Fn = extern "C" fn(*mut libc::c_void, *mut libc::c_void) -> libc::c_int;
    extern "C" {
        fn _Unwind_Backtrace(f: _Unwind_Trace_Fn, arg: *mut libc::c_void) -> libc::c_int;
        fn _Unwind_GetIP(ctx: *mut libc::c_void) -> usize;
    }
    extern "C" fn each(ctx: *mut libc::c_void, arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `Vec` passed below; `ctx` is the unwinder's.
        let v = unsafe { &mut *(arg as *mut Vec<usize>) };
        // SAFETY: `ctx` is a valid unwind context during the callback.
        v.push(unsafe { _Unwind_GetIP(ctx) });
        // _URC_NO_REASON continues, _URC_END_OF_STACK (5) stops.
        if v.len() >= 256 {
            5
        } else {
            0
        }
    }
    let mut v: Vec<usize> = Vec::with_capacity(64);
    // SAFETY: the callback matches the unwinder's signature and only
    // touches `v` through `arg`.
    unsafe { _Unwind_Backtrace(each, &mut v as *mut Vec<usize> as *mut libc::c_void) };
    v
}

/// The current stack, for a task that is running.
#[inline(never)]
fn capture_here() -> Backtrace {
    Backtrace::force_capture()
}

/// Formats a backtrace the way a panic shows it, keeping only the part that
/// belongs to one coroutine: dill's own capture frames at the top are
/// dropped, and so is everything below the coroutine's start (or the
/// thread's entry point).
fn trimmed(bt: &Backtrace) -> String {
    let text = bt.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let skip_top = |l: &str| {
        l.contains("dill_runtime::inspect::")
            || l.contains("dill_runtime::sched::switch_out")
            || l.contains("dill_runtime::sched::wait_on")
            || l.contains("std::backtrace::Backtrace::")
            || l.contains("__restore_rt")
            || l.contains("<unknown>")
    };
    // Top: leading frames of the capture machinery (and a signal frame).
    let start = first_symbol(&lines, 0, |l| !skip_top(l));
    renumbered(&lines[start..bottom(&lines, start)])
}

/// The thread's own stack's part of the running coroutine's backtrace: the
/// frames below the last coroutine start (corosensei links a coroutine's
/// frames to those of whoever resumed it), without the scheduler's. `None`
/// when the backtrace does not reach that far.
fn beneath(bt: &Backtrace) -> Option<String> {
    let text = bt.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let marker = lines
        .iter()
        .rposition(|l| is_symbol(l) && l.contains("dill_runtime::inspect::coroutine_start"))?;
    let plumbing = |l: &str| {
        [
            "corosensei::",
            "dill_runtime::sched::",
            "dill_runtime::stack::",
        ]
        .iter()
        .any(|p| l.contains(p))
            || l.contains("dill_runtime::coroutine::body")
            || l.contains("dill_runtime::coroutine::go_at")
            || l.contains("dill_runtime::bundle::Bundle::go_at")
            || l.contains("std::panicking::")
            || l.contains("std::panic::")
            || l.contains("core::panic::")
            || l.contains("__rust_try")
            || l.contains("core::ops::function::")
            || l.contains("<unknown>")
            || l.contains("stack_init_trampoline")
    };
    let start = first_symbol(&lines, marker + 1, |l| !plumbing(l));
    if start >= lines.len() {
        return None;
    }
    Some(renumbered(&lines[start..bottom(&lines, start)]))
}

/// Is this line of a formatted backtrace a symbol (not an "at file:line")?
fn is_symbol(l: &str) -> bool {
    !l.trim_start().starts_with("at ")
}

/// The first symbol line at or after `from` that `keep` accepts.
fn first_symbol(lines: &[&str], from: usize, keep: impl Fn(&str) -> bool) -> usize {
    (from..lines.len())
        .find(|&i| is_symbol(lines[i]) && keep(lines[i]))
        .unwrap_or(lines.len())
}

/// Where one stack's part ends: at its coroutine's start, or the thread's
/// entry point.
fn bottom(lines: &[&str], start: usize) -> usize {
    first_symbol(lines, start, |l| {
        l.contains("dill_runtime::inspect::coroutine_start")
            || l.contains("__rust_begin_short_backtrace")
    })
}

/// Backtrace lines with their frames numbered from zero.
fn renumbered(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut n = 0;
    for l in lines {
        let t = l.trim_start();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && t[digits..].starts_with(": ") {
            let _ = writeln!(out, "{n:>4}: {}", &t[digits + 2..]);
            n += 1;
        } else if t.starts_with("at ") {
            let _ = writeln!(out, "             {t}");
        } else {
            let _ = writeln!(out, "      {t}");
        }
    }
    if out.is_empty() {
        out.push_str("      (no frames: the binary has no symbols, or unwinding stopped)\n");
    }
    out
}

/// Can task `id` be resumed into the capture routine? Only coroutines that
/// are suspended in the scheduler (not the caller, not the root, not one
/// beneath the caller on the stack, not finished, not yet started), and
/// never while the thread is unwinding a panic (no switch happens then).
fn capturable(s: &Sched, queued: &HashSet<usize>, id: usize) -> bool {
    let t = &s.tasks[id];
    !std::thread::panicking()
        && id != ROOT
        && id != s.current
        && !t.finished
        && (t.waiting || queued.contains(&id))
        && t.co.is_some()
        && !t.yielder.is_null()
}

/// Every live coroutine of the calling thread as text: number, name, state
/// and spawn location, each with its backtrace, and the thread's own stack
/// first.
#[doc = include_str!("../../docs/dump.md")]
#[inline(never)]
pub fn dump() -> String {
    let was = IN_DUMP.with(|c| c.replace(true));
    let out = dump_text();
    IN_DUMP.with(|c| c.set(was));
    out
}

#[inline(never)]
fn dump_text() -> String {
    let here = capture_here();
    let (ids, cur, states) = {
        // SAFETY: no switch while the reference lives.
        let s = unsafe { s() };
        let ids = live_ids(s);
        let q = queued(s);
        // States first: capturing and symbolizing take time that the
        // coroutines' waiting times must not include.
        let states: Vec<(State, i64)> = ids.iter().map(|&id| state_of(s, &q, id)).collect();
        (ids, s.current, states)
    };
    let (root, q) = {
        // SAFETY: no switch while the reference lives.
        let s = unsafe { s() };
        let q = queued(s);
        (state_of(s, &q, ROOT), q)
    };
    // Capture every suspended coroutine's stack, on its own stack.
    let mut ctx = CaptureCtx::default();
    let mut which: Vec<Option<usize>> = Vec::with_capacity(ids.len());
    let mut low: Vec<Option<usize>> = Vec::with_capacity(ids.len());
    let prev = CAPTURE_CTX.with(|c| c.replace(&mut ctx));
    for &id in &ids {
        // SAFETY: no switch while the reference lives.
        if !capturable(unsafe { s() }, &q, id) {
            which.push(None);
            low.push(None);
            continue;
        }
        ctx.last = None;
        ctx.low = None;
        CAPTURE_CTX.with(|c| c.set(&mut ctx));
        sched::resume(id, CAPTURE);
        which.push(ctx.last);
        low.push(ctx.low);
    }
    CAPTURE_CTX.with(|c| c.set(prev));
    let texts: Vec<String> = ctx.traces.iter().map(trimmed).collect();
    let here_text = trimmed(&here);

    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    // SAFETY: `shared` lives as long as the scheduler.
    let sh = unsafe { &*s.shared };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dill: thread '{}': {} coroutine{}",
        sh.thread_name,
        ids.len(),
        if ids.len() == 1 { "" } else { "s" }
    );
    // The thread's own stack.
    let _ = write!(out, "\ncoroutine 0 (the thread's own stack)");
    let (state, ms) = root;
    let _ = writeln!(out, ", {state}{}:", for_ms(ms));
    if cur == ROOT {
        out.push_str(&here_text);
    } else if let Some(text) = beneath(&here) {
        // Beneath the running coroutine; when other coroutines are too
        // (a parent in `go`), their frames come first.
        out.push_str(&text);
    } else {
        out.push_str("      (beneath the running coroutine: not captured)\n");
    }
    for (((&id, w), &(state, ms)), l) in ids.iter().zip(&which).zip(&states).zip(&low) {
        let t = &s.tasks[id];
        let _ = write!(out, "\ncoroutine {}", t.seq);
        if let Some(n) = t.name() {
            let _ = write!(out, " \"{n}\"");
        }
        let _ = writeln!(out, ", {state}{}, spawned at {}:", for_ms(ms), t.spawned_at);
        match (w, id == cur) {
            (_, true) => out.push_str(&here_text),
            (Some(i), _) => out.push_str(&texts[*i]),
            (None, _) if state == State::Starting => {
                out.push_str("      (beneath the running coroutine: not captured)\n")
            }
            (None, _) if l.is_some() => {
                let _ = writeln!(
                    out,
                    "      (not captured: {} bytes of its stack are left, and taking a \
                     backtrace needs about {CAPTURE_STACK})",
                    l.unwrap_or(0)
                );
            }
            (None, _) if std::thread::panicking() => {
                out.push_str("      (not captured: the thread is unwinding a panic)\n")
            }
            (None, _) => out.push_str("      (not started yet)\n"),
        }
    }
    out
}

fn for_ms(ms: i64) -> String {
    if ms > 0 {
        format!(" for {ms} ms")
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------
// Dump on a signal

static DUMP_SIGNAL: AtomicBool = AtomicBool::new(false);
/// One wake-up descriptor per thread whose scheduler takes part (-1: free).
static WAKE_FDS: [AtomicI32; 256] = [const { AtomicI32::new(-1) }; 256];
/// Handlers currently writing to `WAKE_FDS` descriptors.
static HANDLER_BUSY: AtomicUsize = AtomicUsize::new(0);

/// Has [`dump_on_signal`] been called?
#[inline]
pub(crate) fn dump_signal_enabled() -> bool {
    DUMP_SIGNAL.load(Relaxed)
}

/// Makes `signum` print every thread's [`dump`] to stderr.
///
/// The handler only writes to a wake-up descriptor of each thread that runs
/// a dill scheduler; each scheduler prints its own dump at its next turn
/// through the reactor, in the thread's normal context. The signal's
/// previous action is replaced. Threads that are asleep in their reactor
/// when this is called take part from their next wake-up on.
///
/// # Errors
///
/// * `EINVAL`: `signum` is not a signal that can be caught, or is
///   `SIGSEGV`/`SIGBUS` (dill's stack-overflow handler uses them).
/// * `EMFILE`, `ENFILE`: no descriptor for the calling thread's wake-up.
#[doc = include_str!("../../docs/dump_on_signal.md")]
pub fn dump_on_signal(signum: i32) -> io::Result<()> {
    if signum == libc::SIGSEGV || signum == libc::SIGBUS || signum == libc::SIGURG {
        return Err(errno(libc::EINVAL));
    }
    // SAFETY: a zeroed sigaction is valid; the handler only does
    // async-signal-safe work (atomics and write(2)).
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_dump_signal as *const () as usize;
        act.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut act.sa_mask);
        if libc::sigaction(signum, &act, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    DUMP_SIGNAL.store(true, Relaxed);
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    if s.dump_fd == -1 {
        register_dump_fd(s);
    }
    if s.dump_fd < 0 {
        return Err(errno(libc::EMFILE));
    }
    Ok(())
}

/// [`dump_on_signal`] for `SIGQUIT` (Ctrl-\ in a terminal), as Go does.
///
/// # Errors
///
/// As [`dump_on_signal`].
#[doc = include_str!("../../docs/dump_on_signal.md")]
pub fn dump_on_sigquit() -> io::Result<()> {
    dump_on_signal(libc::SIGQUIT)
}

extern "C" fn on_dump_signal(_sig: libc::c_int) {
    // SAFETY: reading errno's location is async-signal-safe.
    let saved = unsafe { *errno_location() };
    HANDLER_BUSY.fetch_add(1, AcqRel);
    for slot in WAKE_FDS.iter() {
        let fd = slot.load(Acquire);
        if fd >= 0 {
            let one: u64 = 1;
            // SAFETY: write(2) is async-signal-safe; the buffer is valid.
            unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
    }
    HANDLER_BUSY.fetch_sub(1, AcqRel);
    // SAFETY: as above.
    unsafe { *errno_location() = saved };
}

/// The calling thread's errno location, where the platform names one (a
/// signal handler must leave errno as it found it).
#[cfg(target_os = "linux")]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

#[cfg(any(target_os = "android", target_os = "netbsd", target_os = "openbsd"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno() }
}

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__error() }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd"
)))]
fn errno_location() -> *mut libc::c_int {
    // No portable name: save and restore a scratch value instead.
    static mut SCRATCH: libc::c_int = 0;
    // SAFETY: only the address is taken.
    unsafe { std::ptr::addr_of_mut!(SCRATCH) }
}

/// Creates the thread's wake-up descriptor and registers it with the
/// reactor and the handler's table. On failure `dump_fd` becomes -2 and is
/// not tried again.
pub(crate) fn register_dump_fd(s: &mut Sched) {
    s.dump_fd = -2;
    let Some((rfd, wfd)) = wake_fd() else { return };
    let close = || {
        // SAFETY: our own descriptors, not in the handler's table.
        unsafe {
            libc::close(rfd);
            if wfd != rfd {
                libc::close(wfd);
            }
        }
    };
    let Some(slot) = WAKE_FDS
        .iter()
        .find(|slot| slot.compare_exchange(-1, wfd, AcqRel, Relaxed).is_ok())
    else {
        close();
        return;
    };
    if s.reactor.register(rfd, Dir::In, NONE).is_err() {
        slot.store(-1, Release);
        while HANDLER_BUSY.load(Acquire) != 0 {
            std::hint::spin_loop();
        }
        close();
        return;
    }
    s.dump_fd = rfd;
    s.dump_wfd = wfd;
}

/// The wake-up descriptor: `(read end, write end)`, one eventfd on Linux.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn wake_fd() -> Option<(RawFd, RawFd)> {
    // SAFETY: plain system call.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    (fd >= 0).then_some((fd, fd))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn wake_fd() -> Option<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return None;
    }
    for fd in fds {
        // SAFETY: our own descriptors.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        }
    }
    Some((fds[0], fds[1]))
}

/// Empties the wake-up descriptor.
pub(crate) fn drain_dump_fd(fd: RawFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reading into a valid buffer from our own descriptor.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// Prints the thread's dump to stderr (from the scheduler loop, after the
/// signal's wake-up).
#[cold]
#[inline(never)]
pub(crate) fn signal_dump() {
    // SAFETY: no switch while the reference lives.
    unsafe { s() }.dump_pending = false;
    let text = dump();
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

// ---------------------------------------------------------------------------
// Stall detector

/// Threshold in ms; 0: off.
static STALL_MS: AtomicI64 = AtomicI64::new(0);
static MONITOR: Once = Once::new();

/// Starts (or retunes, or with 0 stops) the stall detector: a monitor
/// thread that reports on stderr any coroutine, or thread's own stack, that
/// has run for `threshold_ms` milliseconds without giving the scheduler a
/// turn while its thread has live coroutines.
///
/// # Errors
///
/// * `EINVAL`: `threshold_ms` is negative.
/// * `EAGAIN`: the monitor thread could not be started.
#[doc = include_str!("../../docs/stall_detector.md")]
pub fn stall_detector(threshold_ms: i64) -> io::Result<()> {
    if threshold_ms < 0 {
        return Err(errno(libc::EINVAL));
    }
    STALL_MS.store(threshold_ms, Relaxed);
    if threshold_ms == 0 {
        return Ok(());
    }
    let mut result = Ok(());
    MONITOR.call_once(|| {
        reserve_reply_name();
        install_stall_handler();
        if let Err(e) = std::thread::Builder::new()
            .name("dill-stall-monitor".into())
            .spawn(monitor)
        {
            result = Err(e);
        }
    });
    result
}

fn monitor() {
    struct Seen {
        switches: u64,
        since: Instant,
        reported: bool,
    }
    let mut seen: HashMap<usize, Seen> = HashMap::new();
    loop {
        let ms = STALL_MS.load(Relaxed);
        if ms == 0 {
            seen.clear();
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        std::thread::sleep(Duration::from_millis((ms as u64 / 4).clamp(1, 100)));
        let threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        let t = Instant::now();
        seen.retain(|k, _| threads.iter().any(|e| e.0 as usize == *k));
        for e in threads.iter() {
            // SAFETY: registered blocks stay allocated while registered,
            // and we hold the lock.
            let sh = unsafe { &*e.0 };
            let sw = sh.switches.load(Relaxed);
            let quiet = sh.idle.load(Relaxed) || sh.live.load(Relaxed) == 0;
            let st = seen.entry(e.0 as usize).or_insert(Seen {
                switches: sw,
                since: t,
                reported: false,
            });
            if quiet || sw != st.switches {
                st.switches = sw;
                st.since = t;
                st.reported = false;
                continue;
            }
            let stalled = t.duration_since(st.since);
            if !st.reported && stalled >= Duration::from_millis(ms as u64) {
                st.reported = true;
                report_stall(sh, stalled);
            }
        }
    }
}

// The handshake with the stalled thread's handler.
const IDLE: u8 = 0;
const ASKED: u8 = 1;
const BUSY: u8 = 2;
const DONE: u8 = 3;
static STALL_STATE: AtomicU8 = AtomicU8::new(IDLE);
/// The thread asked (a late signal to another thread must not answer).
static STALL_TARGET: AtomicUsize = AtomicUsize::new(0);
static REPLY_SEQ: AtomicU64 = AtomicU64::new(0);
static REPLY_LOC: AtomicPtr<Location<'static>> = AtomicPtr::new(std::ptr::null_mut());
static REPLY_NAME: Mutex<String> = Mutex::new(String::new());
static REPLY_BT: AtomicPtr<Backtrace> = AtomicPtr::new(std::ptr::null_mut());
/// Why no backtrace was taken (index into `WHY`).
static REPLY_WHY: AtomicU8 = AtomicU8::new(0);
const WHY: [&str; 7] = [
    "",
    "the thread is not blocked in a system call, so it may hold a lock that taking a backtrace needs",
    "the thread is taking a dump itself",
    "taking a thread's backtrace from the monitor is not supported on this platform",
    "the thread has no scheduler",
    "the thread is panicking",
    "too little of the coroutine's stack is left",
];

fn install_stall_handler() {
    // SAFETY: a zeroed sigaction is valid; see `on_stall_signal` for what
    // the handler does.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_stall_signal as *const () as usize;
        // Not SA_ONSTACK: taking a backtrace needs more room than the
        // small alternate signal stacks threads get; the handler runs on
        // the stalled code's own stack instead.
        act.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGURG, &act, std::ptr::null_mut());
    }
}

/// Asks the stalled thread (by `SIGURG`) what it runs, then prints the
/// report. Called with the registry locked, so the thread cannot exit.
fn report_stall(sh: &Shared, stalled: Duration) {
    let mut msg = format!(
        "dill: stall: thread '{}' has run for {} ms without a switch",
        sh.thread_name,
        stalled.as_millis()
    );
    STALL_TARGET.store(sh.thread as usize, Relaxed);
    STALL_STATE.store(ASKED, Release);
    // SAFETY: the thread is registered, so it has not exited.
    let sent = unsafe { libc::pthread_kill(sh.thread, libc::SIGURG) } == 0;
    let t0 = Instant::now();
    let mut answered = false;
    while sent && t0.elapsed() < Duration::from_secs(2) {
        match STALL_STATE.load(Acquire) {
            DONE => {
                answered = true;
                break;
            }
            ASKED if t0.elapsed() > Duration::from_millis(500) => {
                if STALL_STATE
                    .compare_exchange(ASKED, IDLE, AcqRel, Acquire)
                    .is_ok()
                {
                    break;
                }
            }
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    if answered {
        let seq = REPLY_SEQ.load(Relaxed);
        let loc = REPLY_LOC.swap(std::ptr::null_mut(), Relaxed);
        let name = {
            let mut n = REPLY_NAME.lock().unwrap_or_else(|e| e.into_inner());
            let copy = n.clone();
            n.clear();
            copy
        };
        if loc.is_null() {
            msg.push_str(": its own stack (not a coroutine) is running\n");
        } else {
            let _ = write!(msg, ": coroutine {seq}");
            if !name.is_empty() {
                let _ = write!(msg, " \"{name}\"");
            }
            // SAFETY: `loc` was a `&'static Location`.
            let _ = writeln!(msg, ", spawned at {}, is running", unsafe { &*loc });
        }
        let bt = REPLY_BT.swap(std::ptr::null_mut(), Acquire);
        if bt.is_null() {
            let why = WHY[REPLY_WHY.load(Relaxed) as usize % WHY.len()];
            let _ = writeln!(msg, "      (no backtrace: {why})");
        } else {
            // SAFETY: the handler leaked this box for us.
            let bt = unsafe { Box::from_raw(bt) };
            msg.push_str(&trimmed(&bt));
        }
        STALL_STATE.store(IDLE, Release);
    } else {
        msg.push_str(": the thread did not answer, so what runs on it is unknown\n");
        // Let a late handler finish before the next request.
        let _ = STALL_STATE.compare_exchange(DONE, IDLE, AcqRel, Relaxed);
    }
    let _ = io::stderr().write_all(msg.as_bytes());
}

extern "C" fn on_stall_signal(
    _sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    uctx: *mut libc::c_void,
) {
    // SAFETY: pthread_self is async-signal-safe.
    let me = unsafe { libc::pthread_self() } as usize;
    if STALL_STATE.load(Acquire) != ASKED
        || STALL_TARGET.load(Relaxed) != me
        || STALL_STATE
            .compare_exchange(ASKED, BUSY, AcqRel, Relaxed)
            .is_err()
    {
        return;
    }
    // SAFETY: reading errno's location is async-signal-safe.
    let saved = unsafe { *errno_location() };
    let p = sched::sched_if_any();
    REPLY_LOC.store(std::ptr::null_mut(), Relaxed);
    REPLY_BT.store(std::ptr::null_mut(), Relaxed);
    if p.is_null() {
        REPLY_WHY.store(4, Relaxed);
    } else {
        // SAFETY: the thread has not switched for the whole threshold, so
        // it is running user code, not inside the scheduler: the fields
        // read here are not being written. This is a best-effort read for
        // a diagnostic, done through a raw pointer without creating a
        // reference to the whole scheduler.
        unsafe {
            let cur = (*p).current;
            if cur != ROOT {
                if let Some(t) = (*p).tasks.get(cur) {
                    REPLY_SEQ.store(t.seq, Relaxed);
                    REPLY_LOC.store(t.spawned_at as *const _ as *mut _, Relaxed);
                    // The monitor holds no lock on the name while it waits.
                    if let Ok(mut n) = REPLY_NAME.try_lock() {
                        n.clear();
                        if let Some(name) = t.name() {
                            // Capacity was reserved by the monitor side;
                            // a longer name is cut rather than allocated.
                            let room = n.capacity();
                            let mut end = name.len().min(room);
                            while !name.is_char_boundary(end) {
                                end -= 1;
                            }
                            n.push_str(&name[..end]);
                        }
                    }
                }
            }
        }
        // A thread that is dumping or panicking may hold the lock that
        // capturing a backtrace takes (the panic hook prints its backtrace
        // under it): never capture then.
        let here = 0u8;
        let sp = &here as *const u8 as usize;
        let low = crate::stack::running_stack_limit()
            .is_some_and(|limit| sp.saturating_sub(limit) < CAPTURE_STACK);
        let why = if IN_DUMP.with(|c| c.get()) {
            2
        } else if std::thread::panicking() {
            5
        } else if low {
            6
        } else {
            blocked_in_safe_syscall(uctx)
        };
        REPLY_WHY.store(why, Relaxed);
        if why == 0 {
            // The thread sleeps in a system call outside any allocator or
            // unwinder lock (checked above), so the allocation and the
            // unwinding done here cannot deadlock.
            let bt = Box::new(capture_here());
            REPLY_BT.store(Box::into_raw(bt), Release);
        }
    }
    STALL_STATE.store(DONE, Release);
    // SAFETY: as above.
    unsafe { *errno_location() = saved };
}

/// 0 if the interrupted thread is blocked in a system call that takes no
/// lock in user space (a sleep, a read or write, a wait), so that taking a
/// backtrace in the handler cannot deadlock; otherwise the reason code.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn blocked_in_safe_syscall(uctx: *mut libc::c_void) -> u8 {
    // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
    let (rip, rax) = unsafe {
        let uc = &*(uctx as *const libc::ucontext_t);
        (
            uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize,
            uc.uc_mcontext.gregs[libc::REG_RAX as usize],
        )
    };
    const SYSCALL: [u8; 2] = [0x0f, 0x05];
    // SAFETY: RIP points at the interrupted instruction in mapped code, and
    // the two bytes before it belong to the same code when it follows a
    // system call (the only case where they are compared).
    let (at, after) = unsafe { (*(rip as *const [u8; 2]), *((rip - 2) as *const [u8; 2])) };
    // A restartable call (SA_RESTART) is rewound: RIP points at `syscall`
    // again and RAX holds the call's number. Only calls that never run
    // while user-space locks are held qualify (not futex: a lock wait).
    let restarting = at == SYSCALL
        && matches!(
            rax,
            libc::SYS_read
                | libc::SYS_write
                | libc::SYS_readv
                | libc::SYS_writev
                | libc::SYS_pread64
                | libc::SYS_pwrite64
                | libc::SYS_recvfrom
                | libc::SYS_sendto
                | libc::SYS_recvmsg
                | libc::SYS_sendmsg
                | libc::SYS_accept
                | libc::SYS_accept4
                | libc::SYS_connect
                | libc::SYS_wait4
        );
    // Sleeps and polls (nanosleep, clock_nanosleep, poll, epoll_wait,
    // select, pause) are not rewound: they return EINTR, RIP just past the
    // `syscall`. A lock wait (futex without timeout) is rewound instead,
    // so it is not mistaken for these.
    let interrupted = after == SYSCALL && rax == -(libc::EINTR as i64);
    if restarting || interrupted {
        0
    } else {
        1
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn blocked_in_safe_syscall(_uctx: *mut libc::c_void) -> u8 {
    3
}

/// Reserves room for a reported name so the handler never allocates for it.
fn reserve_reply_name() {
    let mut n = REPLY_NAME.lock().unwrap_or_else(|e| e.into_inner());
    if n.capacity() < 256 {
        n.reserve(256);
    }
}
