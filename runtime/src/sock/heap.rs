//! Fallible heap slots for the non-`_mem` constructors.
//!
//! `ipc_connect`, `tcp_accept`, … put the socket state on the heap so the
//! handle can be `'static`. Running out of memory there must be `ENOMEM`,
//! not an abort, so the slot is obtained with [`std::alloc::alloc`] and
//! checked for null instead of going through `Box::new`.

use std::alloc::{self, Layout};
use std::fmt;
use std::io;
use std::ptr::NonNull;

use super::sys::err;

/// A heap slot owning one `T`, obtained without aborting on failure.
/// Dropping it frees the slot; a socket handle built from it
/// ([`Stream::in_slot`](super::Stream::in_slot),
/// [`Listener::in_slot`](super::Listener::in_slot)) takes it over and
/// frees it when the handle goes.
pub struct HeapSlot<T> {
    ptr: NonNull<T>,
}

impl<T> HeapSlot<T> {
    /// Allocates a slot holding `value`, or fails with `ENOMEM`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` when the allocator has no memory.
    pub fn new(value: T) -> io::Result<HeapSlot<T>> {
        let layout = Layout::new::<T>();
        assert!(layout.size() != 0, "HeapSlot of a zero-sized type");
        // SAFETY: `layout` has a non-zero size (checked above).
        let raw = unsafe { alloc::alloc(layout) }.cast::<T>();
        let ptr = NonNull::new(raw).ok_or_else(|| err(libc::ENOMEM))?;
        // SAFETY: `ptr` is freshly allocated for a `T`, suitably aligned and
        // not yet initialized, so writing without dropping is right.
        unsafe { ptr.as_ptr().write(value) };
        Ok(HeapSlot { ptr })
    }

    /// Gives up ownership; the returned pointer must eventually be passed
    /// to [`free`].
    pub(crate) fn leak(self) -> NonNull<T> {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }
}

impl<T> Drop for HeapSlot<T> {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` came from `HeapSlot::new` and was not leaked.
        unsafe { free(self.ptr) }
    }
}

impl<T> fmt::Debug for HeapSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapSlot").field("ptr", &self.ptr).finish()
    }
}

/// Drops the value and frees the slot.
///
/// # Safety
///
/// `ptr` must come from [`HeapSlot::leak`] and must not be used afterwards.
pub(crate) unsafe fn free<T>(ptr: NonNull<T>) {
    // SAFETY: by the contract above, `ptr` points to an initialized `T`
    // in a block allocated with `Layout::new::<T>()`.
    unsafe {
        std::ptr::drop_in_place(ptr.as_ptr());
        alloc::dealloc(ptr.as_ptr().cast(), Layout::new::<T>());
    }
}
