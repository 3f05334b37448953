//! Fallible heap slots for the non-`_mem` constructors.
//!
//! `ipc_connect`, `ipc_accept`, … put the socket state on the heap so the
//! handle can be `'static`. Running out of memory there must be `ENOMEM`,
//! not an abort, so the slot is obtained with [`std::alloc::alloc`] and
//! checked for null instead of going through `Box::new`.

use std::alloc::{self, Layout};
use std::fmt;
use std::io;
use std::ptr::NonNull;

use crate::sys::err;

/// A heap slot owning one `T`. Dropping it frees the slot; [`leak`] hands
/// the slot over to a handle that frees it later with [`free`].
///
/// [`leak`]: HeapSlot::leak
pub(crate) struct HeapSlot<T> {
    ptr: NonNull<T>,
}

impl<T> HeapSlot<T> {
    /// Allocates a slot holding `value`, or fails with `ENOMEM`.
    pub(crate) fn new(value: T) -> io::Result<HeapSlot<T>> {
        let layout = Layout::new::<T>();
        debug_assert!(layout.size() != 0);
        // SAFETY: `layout` has a non-zero size (the IPC memory types all
        // hold a descriptor).
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
/// `ptr` must come from [`HeapSlot::leak`] (or a live `HeapSlot` that is
/// then forgotten) and must not be used afterwards.
pub(crate) unsafe fn free<T>(ptr: NonNull<T>) {
    // SAFETY: by the contract above, `ptr` points to an initialized `T`
    // in a block allocated with `Layout::new::<T>()`.
    unsafe {
        std::ptr::drop_in_place(ptr.as_ptr());
        alloc::dealloc(ptr.as_ptr().cast(), Layout::new::<T>());
    }
}
