//! Coroutines: `go`, the `Coroutine<T>` handle, `yield_now`, `msleep`.

use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::thread;

use crate::error::{errno, wait_result};
use crate::inspect::{self, Name, Wait};
use crate::sched::{self, s, wait_on, Yld, NONE, ZOMBIE_DROP, ZOMBIE_TAKEN};
use crate::stack::default_stack_size;
use crate::time;

/// `!Send`, `!Sync`, and covariant in `T` without owning a `T`.
type Marker<T> = (*mut (), fn() -> T);

/// Handle to a running coroutine, returned by [`go`].
///
/// Dropping the handle **cancels** the coroutine: every blocking call it is
/// in, or makes later, fails with `ECANCELED`. The drop then waits until the
/// coroutine's function has returned, so no coroutine outlives its handle.
/// [`join`](Coroutine::join) waits for the function's value instead.
///
/// Handles belong to the thread that created them:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let h = dill::go(|| 1).unwrap();
/// assert_send(h);
/// ```
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: &T) {}
/// let h = dill::go(|| 1).unwrap();
/// assert_sync(&h);
/// ```
#[must_use = "dropping a Coroutine cancels it at once (so does `let _ = go(..)`): keep the handle and `join` it, or start the coroutine in a `Bundle` with `Bundle::go`"]
pub struct Coroutine<T> {
    id: usize,
    _marker: PhantomData<Marker<T>>,
}

impl<T> std::fmt::Debug for Coroutine<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coroutine")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Launches `f` as a new coroutine on a stack of
/// [`default_stack_size`](crate::default_stack_size) bytes
/// ([`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE) unless changed) and
/// returns its handle.
#[doc = include_str!("../../docs/go.md")]
#[track_caller]
pub fn go<F, T>(f: F) -> io::Result<Coroutine<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    go_with_stack_size(default_stack_size(), f)
}

/// Like [`go`], with a stack of `stack_size` bytes (rounded up to whole
/// pages, at least [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE)).
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
/// * `ENOMEM`: no stack could be had without eating into the headroom kept
///   for the rest of the process (address space under `RLIMIT_AS`,
///   `vm.max_map_count`), or `stack_size` above
///   [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE).
#[track_caller]
pub fn go_with_stack_size<F, T>(stack_size: usize, f: F) -> io::Result<Coroutine<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    go_at(stack_size, std::panic::Location::caller(), None, f)
}

/// [`go_with_stack_size`] with the caller's location and a name given.
pub(crate) fn go_at<F, T>(
    stack_size: usize,
    at: &'static std::panic::Location<'static>,
    name: Option<Name>,
    f: F,
) -> io::Result<Coroutine<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let id = sched::spawn(stack_size, NONE, at, name, move |id, y| {
        body::<F, T>(id, y, f)
    })?;
    Ok(Coroutine {
        id,
        _marker: PhantomData,
    })
}

/// What runs on a coroutine's stack: the user function, then delivery of
/// its result.
fn body<F: FnOnce() -> T, T>(id: usize, y: &Yld, f: F) {
    // SAFETY: no switch while the reference lives.
    unsafe { s() }.tasks[id].yielder = y;
    let r = panic::catch_unwind(AssertUnwindSafe(move || inspect::coroutine_start(f)));
    finish::<T>(id, y, r);
}

/// Delivers a coroutine's result: straight into a waiting joiner's slot, or
/// dropped if nobody can ever take it, or kept on this stack (zombie) until
/// the handle takes or drops it.
pub(crate) fn finish<T>(id: usize, y: &Yld, r: thread::Result<T>) {
    let mut val = ManuallyDrop::new(r);
    {
        // SAFETY: no switch inside this block.
        let s = unsafe { s() };
        s.tasks[id].finished = true;
        s.tasks[id].drop_name();
        // SAFETY: `shared` lives as long as the scheduler.
        unsafe { &*s.shared }.live_add(usize::MAX);
        if s.tasks[id].bundle != NONE {
            s.bundle_remove(id);
        }
        let t = &mut s.tasks[id];
        if t.detached {
            // SAFETY: `val` is not used again.
            let r = unsafe { ManuallyDrop::take(&mut val) };
            drop_contained(r);
            return;
        }
        if t.joiner != NONE && !t.out.is_null() {
            let out = t.out as *mut Option<thread::Result<T>>;
            let j = t.joiner;
            // SAFETY: the joiner registered `out`, a slot of this exact type
            // on its own (suspended, so stable) stack, holding `None`.
            unsafe { ptr::write(out, Some(ManuallyDrop::take(&mut val))) };
            s.trigger(j, 0);
            return;
        }
        if fits_inline::<T>() {
            // SAFETY: `fits_inline` checked size and alignment; the slot is
            // empty (`has_value` is false until now).
            unsafe {
                ptr::write(
                    t.value.0.as_mut_ptr() as *mut thread::Result<T>,
                    ManuallyDrop::take(&mut val),
                )
            };
            t.has_value = true;
            return;
        }
        t.zombie = &mut *val as *mut thread::Result<T> as *mut ();
    }
    if y.suspend(()) == ZOMBIE_DROP {
        // SAFETY: the handle did not take the value.
        drop_contained(unsafe { ManuallyDrop::take(&mut val) });
    }
}

