//! A counting global allocator for the no-allocation tests (each such test
//! binary installs it with `#[global_allocator]` and runs on one thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts allocations and reallocations; can be told to fail one.
pub struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// When non-zero, the allocation that brings it to zero fails.
static FAIL_IN: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts and, on request,
// reports failure with a null pointer, which GlobalAlloc allows.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        if FAIL_IN.load(Ordering::Relaxed) != 0 && FAIL_IN.fetch_sub(1, Ordering::Relaxed) == 1 {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

/// Allocations (and reallocations) so far.
pub fn allocs() -> usize {
    ALLOCS.load(Ordering::Relaxed)
}

/// Makes the `n`th allocation from now fail (`0`: none).
#[allow(dead_code)]
pub fn fail_in(n: usize) {
    FAIL_IN.store(n, Ordering::Relaxed);
}
