//! Coroutine stacks: carved from large reserved regions, guard-paged,
//! reused LIFO, given back to the kernel when idle, and a fault handler that
//! names a coroutine stack overflow instead of dying with a bare SIGSEGV.
//!
//! # Layout
//!
//! Each thread's [`StackPool`] reserves regions of address space with one
//! `mmap(MAP_NORESERVE)` each (no memory and no commit charge until touched;
//! transparent huge pages off, so a touched stack costs a page, not 2 MiB).
//! A region is an array of slots of one size class:
//!
//! ```text
//! | guard | stack ............................ CoSlot | guard | stack ...
//!   lo      lo + page                     hi - header   hi = next slot's lo
//! ```
//!
//! The guard page is installed with `madvise(MADV_GUARD_INSTALL)` (Linux
//! 6.13 and later): a marker in the page table, so a region stays a single
//! mapping however many stacks it holds. Where the kernel refuses it
//! (detected once per process) the guard is an `mprotect(PROT_NONE)` page,
//! which splits the mapping: two mappings per stack, as before regions.
//! The slot's bookkeeping ([`CoSlot`], the corosensei coroutine object) sits
//! at the top of the stack itself, in the page the coroutine touches first,
//! so a stack costs no heap allocation.
//!
//! # Reuse and return
//!
//! Freed stacks go on a per-class LIFO list, so the most recently used (hot
//! in cache and in RAM) come back first. The list keeps at most
//! [`stack_cache`] idle stacks with their memory; the rest (the coldest,
//! at the bottom of the list) are released with `MADV_DONTNEED`, sorted so
//! that neighbouring slots share one call, when the thread next has nothing
//! to run (`trim_idle`, called by the scheduler before it blocks), or at
//! once when more than 16 times the cache are idle with memory, so that a
//! thread that is never idle does not hoard memory. Their address space
//! stays reserved (and guarded) for reuse; a released stack that is reused
//! faults in fresh zero pages. `MADV_FREE` was measured too: a little
//! cheaper to issue, but the pages stay in RSS until the kernel is under
//! memory pressure, which is not "RSS falls after a burst".
//!
//! Guards are installed 64 slots at a time with one
//! `process_madvise(PIDFD_SELF_PROCESS, ..)` (Linux 6.15), about half the
//! cost per guard of a `madvise` each; where that call is refused, one
//! `madvise` per slot. The top pages of the next stacks to be carved are
//! faulted in by one such call too (`MADV_POPULATE_WRITE`), as many as the
//! class has carved so far, up to 64, and taking an idle stack whose memory
//! was given back does the same for the next 64 of them: the pages are
//! allocated back to back instead of by one page fault per `go`.
//!
//! # Headroom
//!
//! Before a region is reserved, the pool checks that the process keeps
//! headroom: with a finite `RLIMIT_AS`, `max(64 MiB, limit / 8)` of address
//! space must remain; the process's mapping count must stay
//! `max(1024, vm.max_map_count / 16)` below the limit (it is read, from all
//! of `/proc/self/maps`, before the first region and again every 16). When
//! a stack cannot be had within that, `go` fails with `ENOMEM` while
//! `malloc`, `std` (a panic's backtrace included) and the scheduler keep
//! working.

use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};
use corosensei::{Coroutine, CoroutineResult};

use crate::error::errno;
use crate::sched::Yld;

/// Default stack size of a coroutine: 256 KiB (as libdill), plus a guard
/// page. The process-wide default can be changed with
/// [`set_default_stack_size`].
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Smallest stack size accepted; smaller requests are rounded up.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Largest stack size accepted (1 GiB); larger requests fail with `ENOMEM`.
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// `MADV_GUARD_INSTALL` from the kernel's uapi `asm-generic/mman-common.h`
/// (Linux 6.13; the same value on every architecture). `libc` may lack it.
#[cfg(any(target_os = "linux", target_os = "android"))]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// `MADV_POPULATE_WRITE` (Linux 5.14, uapi `asm-generic/mman-common.h`).
#[cfg(any(target_os = "linux", target_os = "android"))]
const MADV_POPULATE_WRITE: libc::c_int = 23;

/// Idle stacks that keep their memory, per size class and thread, unless
/// `DILL_STACK_CACHE` says otherwise.
const DEFAULT_STACK_CACHE: usize = 1024;

/// Idle stacks past the cache released at once, at least, when trimming
/// cannot wait for the thread to be idle.
const TRIM_BATCH: usize = 64;

/// Past `IDLE_TRIM_FACTOR` times the cache, idle stacks are released at
/// once instead of when the thread is next idle.
const IDLE_TRIM_FACTOR: usize = 16;

/// Slots in a class's first region; each further region doubles, up to
/// [`REGION_MAX_BYTES`].
const FIRST_REGION_SLOTS: usize = 64;