/// Does a coroutine's result fit in its task's inline slot?
const fn fits_inline<T>() -> bool {
    std::mem::size_of::<thread::Result<T>>() <= sched::INLINE_VALUE_SIZE
        && std::mem::align_of::<thread::Result<T>>() <= std::mem::align_of::<sched::InlineValue>()
}

/// Moves a result out of task `id`'s inline slot, if it holds one.
fn take_inline<T>(t: &mut sched::Task) -> Option<thread::Result<T>> {
    if !t.has_value {
        return None;
    }
    t.has_value = false;
    // SAFETY: `has_value` says the slot holds a `thread::Result<T>` written
    // by `finish::<T>` for this task (the handle's `T` is the task's `T`).
    Some(unsafe { ptr::read(t.value.0.as_ptr() as *const thread::Result<T>) })
}

/// Drops a value, containing a panic from its destructor.
fn drop_contained<V>(v: V) {
    let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(v)));
}

/// Waits (not cancellably) until coroutine `id` has finished, cancelling it
/// first if `cancel`, and takes its result and frees it.
fn reclaim<T>(id: usize, cancel: bool) -> Option<thread::Result<T>> {
    {
        // Fast path: the coroutine has returned; its result, if any, is
        // inline. SAFETY: no switch inside this block.
        let s = unsafe { s() };
        let t = &mut s.tasks[id];
        if t.returned && t.zombie.is_null() {
            let v = take_inline::<T>(t);
            s.tasks.remove(id);
            return v;
        }
    }
    let mut out: Option<thread::Result<T>> = None;
    {
        // SAFETY: no switch inside this block.
        let s = unsafe { s() };
        if cancel {
            s.cancel(id);
        }
        let cur = s.current;
        let t = &mut s.tasks[id];
        if !t.finished {
            t.joiner = cur;
            t.out = &mut out as *mut Option<thread::Result<T>> as *mut ();
        }
    }
    loop {
        let run_now = {
            // SAFETY: no switch inside this block.
            let s = unsafe { s() };
            if s.tasks[id].finished {
                break;
            }
            s.take_ready(id)
        };
        if run_now {
            // Woken and queued: run it now rather than after the rest of the
            // queue (see `Sched::take_ready`).
            sched::resume(id, sched::RESUME);
        } else {
            wait_on(Wait::Join(id as u64), -1, false);
        }
    }
    let zombie = {
        // SAFETY: no switch inside this block.
        let t = &mut unsafe { s() }.tasks[id];
        t.joiner = NONE;
        t.out = ptr::null_mut();
        // A result goes inline only when the coroutine finishes with no
        // joiner, and it then returns before anything else runs, so the
        // fast path above has taken it: here the result came through `out`
        // or waits on the zombie's stack.
        debug_assert!(!t.has_value, "inline result seen by a waiting reclaim");
        std::mem::replace(&mut t.zombie, ptr::null_mut())
    };
    if !zombie.is_null() {
        // SAFETY: the zombie's value has type `thread::Result<T>` and stays
        // valid until the zombie is resumed; ZOMBIE_TAKEN tells it the value
        // was moved out.
        out = Some(unsafe { ptr::read(zombie as *mut thread::Result<T>) });
        sched::resume(id, ZOMBIE_TAKEN);
    }
    // SAFETY: no switch from here on.
    let s = unsafe { s() };
    if s.tasks[id].returned {
        s.tasks.remove(id);
    } else {
        s.tasks[id].detached = true;
    }
    out
}

impl<T> Coroutine<T> {
    /// Waits until the coroutine's function returns and gives its value.
    ///
    /// If the function panicked, the panic is resumed in the caller.
    /// On `ETIMEDOUT` or `ECANCELED` the coroutine is cancelled and waited
    /// for before the error is returned (its value is dropped).
    ///
    /// # Errors
    ///
    /// * `EINVAL`: `deadline` is negative other than `-1` (the coroutine is
    ///   cancelled, as if the handle were dropped).
    /// * `ETIMEDOUT`: the deadline passed first.
    /// * `ECANCELED`: the calling coroutine is being cancelled.
    /// * `EDEADLK`: a coroutine tried to join itself (it is marked cancelled).
    ///
    /// # Panics
    ///
    /// Re-raises the coroutine's panic, if it panicked.
    #[doc = include_str!("../../docs/join.md")]
    pub fn join(self, deadline: i64) -> io::Result<T> {
        let r = self.join_inner(deadline);
        sched::release_if_orphaned();
        r
    }

