//! Bundles: a set of coroutines cancelled together.

use std::io;
use std::marker::PhantomData;

use crate::coroutine::finish;
use crate::error::{errno, wait_result};
use crate::inspect::{self, Name, Wait};
use crate::sched::{self, s, wait_on, BundleState, Yld};
use crate::stack::default_stack_size;
use crate::time;

/// A set of coroutines with one owner (libdill's bundle).
///
/// Coroutines launched with [`Bundle::go`] have no handles of their own; the
/// bundle owns them. Dropping the bundle cancels all that are still running
/// and waits until every one has returned.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(dill::bundle().unwrap());
/// ```
pub struct Bundle {
    id: usize,
    _marker: PhantomData<*mut ()>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("id", &self.id)
            .field("running", &self.len())
            .finish()
    }
}

/// Creates an empty bundle.
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
#[doc = include_str!("../../docs/bundle.md")]
pub fn bundle() -> io::Result<Bundle> {
    // SAFETY: no switch while the reference lives.
    let s = unsafe { s() };
    if s.cancelled() {
        return Err(errno(libc::ECANCELED));
    }
    let id = s.bundles.insert(BundleState::default());
    Ok(Bundle {
        id,
        _marker: PhantomData,
    })
}

impl Bundle {
    /// Launches `f` as a coroutine owned by this bundle.
    ///
    /// A panic in `f` is contained (its stack is unwound and the message
    /// printed by the panic hook); the other coroutines carry on.
    ///
    /// # Errors
    ///
    /// * `ECANCELED`: the calling coroutine is being cancelled.
    /// * `ENOMEM`: no stack could be had.
    #[doc = include_str!("../../docs/bundle_go.md")]
    #[track_caller]
    pub fn go<F: FnOnce() + 'static>(&self, f: F) -> io::Result<()> {
        self.go_with_stack_size(default_stack_size(), f)
    }

    /// Like [`Bundle::go`] with a stack of `stack_size` bytes.
    ///
    /// # Errors
    ///
    /// As [`Bundle::go`].
    #[track_caller]
    pub fn go_with_stack_size<F: FnOnce() + 'static>(
        &self,
        stack_size: usize,
        f: F,
    ) -> io::Result<()> {
        self.go_at(stack_size, std::panic::Location::caller(), None, f)
    }

    /// [`Bundle::go_with_stack_size`] with the caller's location and a name.
    pub(crate) fn go_at<F: FnOnce() + 'static>(
        &self,
        stack_size: usize,
        at: &'static std::panic::Location<'static>,
        name: Option<Name>,
        f: F,
    ) -> io::Result<()> {
        sched::spawn(stack_size, self.id, at, name, move |id, y: &Yld| {
            // SAFETY: no switch while the reference lives.
            unsafe { s() }.tasks[id].yielder = y;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                inspect::coroutine_start(f)
            }));
            finish::<()>(id, y, r);
        })
        .map(drop)
    }

    /// Waits until every coroutine of the bundle has returned (at once if
    /// none is running). On timeout the coroutines keep running.
    ///
    /// # Errors
    ///
    /// * `EINVAL`: `deadline` is negative other than `-1`.
    /// * `ETIMEDOUT`: the deadline passed first.
    /// * `ECANCELED`: the calling coroutine is being cancelled.
    #[doc = include_str!("../../docs/bundle_wait.md")]
    pub fn wait(&self, deadline: i64) -> io::Result<()> {
        time::check(deadline)?;
        let cur = {
            // SAFETY: no switch inside this block.
            let s = unsafe { s() };
            if s.bundles[self.id].members.is_empty() {
                return Ok(());
            }
            if s.cancelled() {
                return Err(errno(libc::ECANCELED));
            }
            if time::expired(deadline) {
                return Err(errno(libc::ETIMEDOUT));
            }
            let cur = s.current;
            s.bundles[self.id].waiters.push(cur);
            cur
        };
        let r = wait_on(Wait::Bundle, deadline, true);
        self.withdraw(cur);
        wait_result(r).map(drop)
    }

    /// Number of the bundle's coroutines still running.
    pub fn len(&self) -> usize {
        // SAFETY: no switch while the reference lives.
        unsafe { s() }.bundles[self.id].members.len()
    }

    /// True if none of the bundle's coroutines is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn withdraw(&self, task: usize) {
        // SAFETY: no switch while the reference lives.
        let w = &mut unsafe { s() }.bundles[self.id].waiters;
        if let Some(i) = w.iter().position(|&t| t == task) {
            w.swap_remove(i);
        }
    }
}

impl Bundle {
    /// Cancels every member and waits until each has returned. If that is
    /// impossible (we are a member, or the thread is unwinding and must not
    /// switch stacks) the members are detached and free themselves; then
    /// `false` is returned.
    pub(crate) fn cancel_and_wait(&self) -> bool {
        let cur = {
            // SAFETY: no switch inside this block.
            let s = unsafe { s() };
            let cur = s.current;
            for i in 0..s.bundles[self.id].members.len() {
                let m = s.bundles[self.id].members[i];
                s.cancel(m);
            }
            if s.bundles[self.id].members.is_empty() {
                return true;
            }
            let own_member = s.tasks[cur].bundle == self.id;
            if own_member || std::thread::panicking() {
                // Cannot wait for ourselves, and must not switch stacks while
                // unwinding: the members are detached and free themselves.
                for m in std::mem::take(&mut s.bundles[self.id].members) {
                    s.tasks[m].bundle = sched::NONE;
                }
                return false;
            }
            cur
        };
        // SAFETY: no switch while the reference lives.
        while !unsafe { s() }.bundles[self.id].members.is_empty() {
            // SAFETY: as above.
            unsafe { s() }.bundles[self.id].waiters.push(cur);
            wait_on(Wait::Bundle, -1, false);
            self.withdraw(cur);
        }
        true
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        self.cancel_and_wait();
        // SAFETY: no switch while the reference lives.
        unsafe { s() }.bundles.remove(self.id);
        sched::release_if_orphaned();
    }
}