/// Regions reserved between two readings of the process's mapping count,
/// at most (each is one mapping; the headroom is at least 1024).
const REGIONS_PER_MAP_CHECK: usize = 16;

/// Largest region reserved at once.
const REGION_MAX_BYTES: usize = 1 << 30;

/// Bytes reserved at the top of each stack for its [`CoSlot`].
const HEADER: usize = {
    let n = std::mem::size_of::<CoSlot>();
    (n + 63) & !63
};

/// The process-wide default stack size (see [`set_default_stack_size`]).
static DEFAULT_SIZE: AtomicUsize = AtomicUsize::new(DEFAULT_STACK_SIZE);

/// Bytes of address space currently reserved for stacks, all threads.
static RESERVED: AtomicUsize = AtomicUsize::new(0);

/// Sets the stack size of coroutines started without an explicit size, for
/// every thread of the process.
///
/// # Errors
///
/// * `EINVAL`: `bytes` is below [`MIN_STACK_SIZE`] or above
///   [`MAX_STACK_SIZE`].
#[doc = include_str!("../../docs/set_default_stack_size.md")]
pub fn set_default_stack_size(bytes: usize) -> io::Result<()> {
    if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&bytes) {
        return Err(errno(libc::EINVAL));
    }
    DEFAULT_SIZE.store(bytes, Ordering::Relaxed);
    Ok(())
}

/// The stack size of coroutines started without an explicit size.
#[doc = include_str!("../../docs/default_stack_size.md")]
pub fn default_stack_size() -> usize {
    DEFAULT_SIZE.load(Ordering::Relaxed)
}

/// Bytes of address space reserved for coroutine stacks by all threads (a
/// diagnostic: tests use it to see regions being given back).
#[doc(hidden)]
pub fn reserved_stack_bytes() -> usize {
    RESERVED.load(Ordering::Relaxed)
}

/// How many idle stacks per size class and thread keep their memory:
/// `DILL_STACK_CACHE` from the environment (read once), else 1024.
pub(crate) fn stack_cache() -> usize {
    static CACHE: crate::knob::Knob = crate::knob::Knob::new("DILL_STACK_CACHE");
    CACHE.get(|v| v.unwrap_or(DEFAULT_STACK_CACHE as u64)) as usize
}

/// A stack carved from a region: `[limit, base)`, the guard page at the
/// bottom.
#[derive(Debug)]
pub(crate) struct RegionStack {
    base: usize,
    limit: usize,
}

// SAFETY: `[limit, limit + page)` is a guard page (installed by `carve`
// before the stack is handed out and never removed while the region is
// mapped), and `[limit + page, base)` is at least MIN_STACK_SIZE - HEADER
// bytes of readable, writable memory, `base` aligned to 64.
unsafe impl Stack for RegionStack {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base).expect("null stack base")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).expect("null stack limit")
    }
}

type CoObj = Coroutine<usize, (), (), RegionStack>;

/// The largest coroutine body kept inline on the new stack; larger ones
/// are boxed (corosensei refuses more than 1 KiB, and wraps the body in
/// a few words of its own).
const INLINE_BODY_MAX: usize = 512;

/// A stack and, while it runs one, the coroutine on it. Lives at the top of
/// its own stack's memory, so its address is stable while the coroutine
/// runs.
pub(crate) struct CoSlot {
    co: Option<CoObj>,
    /// Usable size, as requested (page-rounded).
    size: usize,
    /// The guard page: `[guard.0, guard.1)`.
    guard: (usize, usize),
    /// Size class in the owning pool.
    class: usize,
}

impl std::fmt::Debug for CoSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoSlot")
            .field("size", &self.size)
            .field("running", &self.co.is_some())
            .finish()
    }
}

impl CoSlot {
    /// Puts a new coroutine running `body` on this slot's stack.
    ///
    /// corosensei copies the initial function onto the new stack and
    /// panics ("type is too big to transfer") when it is larger than 1 KiB,
    /// so a closure that captures more than [`INLINE_BODY_MAX`] bytes (a
    /// TLS session, a big array) is moved to the heap first: one
    /// allocation, only for such closures (the size is known at compile
    /// time, so the test costs nothing).
    pub(crate) fn start<F: FnOnce(&Yld, usize) + 'static>(&mut self, body: F) {
        let stack = RegionStack {
            base: self as *mut CoSlot as usize,
            limit: self.guard.0,
        };
        self.co = Some(if std::mem::size_of::<F>() <= INLINE_BODY_MAX {
            Coroutine::with_stack(stack, body)
        } else {
            let body = Box::new(body);
            Coroutine::with_stack(stack, move |y: &Yld, input: usize| body(y, input))
        });
    }

    /// Resumes the coroutine on this slot.
    #[inline]
    pub(crate) fn resume(&mut self, input: usize) -> CoroutineResult<(), ()> {
        self.co
            .as_mut()
            .expect("no coroutine on this stack")
            .resume(input)
    }
}