    fn join_inner(self, deadline: i64) -> io::Result<T> {
        let this = ManuallyDrop::new(self);
        let id = this.id;
        if let Err(e) = time::check(deadline) {
            drop(ManuallyDrop::into_inner(this));
            return Err(e);
        }
        let err = {
            // SAFETY: no switch inside this block.
            let s = unsafe { s() };
            let cur = s.current;
            if id == cur {
                let t = &mut s.tasks[id];
                t.cancelled = true;
                t.detached = true;
                return Err(errno(libc::EDEADLK));
            }
            if s.tasks[id].finished {
                0
            } else if s.cancelled() {
                -libc::ECANCELED
            } else if time::expired(deadline) {
                -libc::ETIMEDOUT
            } else {
                -1
            }
        };
        let (err, out) = if err == -1 {
            let mut out: Option<thread::Result<T>> = None;
            {
                // SAFETY: no switch inside this block.
                let s = unsafe { s() };
                let cur = s.current;
                let t = &mut s.tasks[id];
                t.joiner = cur;
                t.out = &mut out as *mut Option<thread::Result<T>> as *mut ();
            }
            // Woken and queued: run it now (see `Sched::take_ready`); if it
            // finishes, it delivers into `out` and there is nothing to wait
            // for.
            // SAFETY: no switch while the reference lives.
            if unsafe { s() }.take_ready(id) {
                sched::resume(id, sched::RESUME);
            }
            // SAFETY: no switch while the reference lives.
            let r = if unsafe { s() }.tasks[id].finished {
                0
            } else {
                wait_on(Wait::Join(id as u64), deadline, true)
            };
            // The slot may have been filled even if the wait failed.
            let got = out.take();
            let rest = reclaim::<T>(id, r < 0);
            (r.min(0), got.or(rest))
        } else {
            (err, reclaim::<T>(id, err < 0))
        };
        if err < 0 {
            drop(out);
            return Err(errno(-err));
        }
        match out {
            Some(Ok(v)) => Ok(v),
            Some(Err(p)) => panic::resume_unwind(p),
            None => Err(errno(libc::ECANCELED)),
        }
    }

    /// The coroutine's number, as [`coroutines`](crate::coroutines) and
    /// [`dump`](crate::dump) show it: unique on its thread, never reused.
    pub fn id(&self) -> u64 {
        // SAFETY: no switch while the reference lives.
        unsafe { s() }.tasks[self.id].seq
    }

    /// True once the coroutine's function has returned (or panicked).
    pub fn is_finished(&self) -> bool {
        // SAFETY: no switch while the reference lives.
        unsafe { s() }.tasks[self.id].finished
    }
}

impl<T> Drop for Coroutine<T> {
    fn drop(&mut self) {
        let id = self.id;
        {
            // SAFETY: no switch inside this block.
            let s = unsafe { s() };
            if id == s.current || thread::panicking() {
                // Cannot wait for ourselves, and must not switch stacks
                // while unwinding: cancel and let the task free itself.
                s.cancel(id);
                let t = &mut s.tasks[id];
                t.detached = true;
                let v = take_inline::<T>(t);
                if t.returned {
                    s.tasks.remove(id);
                    drop(v);
                } else if !t.zombie.is_null() {
                    s.ready.push_back(id | sched::DROP_TAG);
                }
                return;
            }
        }
        drop_contained(reclaim::<T>(id, true));
        sched::release_if_orphaned();
    }
}

/// Lets the other ready coroutines run, then continues.
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
#[doc = include_str!("../../docs/yield_now.md")]
#[inline(always)]
pub fn yield_now() -> io::Result<()> {
    let cur = {
        // SAFETY: no switch inside this block.
        let s = unsafe { s() };
        if s.cancelled() {
            return Err(errno(libc::ECANCELED));
        }
        let cur = s.current;
        s.ready.push_back(cur);
        cur
    };
    sched::switch_out(cur);
    // As in libdill, cancellation while the coroutine waits for its turn
    // does not fail this call (it ends waits, and a yield is no wait); the
    // next blocking call fails.
    Ok(())
}

/// Sleeps until `deadline` (ms on the [`now`](crate::now) clock).
///
/// A deadline of `0` or one already in the past returns at once; `-1`
/// sleeps until the coroutine is cancelled.
///
/// # Errors
///
/// * `EINVAL`: `deadline` is negative other than `-1`.
/// * `ECANCELED`: the calling coroutine is being cancelled.
#[doc = include_str!("../../docs/msleep.md")]
pub fn msleep(deadline: i64) -> io::Result<()> {
    time::check(deadline)?;
    check_cancelled()?;
    if deadline != -1 && time::expired(deadline) {
        return Ok(());
    }
    match wait_on(Wait::Sleep, deadline, true) {
        r if r == -libc::ETIMEDOUT => Ok(()),
        r => wait_result(r).map(drop),
    }
}

/// Fails with `ECANCELED` if the calling coroutine is being cancelled.
///
/// Blocking calls check this themselves; use it in long computations that
/// never block, or before creating resources in a coroutine that may be
/// shutting down.
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
pub fn check_cancelled() -> io::Result<()> {
    // SAFETY: no switch while the reference lives.
    if unsafe { s() }.cancelled() {
        Err(errno(libc::ECANCELED))
    } else {
        Ok(())
    }
}

/// True if the calling coroutine is being cancelled.
pub fn is_cancelled() -> bool {
    // SAFETY: no switch while the reference lives.
    unsafe { s() }.cancelled()
}
