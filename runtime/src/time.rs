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
/// On Linux it reads `CLOCK_MONOTONIC` through the vDSO (no system call).
#[doc = include_str!("../../docs/now.md")]
#[inline]
pub fn now() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always
    // available, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as i64 * 1000 + ts.tv_nsec as i64 / 1_000_000
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
