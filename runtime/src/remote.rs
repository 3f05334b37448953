//! Cross-thread wake-ups: how a thread completes the wait of a coroutine
//! that belongs to another thread's scheduler.
//!
//! A task that blocks on a shared channel (alone, or inside a `choose`)
//! publishes a [`Waiter`] on its own stack and points its task at it. The
//! waiter's `state` is the wait's one "first trigger wins" switch for every
//! thread: local triggers (timers, cancellation, local channels) and
//! partners on other threads all claim it with one compare-and-swap, and
//! only the winner may complete the wait.
//!
//! A partner on another thread that wins the claim moves the value, then
//! pushes the waiter onto the owner scheduler's [`Remote`] list, a lock-free
//! intrusive stack whose links live in the waiters themselves (so the
//! hand-off allocates nothing). The owner drains the list from its loop and
//! makes the tasks ready. The owner is woken through its eventfd only when
//! it announced that it is about to sleep in the reactor; one write per
//! sleep however many waiters were pushed meanwhile, and none while it is
//! awake.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use std::sync::Arc;

/// [`Waiter::state`] while nobody has claimed the wait.
pub(crate) const PENDING: i32 = i32::MIN;

/// One blocked wait that other threads may complete. Lives on the waiting
/// task's stack from before its nodes are published until it resumes.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// [`PENDING`], then the wait's result (clause index or `-errno`).
    state: AtomicI32,
    /// Link in the owner's [`Remote`] list; written by the one claimer.
    next: AtomicPtr<Waiter>,
    /// The task, in its owner's task table.
    pub(crate) task: usize,
}

impl Waiter {
    pub(crate) fn new(task: usize) -> Waiter {
        Waiter {
            state: AtomicI32::new(PENDING),
            next: AtomicPtr::new(ptr::null_mut()),
            task,
        }
    }