/// The system page size, read once: `sysconf` costs about fifty
/// instructions, which showed up in every `go`.
#[inline]
fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let p = PAGE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if p > 0 { p as usize } else { 4096 };
    PAGE.store(p, Ordering::Relaxed);
    p
}

/// Rounds a requested size to what the pool hands out.
pub(crate) fn normalize(size: usize) -> io::Result<usize> {
    if size > MAX_STACK_SIZE {
        return Err(errno(libc::ENOMEM));
    }
    let page = page_size();
    Ok(size.max(MIN_STACK_SIZE).div_ceil(page) * page)
}

/// How guard pages are made, decided once per process.
const GUARD_UNKNOWN: u8 = 0;
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;

/// Whether this kernel supports `MADV_GUARD_INSTALL` (probed once on a
/// scratch mapping). `DILL_STACK_GUARD=mprotect` forces the fallback, so
/// that it can be tested on new kernels too.
fn guard_mode() -> u8 {
    static MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
    let m = MODE.load(Ordering::Relaxed);
    if m != GUARD_UNKNOWN {
        return m;
    }
    let forced = std::env::var("DILL_STACK_GUARD").ok();
    let m = if forced.as_deref() == Some("mprotect") {
        GUARD_MPROTECT
    } else {
        probe_guard_install()
    };
    MODE.store(m, Ordering::Relaxed);
    m
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn probe_guard_install() -> u8 {
    let page = page_size();
    // SAFETY: a fresh private anonymous mapping, advised and unmapped here
    // and nowhere else.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            2 * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return GUARD_MPROTECT;
        }
        let ok = libc::madvise(p, page, MADV_GUARD_INSTALL) == 0;
        libc::munmap(p, 2 * page);
        if ok {
            GUARD_MADVISE
        } else {
            GUARD_MPROTECT
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn probe_guard_install() -> u8 {
    GUARD_MPROTECT
}

/// Is the guard page installed with `MADV_GUARD_INSTALL` in this process?
#[doc(hidden)]
pub fn stack_guards_use_madvise() -> bool {
    guard_mode() == GUARD_MADVISE
}

/// Reads a small `/proc` file into a string without growing beyond need.
fn read_proc(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The kernel's `vm.max_map_count`, read once.
fn max_map_count() -> usize {
    static MAX: AtomicUsize = AtomicUsize::new(0);
    let m = MAX.load(Ordering::Relaxed);
    if m != 0 {
        return m;
    }
    let m = read_proc("/proc/sys/vm/max_map_count")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530);
    MAX.store(m, Ordering::Relaxed);
    m
}

/// How many mappings the process has now (`None` if it cannot be told).
fn map_count() -> Option<usize> {
    read_proc("/proc/self/maps").map(|s| s.bytes().filter(|&b| b == b'\n').count())
}

/// How many more mappings may be made while keeping headroom.
fn map_budget() -> usize {
    let max = max_map_count();
    let headroom = (max / 16).max(1024);
    match map_count() {
        Some(now) => max.saturating_sub(now + headroom),
        None => usize::MAX,
    }
}

/// May `len` more bytes of address space be reserved while keeping
/// headroom under `RLIMIT_AS`?
fn address_space_allows(len: usize) -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return true;
    }
    let limit = lim.rlim_cur as usize;
    let headroom = (limit / 8).max(64 << 20);
    let used = read_proc("/proc/self/statm")
        .and_then(|s| s.split_whitespace().next()?.parse::<usize>().ok())
        .map(|pages| pages * page_size());
    match used {
        Some(used) => used
            .checked_add(len)
            .and_then(|n| n.checked_add(headroom))
            .is_some_and(|n| n <= limit),
        None => false,
    }
}

/// One size class: the regions' slots of one stack size.
#[derive(Debug)]
struct Class {
    /// Usable bytes requested (page multiple).
    size: usize,
    /// Slot length: guard page plus `size`.
    slot: usize,
    /// Idle stacks (their `lo`), LIFO: the last pushed is reused first.
    free: Vec<usize>,
    /// `free[..clean]` have given their memory back.
    clean: usize,
    /// The unused tail of the newest region: `[carve, carve_end)`.
    carve: usize,
    carve_end: usize,
    /// Slots of the newest region below this address have their guard
    /// page installed already (guards are installed in batches).
    guarded: usize,
    /// Slots of the newest region below this address have had their top
    /// page faulted in (or left to fault) already.
    populated: usize,
    /// Slots carved in this class so far, all regions.
    carved: usize,
    /// Slots in this class's next region.
    next_slots: usize,
}

