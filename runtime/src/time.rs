//! The clock and deadline helpers.

use std::io;

use crate::error::errno;

/// Returns the current time in milliseconds on a monotonic clock.
///
/// This is the clock every deadline in dill is measured on. It has 1 ms
/// precision, never goes backwards and is unaffected by changes to the wall
/// clock. Its origin is arbitrary (boot time on Linux), so only differences
/// and comparisons are meaningful.
///
/// It reads `CLOCK_MONOTONIC` (through the vDSO, no system call). On x86-64
/// CPUs with an invariant time-stamp counter each thread keeps the last
/// reading and reuses it while fewer than 25,000 TSC ticks (at most 25 µs
/// at 1 GHz) have passed, which costs one `rdtsc` (about 9 ns here) instead
/// of a clock read (about 21 ns). The cached value can only lag the clock by
/// that much, never lead it, so no deadline fires early.
#[doc = include_str!("../../docs/now.md")]
#[inline]
pub fn now() -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        if tsc::usable() {
            return tsc::now();
        }
    }
    clock_ms()
}

/// A deadline `ms` milliseconds from now, for every call that takes one.
///
/// Deadlines in dill are absolute times on the [`now`] clock; `after(ms)`
/// is `now() + ms`, saturating at `i64::MAX` (which is as good as "never"),
/// and a negative `ms` gives `now()`, a deadline already reached. Write
/// `msleep(after(100))`, not `msleep(100)`: the latter names a moment long
/// past and returns at once.
#[doc = include_str!("../../docs/after.md")]
#[inline]
pub fn after(ms: i64) -> i64 {
    now().saturating_add(ms.max(0))
}

/// Reads `CLOCK_MONOTONIC` in milliseconds.
#[inline]
fn clock_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always
    // available, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // `time_t` and `c_long` are narrower than i64 on some targets.
    #[allow(clippy::unnecessary_cast)]
    let ms = ts.tv_sec as i64 * 1000 + ts.tv_nsec as i64 / 1_000_000;
    ms
}

#[cfg(target_arch = "x86_64")]
mod tsc {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// TSC ticks for which a clock reading is reused.
    const REUSE_TICKS: u64 = 25_000;

    thread_local! {
        /// `(tsc, ms)` of the thread's last clock reading.
        static LAST: Cell<(u64, i64)> = const { Cell::new((0, i64::MIN)) };
    }

    /// 0: not checked yet, 1: invariant TSC, 2: not usable.
    static STATE: AtomicU8 = AtomicU8::new(0);

    #[inline]
    pub(super) fn usable() -> bool {
        match STATE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => check(),
        }
    }

    #[cold]
    fn check() -> bool {
        // Leaf 0x80000000 reports the highest extended leaf, so 0x80000007
        // is read only if it exists. Bit 8 of its EDX is "invariant TSC".
        // SAFETY: CPUID has no preconditions on x86-64. (Rust 1.87 made
        // `__cpuid` a safe function; the block keeps older compilers, down to
        // the `rust-version`, building.)
        #[allow(unused_unsafe)]
        let cpuid = |leaf| unsafe { std::arch::x86_64::__cpuid(leaf) };
        let max = cpuid(0x8000_0000).eax;
        let ok = max >= 0x8000_0007 && cpuid(0x8000_0007).edx & (1 << 8) != 0;
        STATE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
        ok
    }

    #[inline]
    pub(super) fn now() -> i64 {
        // SAFETY: RDTSC has no preconditions on x86-64.
        let t = unsafe { std::arch::x86_64::_rdtsc() };
        let (last_t, last_ms) = LAST.with(Cell::get);
        // A thread moved to a core whose counter is behind makes the
        // difference wrap to a huge value, which forces a fresh reading.
        if t.wrapping_sub(last_t) < REUSE_TICKS {
            return last_ms;
        }
        let ms = super::clock_ms().max(last_ms);
        LAST.with(|c| c.set((t, ms)));
        ms
    }
}

/// Checks that `deadline` is `-1` or non-negative.
#[inline]
pub(crate) fn check(deadline: i64) -> io::Result<()> {
    if deadline < -1 {
        Err(errno(libc::EINVAL))
    } else {
        Ok(())
    }
}

/// True if an operation with this deadline must not block: `0`, or a
/// positive deadline that has already passed.
#[inline]
pub(crate) fn expired(deadline: i64) -> bool {
    deadline == 0 || (deadline > 0 && deadline <= now())
}
