//! Structured threads: `spawn_thread` and `spawn_threads` start OS threads,
//! each with its own scheduler, and their handles cancel and join them.
//!
//! A thread runs its function `f` in a coroutine (so that `f` can be
//! cancelled like any coroutine) while the thread's own stack waits for one
//! of two things: `f` returning, or a stop request from the handle. A stop
//! request sets a flag and makes a descriptor readable (an eventfd on
//! Linux, a pipe elsewhere) that the thread's stack waits on through its
//! reactor, so it arrives while the thread sleeps in `epoll_wait` and costs
//! nothing while it does not. The thread's stack then drops `f`'s coroutine:
//! `f` is cancelled (its blocking calls fail with `ECANCELED`) and the drop
//! returns once `f` has returned, its bundles and coroutine handles dropped
//! with it, so every coroutine it owned is cancelled and joined before the
//! thread exits. Last, the thread marks itself done on a second descriptor,
//! which `join` waits on in the joiner's scheduler: joining suspends only the
//! joining coroutine.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use crate::coroutine::{check_cancelled, go};
use crate::error::errno;
use crate::fd::{fdclean, fdin, fdin_edge, fdwake_in};
use crate::time;

/// A one-shot flag another thread's reactor can wait for: set once, then
/// readable forever.
struct Signal {
    set: AtomicBool,
    /// The descriptor waited on: an eventfd, or a pipe's reading end.
    rfd: OwnedFd,
    /// A pipe's writing end (none with an eventfd).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    wfd: OwnedFd,
}

impl Signal {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn new() -> io::Result<Signal> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Signal {
            set: AtomicBool::new(false),
            // SAFETY: a fresh descriptor nobody else owns.
            rfd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn new() -> io::Result<Signal> {
        let mut fds = [-1 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptors nobody else owns.
        let (rfd, wfd) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&rfd, &wfd] {
            // SAFETY: fcntl on our own descriptors, integer arguments.
            unsafe {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
            }
        }
        Ok(Signal {
            set: AtomicBool::new(false),
            rfd,
            wfd,
        })
    }

    fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    fn set(&self) {
        if self.set.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let (fd, buf) = (self.rfd.as_raw_fd(), 1u64.to_ne_bytes());
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let (fd, buf) = (self.wfd.as_raw_fd(), [1u8]);
        // SAFETY: `buf` is valid for `buf.len()` bytes. The write cannot
        // block or fail (the counter or pipe is empty: the flag is set once).
        unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    }

    fn fd(&self) -> RawFd {
        self.rfd.as_raw_fd()
    }
}

/// What a thread and its handle share.
struct Shared {
    /// Set by the handle: cancel `f`.
    stop: Signal,
    /// Set by the thread once `f` has returned and been joined.
    done: Signal,
}

/// The handle of a thread started by [`spawn_thread`].
///
/// Dropping it cancels the thread's function and waits until it has
/// returned (and with it every coroutine it owned), as dropping a
/// [`Coroutine`](crate::Coroutine) does. Like every dill handle it stays on
/// the thread that made it:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<dill::Thread<u8>>();
/// ```
#[must_use = "dropping a Thread cancels it at once; join it (or keep it alive while it works)"]
pub struct Thread<T> {
    shared: Arc<Shared>,
    handle: Option<thread::JoinHandle<io::Result<T>>>,
    /// The done descriptor may be registered with this thread's reactor.
    _not_send: std::marker::PhantomData<*mut ()>,
}

impl<T> fmt::Debug for Thread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.handle.as_ref().map(|h| h.thread().id()))
            .field("cancelled", &self.shared.stop.is_set())
            .field("finished", &self.shared.done.is_set())
            .finish()
    }
}

