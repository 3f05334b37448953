//! Coroutine stacks: guard-paged, pooled for reuse, and a fault handler that
//! names a coroutine stack overflow instead of dying with a bare SIGSEGV.
//!
//! Every stack is an `mmap` with a `PROT_NONE` guard page below it
//! (corosensei's `DefaultStack`). A fresh stack costs an `mmap` and an
//! `mprotect` (microseconds); a pooled one costs a pointer pop. When the
//! kernel refuses a new mapping (out of memory, or `vm.max_map_count`
//! exhausted: each stack takes two mappings), `go` fails with `ENOMEM`.

use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use corosensei::stack::{DefaultStack, Stack};
use corosensei::{Coroutine, CoroutineResult};

use crate::error::errno;
use crate::sched::Yld;

/// Default stack size of a coroutine: 256 KiB (as libdill), plus a guard page.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Smallest stack size accepted; smaller requests are rounded up.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Largest stack size accepted (1 GiB); larger requests fail with `ENOMEM`.
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// How many idle stacks the pool keeps per thread.
const POOL_LIMIT: usize = 256;

type CoObj = Coroutine<usize, (), (), DefaultStack>;

/// A stack and, while it runs one, the coroutine on it. Boxed so that its
/// address is stable while the coroutine runs.
pub(crate) struct CoSlot {
    co: Option<CoObj>,
    stack: Option<DefaultStack>,
    size: usize,
    /// The guard page: `[guard.0, guard.1)`.
    guard: (usize, usize),
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
    pub(crate) fn start(&mut self, body: impl FnOnce(&Yld, usize) + 'static) {
        let stack = self.stack.take().expect("stack slot without a stack");
        self.co = Some(Coroutine::with_stack(stack, body));
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

/// Idle stacks, by size (the default size has a list of its own).
#[derive(Debug, Default)]
pub(crate) struct StackPool {
    default: Vec<NonNull<CoSlot>>,
    others: Vec<(usize, Vec<NonNull<CoSlot>>)>,
    count: usize,
}

impl StackPool {
    /// A stack slot of (at least) `size` bytes: from the pool if one is idle,
    /// else freshly mapped.
    #[inline]
    pub(crate) fn get(&mut self, size: usize) -> io::Result<NonNull<CoSlot>> {
        let size = if size == DEFAULT_STACK_SIZE {
            size
        } else {
            normalize(size)?
        };
        let list = if size == DEFAULT_STACK_SIZE {
            Some(&mut self.default)
        } else {
            self.others
                .iter_mut()
                .find(|(s, _)| *s == size)
                .map(|(_, l)| l)
        };
        if let Some(slot) = list.and_then(Vec::pop) {
            self.count -= 1;
            return Ok(slot);
        }
        self.map(size)
    }

    /// Maps a fresh stack.
    #[cold]
    fn map(&mut self, size: usize) -> io::Result<NonNull<CoSlot>> {
        let stack = DefaultStack::new(size)?;
        let lo = stack.limit().get();
        let slot = Box::new(CoSlot {
            co: None,
            stack: Some(stack),
            size,
            guard: (lo, lo + page_size()),
        });
        Ok(NonNull::from(Box::leak(slot)))
    }

    /// How many idle stacks the pool holds.
    pub(crate) fn idle(&self) -> usize {
        self.count
    }

    /// Takes back the slot of a coroutine that has returned.
    pub(crate) fn recycle(&mut self, slot: NonNull<CoSlot>) {
        // SAFETY: the coroutine on this slot has returned; the caller hands
        // over its only pointer.
        let slot_ref = unsafe { &mut *slot.as_ptr() };
        if let Some(co) = slot_ref.co.take() {
            slot_ref.stack = Some(co.into_stack());
        }
        if self.count >= POOL_LIMIT {
            // SAFETY: see above; the box came from `Box::leak` in `get`.
            drop(unsafe { Box::from_raw(slot.as_ptr()) });
            return;
        }
        let size = slot_ref.size;
        self.count += 1;
        if size == DEFAULT_STACK_SIZE {
            self.default.push(slot);
            return;
        }
        match self.others.iter_mut().find(|(s, _)| *s == size) {
            Some((_, list)) => list.push(slot),
            None => self.others.push((size, vec![slot])),
        }
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let default = std::mem::take(&mut self.default);
        for list in self
            .others
            .drain(..)
            .map(|(_, l)| l)
            .chain(std::iter::once(default))
        {
            for slot in list {
                // SAFETY: idle slots are owned by the pool alone.
                drop(unsafe { Box::from_raw(slot.as_ptr()) });
            }
        }
    }
}

thread_local! {
    /// The slot whose stack the thread is running on, or null on the
    /// thread's own stack. Read by the fault handler, so it is
    /// const-initialised and drop-free.
    static RUNNING: Cell<*const CoSlot> = const { Cell::new(std::ptr::null()) };
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
        // SAFETY: a non-null RUNNING points to the live slot whose stack the
        // faulting code runs on (it cannot be freed while it runs); reading
        // plain fields is async-signal-safe.
        unsafe { ((*slot).guard.0, (*slot).guard.1, (*slot).size) }
    };
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