/// Stacks of one thread: regions, size classes, idle lists.
#[derive(Debug, Default)]
pub(crate) struct StackPool {
    classes: Vec<Class>,
    /// Reserved regions: `(address, length)`.
    regions: Vec<(usize, usize)>,
    /// Valgrind registrations of carved stacks (no-ops off valgrind).
    valgrind: Vec<ValgrindStackRegistration>,
    /// Stacks handed out and not yet recycled.
    live: usize,
    /// Guard pages that may still be `mprotect`ed before the mapping count
    /// is checked again (fallback mode only).
    split_budget: usize,
    /// Regions that may still be reserved before the process's mapping
    /// count is read again.
    unchecked_regions: usize,
    /// Scratch for trimming, kept to avoid allocating there.
    scratch: Vec<usize>,
    /// Some class holds more idle stacks with memory than the cache: trim
    /// when the thread next has nothing to run.
    trim_pending: bool,
    /// [`stack_cache`], read when the first class is made (it is read from
    /// the environment once per process; this keeps the load off `recycle`).
    cache: usize,
    /// Running under valgrind, asked when the first class is made.
    valgrind_on: bool,
}

impl StackPool {
    /// A stack slot of (at least) `size` bytes: the most recently freed one
    /// of its class if any is idle, else one carved from a region.
    #[inline]
    pub(crate) fn get(&mut self, size: usize) -> io::Result<NonNull<CoSlot>> {
        let ci = match self.classes.iter().position(|c| c.size == size) {
            Some(ci) => ci,
            None => self.class_for(size)?,
        };
        let c = &mut self.classes[ci];
        if c.free.len() == c.clean && c.clean != 0 {
            // The next idle stacks have given their memory back.
            self.repopulate(ci);
        }
        let c = &mut self.classes[ci];
        let lo = match c.free.pop() {
            Some(lo) => {
                c.clean = c.clean.min(c.free.len());
                // Under memcheck, the frames the last coroutine popped are
                // "no access" (it tracks the stack pointer within a
                // registered stack); the next start writes there before it
                // switches in.
                if self.valgrind_on {
                    memcheck_undefined(lo + page_size(), c.slot - page_size());
                }
                lo
            }
            None => self.carve(ci)?,
        };
        let c = &self.classes[ci];
        let page = page_size();
        let top = lo + c.slot - HEADER;
        let slot = top as *mut CoSlot;
        // SAFETY: `[top, top + HEADER)` is the writable top of an idle
        // stack this pool owns; no coroutine runs on it. Whatever bytes
        // were there (an old slot, or zeros after MADV_DONTNEED) are
        // overwritten without being read.
        unsafe {
            slot.write(CoSlot {
                co: None,
                size: c.size,
                guard: (lo, lo + page),
                class: ci,
            })
        };
        self.live += 1;
        // SAFETY: `top` is non-null (inside a mapping).
        Ok(unsafe { NonNull::new_unchecked(slot) })
    }

    /// Faults the top pages of the next idle stacks of class `ci` (their
    /// memory given back by [`trim`](Self::trim)) back in with one call,
    /// up to a batch or the cache, and counts them as idle with memory:
    /// as for fresh slots (see [`populate_tops`]), cheaper than a page
    /// fault in each `go`. They are counted so even if the kernel refused
    /// (their pages then fault in on use, and a later trim releases them
    /// again), so that a refusal costs one call per batch, not per `go`.
    #[cold]
    fn repopulate(&mut self, ci: usize) {
        let c = &mut self.classes[ci];
        let k = c.clean.min(self.cache.max(1)).min(ADVISE_BATCH);
        if k > 1 {
            populate_tops(c.free[c.clean - k..c.clean].iter().copied(), c.slot);
        }
        c.clean -= k;
    }

    /// Finds or creates the class of `size`.
    #[cold]
    fn class_for(&mut self, size: usize) -> io::Result<usize> {
        let size = normalize(size)?;
        if let Some(ci) = self.classes.iter().position(|c| c.size == size) {
            return Ok(ci);
        }
        let slot = size + page_size();
        self.cache = stack_cache();
        self.valgrind_on = valgrind_request(RUNNING_ON_VALGRIND, [0; 5]) != 0;
        self.classes.push(Class {
            size,
            slot,
            free: Vec::new(),
            clean: 0,
            carve: 0,
            carve_end: 0,
            guarded: 0,
            populated: 0,
            carved: 0,
            next_slots: FIRST_REGION_SLOTS.min((REGION_MAX_BYTES / slot).max(1)),
        });
        Ok(self.classes.len() - 1)
    }