/// Starts an OS thread with its own scheduler and runs `f` there in a
/// coroutine; the handle cancels and joins it.
///
/// # Errors
///
/// * `ECANCELED`: the calling coroutine is being cancelled.
/// * `EAGAIN`: the system cannot create another thread.
/// * `EMFILE`, `ENFILE`: no descriptor left for the thread's signals.
#[doc = include_str!("../../docs/spawn_thread.md")]
pub fn spawn_thread<F, T>(f: F) -> io::Result<Thread<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    check_cancelled()?;
    let shared = Arc::new(Shared {
        stop: Signal::new()?,
        done: Signal::new()?,
    });
    let theirs = Arc::clone(&shared);
    let handle = thread::Builder::new()
        .name("dill".into())
        .spawn(move || run(theirs, f))?;
    Ok(Thread {
        shared,
        handle: Some(handle),
        _not_send: std::marker::PhantomData,
    })
}

/// The body of a thread: `f` in a coroutine, cancelled on request.
fn run<F, T>(shared: Arc<Shared>, f: F) -> io::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // Set `done` however this function is left (a panic included).
    struct Done<'a>(&'a Shared);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.done.set();
        }
    }
    let _done = Done(&shared);

    let stop_fd = shared.stop.fd();
    let slot: Rc<RefCell<Option<thread::Result<T>>>> = Rc::new(RefCell::new(None));
    let co = {
        let slot = Rc::clone(&slot);
        go(move || {
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            *slot.borrow_mut() = Some(r);
            // Tell the thread's stack, waiting below, without a system call.
            fdwake_in(stop_fd);
        })?
    };
    let mut failed = None;
    while !co.is_finished() && !shared.stop.is_set() {
        // No switch between the checks above and the registration inside
        // `fdin_edge`: a stop request made after the checks is an event the
        // next `epoll_wait` reports, with this stack waiting for it.
        if let Err(e) = fdin_edge(stop_fd, -1) {
            // Out of memory or descriptors for the registration: stop.
            failed = Some(e);
            break;
        }
    }
    // Cancels `f` if it is still running and waits until it has returned.
    drop(co);
    fdclean(stop_fd);
    let out = slot.borrow_mut().take();
    match out {
        Some(Ok(v)) => Ok(v),
        Some(Err(p)) => panic::resume_unwind(p),
        None => Err(failed.unwrap_or_else(|| errno(libc::ECANCELED))),
    }
}

impl<T> Thread<T> {
    /// Asks the thread to stop: its function's coroutine is cancelled (from
    /// now on its blocking calls fail with `ECANCELED`). Returns at once;
    /// [`join`](Thread::join) waits for the function to return and gives
    /// what it returned.
    pub fn cancel(&self) {
        self.shared.stop.set();
    }

    /// True once the thread's function has returned (or panicked) and every
    /// coroutine it owned has been joined.
    pub fn is_finished(&self) -> bool {
        self.shared.done.is_set()
    }

    /// Waits until the thread's function has returned and gives its value.
    ///
    /// Only the calling coroutine waits. A thread cancelled with
    /// [`cancel`](Thread::cancel) gives what its function returned after
    /// seeing `ECANCELED`. On `ETIMEDOUT` or `ECANCELED` the thread is
    /// cancelled and waited for (this waits blocking the calling OS thread,
    /// as it has nothing else left to wait with) before the error is
    /// returned; its value is dropped.
    ///
    /// # Errors
    ///
    /// * `EINVAL`: `deadline` is negative other than `-1` (the thread is
    ///   cancelled and joined).
    /// * `ETIMEDOUT`: the deadline passed first.
    /// * `ECANCELED`: the calling coroutine is being cancelled, or the thread
    ///   could not start its function's coroutine.
    /// * `ENOMEM`: the thread could not get a stack for its function.
    ///
    /// # Panics
    ///
    /// Re-raises the panic of the thread's function, if it panicked.
    pub fn join(mut self, deadline: i64) -> io::Result<T> {
        let waited = time::check(deadline).and_then(|()| self.wait(deadline));
        if let Err(e) = waited {
            self.cancel();
            self.finish();
            return Err(e);
        }
        let h = self.handle.take().expect("joined once");
        self.release();
        match h.join() {
            Ok(r) => r,
            Err(p) => panic::resume_unwind(p),
        }
    }

