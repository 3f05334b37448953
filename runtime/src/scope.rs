//! Scoped coroutines: [`scope`] lets coroutines borrow from their parent.

use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};

use crate::bundle::{bundle, Bundle};
use crate::error::errno;

/// Coroutines that may borrow from the stack of the coroutine that made
/// the scope; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    bundle: Bundle,
    /// Invariant in `'scope`, as `std::thread::Scope`.
    _scope: PhantomData<&'scope mut &'scope ()>,
    /// Invariant in `'env`.
    _env: PhantomData<&'env mut &'env ()>,
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.bundle.len())
            .finish()
    }
}

/// Runs `f` with a [`Scope`] whose coroutines may borrow anything that
/// outlives the call, and returns once every one of them has returned.
///
/// What is created inside the scope's closure cannot be lent to its
/// coroutines (it would die first):
///
/// ```compile_fail
/// use dill::*;
/// scope(|s| {
///     let local = 5;
///     s.go(|| println!("{local}")).unwrap();
/// })
/// .unwrap();
/// ```
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
#[doc = include_str!("../../docs/scope.md")]
pub fn scope<'env, F, R>(f: F) -> io::Result<R>
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let s = Scope {
        bundle: bundle()?,
        _scope: PhantomData,
        _env: PhantomData,
    };
    // A panic of `f` is held until the coroutines are finished: the thread
    // must not be unwinding while we wait for them (no stack switch happens
    // then, and a bundle dropped during unwinding detaches its coroutines).
    let r = panic::catch_unwind(AssertUnwindSafe(|| f(&s)));
    // Wait for them to return by themselves; if we are cancelled
    // meanwhile, or `f` panicked, dropping the bundle cancels them and
    // still waits until each has returned.
    if r.is_ok() {
        let _ = s.bundle.wait(-1);
    }
    let finished = s.bundle.cancel_and_wait();
    // Not unwinding (the panic of `f` is caught) and not a member of our
    // own bundle: nothing can have been detached.
    assert!(finished, "dill: scoped coroutines detached");
    match r {
        Ok(v) => Ok(v),
        Err(p) => panic::resume_unwind(p),
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Launches `f` as a coroutine of the scope. It may borrow anything
    /// that lives for `'scope`, that is, anything created before [`scope`]
    /// was called; [`scope`] returns only after it has returned.
    ///
    /// A panic in `f` is contained, as in [`Bundle::go`].
    ///
    /// # Errors
    ///
    /// * `ECANCELED`: the calling coroutine is being cancelled, or the
    ///   thread is unwinding from a panic (the scope could not wait for a
    ///   coroutine then).
    /// * `ENOMEM`: no stack could be had.
    #[track_caller]
    pub fn go<F: FnOnce() + 'scope>(&'scope self, f: F) -> io::Result<()> {
        if std::thread::panicking() {
            return Err(errno(libc::ECANCELED));
        }
        let f: Box<dyn FnOnce() + 'scope> = Box::new(f);
        // SAFETY: only the lifetime changes. The coroutine is a member of
        // `self.bundle`, and `scope` returns (ending `'scope`) only after
        // the bundle is empty: it waits, or drops the bundle, which
        // cancels its members and waits for each to return; the thread is
        // not unwinding at that point (a panic of the scope's closure is
        // caught first, and `go` refuses to start coroutines while
        // unwinding), so the drop does not detach anything. The `Scope` is
        // owned by `scope` and only lent to the caller, so it cannot be
        // forgotten. Nothing borrowed for `'scope` is therefore used after
        // `'scope` ends.
        let f: Box<dyn FnOnce() + 'static> = unsafe {
            std::mem::transmute::<Box<dyn FnOnce() + 'scope>, Box<dyn FnOnce() + 'static>>(f)
        };
        self.bundle.go(f)
    }
}