    /// Carves a fresh slot for class `ci`, reserving a region if needed, and
    /// installs its guard page.
    #[cold]
    fn carve(&mut self, ci: usize) -> io::Result<usize> {
        let mode = guard_mode();
        if mode == GUARD_MPROTECT && self.split_budget == 0 {
            self.split_budget = (map_budget() / 2).min(4096);
            if self.split_budget == 0 {
                return Err(errno(libc::ENOMEM));
            }
        }
        if self.classes[ci].carve == self.classes[ci].carve_end {
            self.reserve(ci)?;
        }
        let page = page_size();
        let c = &mut self.classes[ci];
        let lo = c.carve;
        let ok = if mode == GUARD_MADVISE {
            if lo >= c.guarded {
                c.guarded = install_guards(lo, c.slot, c.carve_end);
            }
            c.guarded > lo
        } else {
            // SAFETY: `[lo, lo + page)` lies in a region this pool reserved
            // and has never handed out; protecting it touches nothing else.
            unsafe { libc::mprotect(lo as *mut libc::c_void, page, libc::PROT_NONE) == 0 }
        };
        if !ok {
            return Err(errno(libc::ENOMEM));
        }
        if lo >= c.populated {
            // As many as the class has carved so far (so a thread that
            // starts a few coroutines makes no memory resident ahead of
            // them), up to a batch.
            let k = c
                .carved
                .clamp(1, ADVISE_BATCH)
                .min((c.carve_end - lo) / c.slot);
            if k > 1 {
                populate_tops((0..k).map(|i| lo + i * c.slot), c.slot);
            }
            c.populated = lo + k * c.slot;
        }
        c.carved += 1;
        c.carve += c.slot;
        if mode == GUARD_MPROTECT {
            self.split_budget -= 1;
        }
        // Off valgrind a registration is a no-op with a destructor: not
        // worth a vector slot per stack.
        if self.valgrind_on {
            self.valgrind
                .push(ValgrindStackRegistration::new(lo as *mut u8, c.slot));
        }
        Ok(lo)
    }

    /// Reserves a new region for class `ci` (halving its length until it
    /// fits the headroom rules, down to one slot).
    #[cold]
    fn reserve(&mut self, ci: usize) -> io::Result<()> {
        // Reading the mapping count costs tens of microseconds (the whole
        // of /proc/self/maps): read it again only after a few regions, few
        // enough that other code cannot eat the headroom in between.
        if self.unchecked_regions == 0 {
            let budget = map_budget();
            if budget < 2 {
                return Err(errno(libc::ENOMEM));
            }
            self.unchecked_regions = (budget / 2).min(REGIONS_PER_MAP_CHECK);
        }
        let slot = self.classes[ci].slot;
        let mut slots = self.classes[ci].next_slots;
        loop {
            let len = slots * slot;
            if address_space_allows(len) {
                if let Some(addr) = map_region(len) {
                    self.regions.push((addr, len));
                    self.unchecked_regions -= 1;
                    RESERVED.fetch_add(len, Ordering::Relaxed);
                    let c = &mut self.classes[ci];
                    c.carve = addr;
                    c.carve_end = addr + len;
                    c.guarded = addr;
                    c.populated = addr;
                    c.next_slots = (slots * 2).min((REGION_MAX_BYTES / slot).max(1));
                    return Ok(());
                }
            }
            if slots == 1 {
                return Err(errno(libc::ENOMEM));
            }
            slots /= 2;
        }
    }

    /// How many idle stacks the pool holds for reuse (with their memory or
    /// not).
    pub(crate) fn idle(&self) -> usize {
        self.classes.iter().map(|c| c.free.len()).sum()
    }

    /// How many stacks are handed out (not yet recycled).
    pub(crate) fn in_use(&self) -> usize {
        self.live
    }

    /// Takes back the slot of a coroutine that has returned.
    pub(crate) fn recycle(&mut self, slot: NonNull<CoSlot>) {
        // SAFETY: the coroutine on this slot has returned; the caller hands
        // over its only pointer, and the slot stays valid until pushed.
        let (ci, lo) = unsafe {
            let s = &mut *slot.as_ptr();
            if let Some(co) = s.co.take() {
                // The stack object is two addresses; the memory stays ours.
                let _stack: RegionStack = co.into_stack();
            }
            (s.class, s.guard.0)
        };
        self.live -= 1;
        let c = &mut self.classes[ci];
        c.free.push(lo);
        let dirty = c.free.len() - c.clean;
        let cache = self.cache;
        if dirty > cache {
            // Released when the thread next has nothing to run
            // (`trim_idle`), or at once past the hard limit, so that a
            // thread that is never idle does not hoard memory either.
            if dirty
                > cache
                    .saturating_mul(IDLE_TRIM_FACTOR)
                    .max(cache + TRIM_BATCH)
            {
                self.trim(ci);
            } else {
                self.trim_pending = true;
            }
        }
    }

    /// Gives back the memory of idle stacks beyond the cache; called by the
    /// scheduler when it is about to wait for events with nothing to run.
    #[inline]
    pub(crate) fn trim_idle(&mut self) {
        if !self.trim_pending {
            return;
        }
        self.trim_pending = false;
        for ci in 0..self.classes.len() {
            let c = &self.classes[ci];
            if c.free.len() - c.clean > self.cache {
                self.trim(ci);
            }
        }
    }