    /// Claims the wait with result `res`; false if someone else did first.
    #[inline]
    pub(crate) fn claim(&self, res: i32) -> bool {
        self.state
            .compare_exchange(PENDING, res, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The part of a scheduler other threads may touch.
#[derive(Debug)]
pub(crate) struct Remote {
    /// Claimed waiters not yet seen by the owner, newest first.
    head: AtomicPtr<Waiter>,
    /// The owner is (about to be) asleep in the reactor and must be woken.
    sleeping: AtomicBool,
    /// Read side, registered in the owner's reactor.
    rfd: OwnedFd,
    /// Write side (the same descriptor for an eventfd).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    wfd: OwnedFd,
    /// [`wait_ns`], read once.
    wait_ns: u64,
}

/// How long an idle scheduler with coroutines blocked on shared channels
/// keeps looking for remote completions before it goes to sleep in the
/// reactor, in nanoseconds. A wake-up through the kernel costs tens of
/// microseconds on a VM (an inter-processor interrupt); a partner that
/// answers within this window is seen without one. The scheduler yields
/// its time slice between looks instead of spinning on the CPU: on a
/// loaded two-core box a pure spin took the core the partner needed and
/// made round trips several times slower than sleeping at once, while
/// yielding for up to 50 µs halved them and tripled one-way throughput
/// (DESIGN.md, "Shared channels"). A scheduler with no such coroutine
/// sleeps at once. Zero disables the wait. The environment variable
/// `DILL_SHARED_WAIT_US` (microseconds, at most 10 000) overrides it for
/// the process, read once: the benchmark measures the choice with it.
pub(crate) const SPIN_NS: u64 = 50_000;

/// [`SPIN_NS`] or its override from the environment.
fn wait_ns() -> u64 {
    static WAIT: crate::knob::Knob = crate::knob::Knob::new("DILL_SHARED_WAIT_US");
    WAIT.get(|v| v.map_or(SPIN_NS, |us| us.min(10_000) * 1000))
}

impl Remote {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn new() -> io::Result<Remote> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Remote {
            head: AtomicPtr::new(ptr::null_mut()),
            sleeping: AtomicBool::new(false),
            // SAFETY: `fd` was just created and is owned by nobody else.
            rfd: unsafe { OwnedFd::from_raw_fd(fd) },
            wait_ns: wait_ns(),
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn new() -> io::Result<Remote> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both were just created and are owned by nobody else.
        let (rfd, wfd) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in fds {
            // SAFETY: flag changes on our own descriptors.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                let fl = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
            }
        }
        Ok(Remote {
            head: AtomicPtr::new(ptr::null_mut()),
            sleeping: AtomicBool::new(false),
            rfd,
            wfd,
            wait_ns: wait_ns(),
        })
    }

    /// The descriptor to register in the owner's reactor.
    pub(crate) fn fd(&self) -> RawFd {
        self.rfd.as_raw_fd()
    }

    /// The eventfd is registered edge-triggered, and every write is a new
    /// edge, so the owner never needs to read it back (saving a system
    /// call per wake-up); only a counter at its maximum (EAGAIN, after
    /// 2^64 - 2 rings) is emptied before ringing again.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        let r = unsafe { libc::write(self.rfd.as_raw_fd(), &one as *const u64 as *const _, 8) };
        if r < 0 {
            self.clear();
            // SAFETY: as above.
            unsafe { libc::write(self.rfd.as_raw_fd(), &one as *const u64 as *const _, 8) };
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn ring(&self) {
        let one = 1u8;
        // SAFETY: writes 1 byte from a live u8 to our pipe; a full pipe
        // already means "wake up".
        unsafe { libc::write(self.wfd.as_raw_fd(), &one as *const u8 as *const _, 1) };
    }

    /// Empties the doorbell after a wake-up.
    fn clear(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reads into a live buffer from our non-blocking descriptor.
        while unsafe { libc::read(self.rfd.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len()) }
            == buf.len() as isize
        {}
    }

    /// Hands the claimed waiter `w` to the owner, waking it if it sleeps.
    ///
    /// # Safety
    /// `w` was claimed by the caller (so nobody else pushes it) and stays
    /// valid until the owner has drained it: its task cannot resume
    /// before that.
    #[inline]
    pub(crate) unsafe fn push(&self, w: *const Waiter) {
        let w = w as *mut Waiter;
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `w` is valid (caller) and only we write its link.
            unsafe { (*w).next.store(head, Ordering::Relaxed) };
            match self
                .head
                .compare_exchange_weak(head, w, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        // Pairs with `prepare_sleep`: either the owner sees the pushed
        // waiter before sleeping, or we see that it sleeps. One write per
        // sleep: whoever swaps the flag off rings.
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.ring();
        }
    }

    /// Are waiters waiting to be drained? (A hint; `take` decides.)
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        !self.head.load(Ordering::Relaxed).is_null()
    }

    /// Takes every pushed waiter, oldest first, calling `f(task, result)`.
    ///
    /// The waiters' tasks must not run before `f` returns for them (they
    /// are only made ready by `f`).
    #[inline]
    pub(crate) fn take(&self, mut f: impl FnMut(usize, i32)) {
        let mut p = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // Newest first: reverse into oldest first.
        let mut rev: *mut Waiter = ptr::null_mut();
        while !p.is_null() {
            // SAFETY: pushed waiters stay valid until their task resumes,
            // which needs `f`.
            let next = unsafe { (*p).next.load(Ordering::Relaxed) };
            // SAFETY: as above.
            unsafe { (*p).next.store(rev, Ordering::Relaxed) };
            rev = p;
            p = next;
        }
        while !rev.is_null() {
            // SAFETY: as above; everything is read before `f` readies the
            // task.
            let (task, res, next) = unsafe {
                (
                    (*rev).task,
                    (*rev).state.load(Ordering::Acquire),
                    (*rev).next.load(Ordering::Relaxed),
                )
            };
            f(task, res);
            rev = next;
        }
    }

    /// Announces that the owner is about to block in the reactor. Returns
    /// false when it must not (waiters were pushed meanwhile). Looks for
    /// pushed waiters for up to [`SPIN_NS`] (or its override) first when
    /// `spin`, yielding the CPU between looks.
    pub(crate) fn prepare_sleep(&self, spin: bool) -> bool {
        if spin && self.wait_ns > 0 {
            let start = std::time::Instant::now();
            while start.elapsed().as_nanos() < self.wait_ns as u128 {
                if self.has_pending() {
                    return false;
                }
                // Yield rather than spin: on a loaded box the partner may
                // need this very core to answer.
                std::thread::yield_now();
            }
        }
        self.sleeping.store(true, Ordering::SeqCst);
        if !self.head.load(Ordering::SeqCst).is_null() {
            self.sleeping.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The owner is awake again.
    pub(crate) fn after_sleep(&self) {
        let rung = !self.sleeping.swap(false, Ordering::SeqCst);
        // Someone turned the flag off: they ring (or rang) the bell. A pipe
        // must be emptied or it fills up and stops signalling; an eventfd
        // need not be (see `ring`).
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        if rung {
            self.clear();
        }
        let _ = rung;
    }
}

/// Per-thread state of the remote machinery, kept in the scheduler.
#[derive(Debug)]
pub(crate) struct RemoteLocal {
    pub(crate) remote: Arc<Remote>,
    /// Tasks of this thread blocked with a published [`Waiter`].
    pub(crate) waits: Cell<usize>,
}

/// A spin-then-yield lock around the state of a shared channel. Critical
/// sections are a few pointer updates and one value move (no user code,
/// no system call but the rare wake-up), so spinning is short; a holder
/// preempted by the OS makes waiters yield their time slice to it.
#[derive(Debug, Default)]
pub(crate) struct RawLock {
    locked: AtomicBool,
}

impl RawLock {
    pub(crate) const fn new() -> RawLock {
        RawLock {
            locked: AtomicBool::new(false),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.lock_slow();
    }

    #[cold]
    fn lock_slow(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 100 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    #[inline]
    pub(crate) fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads and resets the doorbell's count (0 when nobody rang).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn rings(r: &Remote) -> u64 {
        let mut n = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from our eventfd.
        let k = unsafe { libc::read(r.fd(), &mut n as *mut u64 as *mut _, 8) };
        if k == 8 {
            n
        } else {
            0
        }
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn one_ring_per_sleep_none_while_awake() {
        let r = Remote::new().unwrap();
        let ws: Vec<Waiter> = (0..3).map(Waiter::new).collect();
        // Awake: pushes do not ring.
        for w in &ws[..2] {
            assert!(w.claim(7));
            // SAFETY: claimed here, alive until drained below.
            unsafe { r.push(w) };
        }
        assert_eq!(rings(&r), 0);
        assert!(!r.prepare_sleep(false), "pending waiters forbid sleeping");
        let mut seen = Vec::new();
        r.take(|t, res| seen.push((t, res)));
        assert_eq!(seen, [(0, 7), (1, 7)], "oldest first");
        // Asleep: the first push rings, later ones do not.
        assert!(r.prepare_sleep(false));
        let more: Vec<Waiter> = (10..14).map(Waiter::new).collect();
        for w in &more {
            assert!(w.claim(1));
            // SAFETY: as above.
            unsafe { r.push(w) };
        }
        assert_eq!(rings(&r), 1);
        r.after_sleep();
        let mut seen = Vec::new();
        r.take(|t, _| seen.push(t));
        assert_eq!(seen, [10, 11, 12, 13]);
        // Asleep and nobody pushes: no ring, and waking clears the flag.
        assert!(r.prepare_sleep(false));
        r.after_sleep();
        assert!(r.prepare_sleep(false));
        r.after_sleep();
        assert_eq!(rings(&r), 0);
        drop(ws);
    }

    #[test]
    fn a_claim_is_won_once() {
        let w = Waiter::new(3);
        assert!(w.claim(2));
        assert!(!w.claim(-libc::ETIMEDOUT));
        assert!(!w.claim(5));
    }

    #[test]
    fn lock_excludes() {
        let l = std::sync::Arc::new(RawLock::new());
        let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let (l, n) = (l.clone(), n.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        l.lock();
                        // A non-atomic read-modify-write under the lock.
                        let v = n.load(Ordering::Relaxed);
                        n.store(v + 1, Ordering::Relaxed);
                        l.unlock();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(n.load(Ordering::Relaxed), 40_000);
    }
}