    /// Waits in this thread's scheduler until the thread is done.
    fn wait(&self, deadline: i64) -> io::Result<()> {
        if self.shared.done.is_set() {
            return Ok(());
        }
        // Level-triggered: the done descriptor stays readable once set.
        fdin(self.shared.done.fd(), deadline)
    }

    /// Forgets the done descriptor in this thread's reactor before the
    /// descriptor can be closed (when the last `Arc` goes).
    fn release(&self) {
        fdclean(self.shared.done.fd());
    }

    /// Cancelled or not, waits until the thread has exited; drops its result.
    fn finish(&mut self) {
        let Some(h) = self.handle.take() else {
            return;
        };
        if !thread::panicking() && self.wait(-1).is_err() {
            // This coroutine is cancelled: nothing left to wait with but
            // the OS thread. The thread is cancelled, so it will not be long.
        }
        self.release();
        let _ = h.join();
    }
}

impl<T> Drop for Thread<T> {
    fn drop(&mut self) {
        self.cancel();
        self.finish();
    }
}

/// The handle of a group of threads started by [`spawn_threads`].
///
/// Dropping it cancels every thread, then waits for all of them.
#[must_use = "dropping Threads cancels them at once; join them (or keep them alive while they work)"]
pub struct Threads<T> {
    threads: Vec<Thread<T>>,
}

impl<T> fmt::Debug for Threads<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Threads")
            .field("threads", &self.threads)
            .finish()
    }
}

/// Starts `n` OS threads, each with its own scheduler, and runs `f(i)` on
/// thread `i` (0 to `n - 1`) in a coroutine: one scheduler per core.
///
/// # Errors
///
/// * `EINVAL`: `n` is 0.
/// * `ECANCELED`, `EAGAIN`, `EMFILE`, `ENFILE`: as [`spawn_thread`]; the
///   threads already started are cancelled and joined first.
#[doc = include_str!("../../docs/spawn_threads.md")]
pub fn spawn_threads<F, T>(n: usize, f: F) -> io::Result<Threads<T>>
where
    F: Fn(usize) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    if n == 0 {
        return Err(errno(libc::EINVAL));
    }
    let f = Arc::new(f);
    let mut threads = Threads {
        threads: Vec::with_capacity(n),
    };
    for i in 0..n {
        let f = Arc::clone(&f);
        // On error `threads` is dropped: the ones started are cancelled.
        threads.threads.push(spawn_thread(move || f(i))?);
    }
    Ok(threads)
}

impl<T> Threads<T> {
    /// How many threads the group has.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Never true: a group has at least one thread.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Cancels every thread of the group (see [`Thread::cancel`]); returns
    /// at once.
    pub fn cancel(&self) {
        for t in &self.threads {
            t.cancel();
        }
    }

    /// True once every thread's function has returned.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(Thread::is_finished)
    }

    /// Waits until every thread's function has returned and gives their
    /// values, in thread order. On an error the remaining threads are
    /// cancelled and joined before it is returned.
    ///
    /// # Errors
    ///
    /// As [`Thread::join`].
    ///
    /// # Panics
    ///
    /// Re-raises the panic of the first thread (in order) whose function
    /// panicked, after the others have been cancelled and joined.
    pub fn join(mut self, deadline: i64) -> io::Result<Vec<T>> {
        let mut out = Vec::with_capacity(self.threads.len());
        let threads = std::mem::take(&mut self.threads);
        let mut rest = Threads { threads };
        while !rest.threads.is_empty() {
            let t = rest.threads.remove(0);
            // `rest` is dropped on an error or a panic: cancelled and joined.
            out.push(t.join(deadline)?);
        }
        Ok(out)
    }
}

impl<T> Drop for Threads<T> {
    fn drop(&mut self) {
        // Every thread stops at the same time, then each is waited for.
        self.cancel();
        for t in self.threads.drain(..) {
            drop(t);
        }
    }
}