    /// Gives the memory of the coldest idle stacks of class `ci` back to
    /// the kernel, leaving [`stack_cache`] of them with memory.
    #[cold]
    fn trim(&mut self, ci: usize) {
        let page = page_size();
        let c = &mut self.classes[ci];
        let n = c.free.len() - c.clean - self.cache;
        self.scratch.clear();
        self.scratch
            .extend_from_slice(&c.free[c.clean..c.clean + n]);
        c.clean += n;
        self.scratch.sort_unstable();
        let slot = c.slot;
        let mut i = 0;
        while i < self.scratch.len() {
            let start = self.scratch[i];
            let mut end = start + slot;
            i += 1;
            while i < self.scratch.len() && self.scratch[i] == end {
                end += slot;
                i += 1;
            }
            // Skip the first guard page (the others in the run are guards
            // too, which MADV_DONTNEED leaves in place).
            // SAFETY: `[start + page, end)` are idle stacks of this pool: no
            // coroutine runs on them and nothing points into them.
            unsafe {
                libc::madvise(
                    (start + page) as *mut libc::c_void,
                    end - start - page,
                    libc::MADV_DONTNEED,
                )
            };
        }
    }
}

/// `RUNNING_ON_VALGRIND` (valgrind.h): nonzero under valgrind.
const RUNNING_ON_VALGRIND: u64 = 0x1001;

/// `VG_USERREQ_TOOL_BASE('M', 'C') + 1` (memcheck.h): marks memory
/// addressable with undefined contents.
const MAKE_MEM_UNDEFINED: u64 = 0x4d43_0001;

/// Tells valgrind's memcheck that `[addr, addr + len)` is addressable
/// memory of undefined contents (`VALGRIND_MAKE_MEM_UNDEFINED`).
#[cold]
fn memcheck_undefined(addr: usize, len: usize) {
    valgrind_request(MAKE_MEM_UNDEFINED, [addr as u64, len as u64, 0, 0, 0]);
}

/// A valgrind client request: returns 0 natively, where it is a few
/// register rotations that change nothing.
#[inline(never)]
fn valgrind_request(request: u64, args: [u64; 5]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let block: [u64; 6] = [request, args[0], args[1], args[2], args[3], args[4]];
        let result: u64;
        // SAFETY: valgrind's client-request preamble: rotations of `rdi` by
        // 3+13+61+51 = 128 bits leave it unchanged and `xchg rbx, rbx` is a
        // no-op, so natively nothing changes but `rdx` (declared); under
        // valgrind the request reads `block` (live on this stack) and
        // writes its result to `rdx`.
        unsafe {
            std::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                inout("rdx") 0u64 => result,
                in("rax") block.as_ptr(),
                options(nostack),
            );
        }
        result
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (request, args);
        0
    }
}

/// Reserve address space without committing memory or swap for it. FreeBSD
/// has no such flag (and commits nothing up front anyway).
#[cfg(not(target_os = "freebsd"))]
const MAP_NORESERVE: libc::c_int = libc::MAP_NORESERVE;
#[cfg(target_os = "freebsd")]
const MAP_NORESERVE: libc::c_int = 0;

/// Reserves `len` bytes of address space for stacks.
fn map_region(len: usize) -> Option<usize> {
    // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return None;
        }
        // Without this, a touched stack may get a 2 MiB huge page.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        libc::madvise(p, len, libc::MADV_NOHUGEPAGE);
        Some(p as usize)
    }
}

/// Pages named per `process_madvise` call, at most: guards installed, or
/// top pages faulted in.
const ADVISE_BATCH: usize = 64;

/// `PIDFD_SELF_PROCESS` from the uapi `linux/pidfd.h`.
#[cfg(any(target_os = "linux", target_os = "android"))]
const PIDFD_SELF_PROCESS: libc::c_int = -10001;

/// Gives `advice` for the single pages that start at `pages` (at most
/// [`ADVISE_BATCH`] of them) with one `process_madvise` on the process
/// itself (Linux 6.15). `Ok` if the kernel took every page, else the error.
///
/// # Safety
///
/// Each page must lie in a region of this pool and belong to no running
/// coroutine, and `advice` must change nothing that anyone reads there.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn advise_pages(pages: impl Iterator<Item = usize>, advice: libc::c_int) -> io::Result<()> {
    let page = page_size();
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; ADVISE_BATCH];
    let mut n = 0;
    for (v, p) in iov.iter_mut().zip(pages) {
        v.iov_base = p as *mut libc::c_void;
        v.iov_len = page;
        n += 1;
    }
    // SAFETY: the vector names `n` whole pages, which the caller vouches
    // for.
    let r = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            PIDFD_SELF_PROCESS,
            iov.as_ptr(),
            n,
            advice,
            0,
        )
    };
    if r == (n * page) as libc::c_long {
        Ok(())
    } else if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Err(errno(libc::ENOMEM))
    }
}

/// Installs `MADV_GUARD_INSTALL` guards at the bottom of the slots from
/// `lo` on (`slot` bytes apart, up to [`ADVISE_BATCH`] of them, not past
/// `end`), and returns the address below which every slot is guarded (`lo`
/// if none could be).
///
/// One `process_madvise` call on the process itself (`PIDFD_SELF`, Linux
/// 6.15) guards the whole batch: about half the cost per guard of one
/// `madvise` each. Where that is refused, one `madvise` for `lo` alone.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn install_guards(lo: usize, slot: usize, end: usize) -> usize {
    static BATCH_REFUSED: AtomicU8 = AtomicU8::new(0);
    if BATCH_REFUSED.load(Ordering::Relaxed) == 0 {
        let n = ((end - lo) / slot).min(ADVISE_BATCH);
        let los = (0..n).map(|i| lo + i * slot);
        // SAFETY: the pages are the guards of `n` slots of a region this
        // pool reserved and has not handed out; guarding them touches
        // nothing else.
        if unsafe { advise_pages(los, MADV_GUARD_INSTALL) }.is_ok() {
            return lo + n * slot;
        }
        BATCH_REFUSED.store(1, Ordering::Relaxed);
    }
    // SAFETY: as above, for one page.
    if unsafe { libc::madvise(lo as *mut libc::c_void, page_size(), MADV_GUARD_INSTALL) } == 0 {
        lo + slot
    } else {
        lo
    }
}

/// Faults in, with one `process_madvise(MADV_POPULATE_WRITE)`, the top page
/// of each stack slot whose low end `los` yields (`slot` bytes each, at
/// most [`ADVISE_BATCH`] of them): the page a new coroutine writes first.
/// The kernel then allocates the pages back to back, with its own code and
/// data hot in the caches, instead of one page fault per `go` between
/// stretches of coroutine code (measured: about 0.3 µs less per fresh
/// stack, 11%); they are pages those stacks would have faulted in anyway.
///
/// Returns whether the kernel did; where it refuses (before Linux 6.15, or
/// out of memory) the pages are faulted in one by one by their first
/// write, as without this call; so they are with `DILL_STACK_POPULATE=0` in
/// the environment (read once per process), which the benchmarks use to
/// measure the difference.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn populate_tops(los: impl Iterator<Item = usize>, slot: usize) -> bool {
    static REFUSED: AtomicU8 = AtomicU8::new(0);
    static POPULATE: crate::knob::Knob = crate::knob::Knob::new("DILL_STACK_POPULATE");
    if REFUSED.load(Ordering::Relaxed) != 0 || POPULATE.get(|v| v.unwrap_or(1).min(1)) == 0 {
        return false;
    }
    let page = page_size();
    // SAFETY: the pages are the tops of slots this pool owns that no
    // coroutine uses; populating a page changes nothing a reader could
    // tell (zeros, or the stale bytes of an idle stack that nobody reads).
    match unsafe { advise_pages(los.map(|lo| lo + slot - page), MADV_POPULATE_WRITE) } {
        Ok(()) => true,
        Err(e) => {
            if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::EBADF | libc::ENOSYS | libc::EPERM)
            ) {
                REFUSED.store(1, Ordering::Relaxed);
            }
            false
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn populate_tops(_los: impl Iterator<Item = usize>, _slot: usize) -> bool {
    false
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn install_guards(lo: usize, _slot: usize, _end: usize) -> usize {
    lo
}

impl Drop for StackPool {
    fn drop(&mut self) {
        self.valgrind.clear();
        if self.live != 0 {
            // Stacks of leaked coroutines are still in use: keep every
            // region (leaked with the thread) rather than pull memory from
            // under them.
            return;
        }
        for &(addr, len) in &self.regions {
            // SAFETY: no stack of this region is in use; the pool owns it.
            unsafe { libc::munmap(addr as *mut libc::c_void, len) };
            RESERVED.fetch_sub(len, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// The slot whose stack the thread is running on, or null on the
    /// thread's own stack. Read by the fault handler, so it is
    /// const-initialised and drop-free.
    static RUNNING: Cell<*const CoSlot> = const { Cell::new(std::ptr::null()) };
}

/// The lowest usable address of the running coroutine's stack (just above
/// its guard page), or `None` on the thread's own stack.
pub(crate) fn running_stack_limit() -> Option<usize> {
    let slot = RUNNING.with(|c| c.get());
    // SAFETY: a non-null RUNNING points to the live slot whose stack the
    // calling code runs on.
    (!slot.is_null()).then(|| unsafe { (*slot).guard.1 })
}

/// The top page of the running coroutine's stack (the page that holds its
/// bookkeeping, the first a new coroutine touches), or `None` on the
/// thread's own stack. A diagnostic: tests use it to see which stack pages
/// are resident.
#[doc(hidden)]
pub fn running_stack_top_page() -> Option<usize> {
    let slot = RUNNING.with(|c| c.get());
    (!slot.is_null()).then(|| slot as usize & !(page_size() - 1))
}

/// Records that the thread is about to run on `slot`'s stack; returns what
/// to restore afterwards.
#[inline(always)]
pub(crate) fn enter(slot: NonNull<CoSlot>) -> *const CoSlot {
    RUNNING.with(|c| c.replace(slot.as_ptr()))
}

/// Restores the record saved by [`enter`].
#[inline(always)]
pub(crate) fn leave(prev: *const CoSlot) {
    RUNNING.with(|c| c.set(prev));
}

/// The previous SIGSEGV and SIGBUS actions, to chain to for faults that are
/// not coroutine stack overflows.
static mut OLD_ACTIONS: [std::mem::MaybeUninit<libc::sigaction>; 2] = [
    std::mem::MaybeUninit::uninit(),
    std::mem::MaybeUninit::uninit(),
];
static INSTALL: Once = Once::new();

/// Installs the process-wide SIGSEGV/SIGBUS handler (once).
pub(crate) fn install_overflow_handler() {
    INSTALL.call_once(|| {
        for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // SAFETY: a zeroed sigaction is a valid value; the handler has
            // the SA_SIGINFO signature; OLD_ACTIONS is written only here,
            // inside `call_once`, before the handler can read it.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_fault as *const () as usize;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut act.sa_mask);
                let old = std::ptr::addr_of_mut!(OLD_ACTIONS[i]).cast::<libc::sigaction>();
                libc::sigaction(sig, &act, old);
            }
        }
    });
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: writing a valid buffer to fd 2; async-signal-safe.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// Formats `n` in decimal into `buf` without allocating.
fn fmt_usize(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let slot = RUNNING.with(|c| c.get());
    let (lo, hi, size) = if slot.is_null() {
        (0, 0, 0)
    } else {
        // SAFETY: a non-null RUNNING points to the live slot at the top of
        // the stack the faulting code runs on (it cannot be recycled while
        // it runs); reading plain fields is async-signal-safe.
        unsafe { ((*slot).guard.0, (*slot).guard.1, (*slot).size) }
    };
    // The running stack's guard page: a region guard (MADV_GUARD_INSTALL
    // marker or PROT_NONE page) just below the stack.
    if lo != 0 && addr >= lo && addr < hi {
        let mut buf = [0u8; 20];
        write_stderr(b"\ndill: coroutine stack overflow: a coroutine used up its ");
        write_stderr(fmt_usize(size, &mut buf));
        write_stderr(
            b"-byte stack and hit the guard page. Give it a larger stack with \
              go_with_stack_size().\nfatal runtime error: coroutine stack overflow, aborting\n",
        );
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
    }
    let idx = if sig == libc::SIGBUS { 1 } else { 0 };
    // SAFETY: OLD_ACTIONS[idx] was initialised before this handler was
    // installed and is never written again.
    let old = unsafe {
        std::ptr::addr_of!(OLD_ACTIONS[idx])
            .cast::<libc::sigaction>()
            .read()
    };
    if old.sa_sigaction == libc::SIG_DFL || old.sa_sigaction == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction
        // runs again and the process dies of the signal as it would have.
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it
        // has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(old.sa_sigaction) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes only the signal.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(old.sa_sigaction) };
        f(sig);
    }
}

/// An alternate signal stack for the fault handler, allocated only when the
/// thread has none (threads spawned by `std` already have one).
#[derive(Debug)]
pub(crate) struct AltStack {
    mem: *mut libc::c_void,
    len: usize,
}

impl AltStack {
    /// Makes sure the calling thread has an alternate signal stack.
    pub(crate) fn ensure() -> AltStack {
        let none = AltStack {
            mem: std::ptr::null_mut(),
            len: 0,
        };
        // SAFETY: querying the current alternate stack into a zeroed struct.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(std::ptr::null(), &mut cur) != 0
                || cur.ss_flags & libc::SS_DISABLE == 0
            {
                return none;
            }
            let len = 64 * 1024;
            let mem = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if mem == libc::MAP_FAILED {
                return none;
            }
            let st = libc::stack_t {
                ss_sp: mem,
                ss_flags: 0,
                ss_size: len,
            };
            if libc::sigaltstack(&st, std::ptr::null_mut()) != 0 {
                libc::munmap(mem, len);
                return none;
            }
            AltStack { mem, len }
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.mem.is_null() {
            return;
        }
        // SAFETY: disable the alternate stack before unmapping our own.
        unsafe {
            let st = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            libc::sigaltstack(&st, std::ptr::null_mut());
            libc::munmap(self.mem, self.len);
        }
    }
}
