//! `blocking`: thread-blocking work on a pool of helper threads, awaited by
//! one coroutine only.
//!
//! The pool is process-wide and bounded ([`MAX_THREADS`]). A helper thread
//! is started when a job arrives and no helper is idle; a helper idle for
//! [`IDLE_EXIT`] exits. The job's result travels back over a one-slot
//! shared channel, so the waiting coroutine is woken through its own
//! scheduler like any other shared-channel receiver, and a caller that gave
//! up (deadline, cancellation) simply drops its end: the helper's send then
//! fails and the result is dropped on the helper thread.

use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crate::error::errno;
use crate::sched::s;
use crate::shared::chmake_shared;
use crate::time;

/// Most helper threads alive at once; more jobs wait in a queue.
pub(crate) const MAX_THREADS: usize = 64;
/// A helper with nothing to do for this long exits.
pub(crate) const IDLE_EXIT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    jobs: VecDeque::new(),
    threads: 0,
    idle: 0,
});
static WORK: Condvar = Condvar::new();

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    // Jobs run outside the lock and catch their panics, so the lock is
    // never poisoned by them; recover anyway.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

fn helper() {
    let mut p = lock();
    loop {
        if let Some(job) = p.jobs.pop_front() {
            drop(p);
            job();
            p = lock();
            continue;
        }
        p.idle += 1;
        let (q, t) = WORK
            .wait_timeout(p, IDLE_EXIT)
            .unwrap_or_else(|e| e.into_inner());
        p = q;
        p.idle -= 1;
        if t.timed_out() && p.jobs.is_empty() {
            p.threads -= 1;
            return;
        }
    }
}

fn submit(job: Job) -> io::Result<()> {
    let mut p = lock();
    p.jobs.push_back(job);
    if p.idle >= p.jobs.len() || p.threads >= MAX_THREADS {
        WORK.notify_one();
        return Ok(());
    }
    p.threads += 1;
    drop(p);
    match thread::Builder::new()
        .name("dill-blocking".into())
        .spawn(helper)
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let mut p = lock();
            p.threads -= 1;
            if p.threads == 0 {
                // Nobody will ever run it: take it back (the newest job
                // is ours unless others raced in; any left will be run by
                // the next helper started).
                p.jobs.pop_back();
                return Err(e);
            }
            WORK.notify_one();
            Ok(())
        }
    }
}

/// Runs `f` on a helper thread while only the calling coroutine waits for
/// its result; the thread's other coroutines keep running.
///
/// If `f` panics, the panic is re-raised in the caller, as
/// [`Coroutine::join`](crate::Coroutine::join) does. If the deadline
/// passes or the coroutine is cancelled first, the call returns at once;
/// `f` runs on to its end on the helper thread and its result is dropped
/// there. When the deadline has already passed or the coroutine is already
/// cancelled on entry, `f` is not run at all.
///
/// # Errors
///
/// * `EINVAL`: `deadline` is negative other than `-1`.
/// * `ETIMEDOUT`: `f` did not finish before the deadline.
/// * `ECANCELED`: the calling coroutine is being cancelled.
/// * `EAGAIN`: no helper thread could be started and none exists.
#[doc = include_str!("../../docs/blocking.md")]
pub fn blocking<F, T>(f: F, deadline: i64) -> io::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    time::check(deadline)?;
    // SAFETY: no switch while the reference lives.
    if unsafe { s() }.cancelled() {
        return Err(errno(libc::ECANCELED));
    }
    if time::expired(deadline) {
        return Err(errno(libc::ETIMEDOUT));
    }
    let (tx, rx) = chmake_shared::<thread::Result<T>>(1)?;
    submit(Box::new(move || {
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        // Room for one value: never blocks. EPIPE when the caller gave up;
        // the result is then dropped here.
        let _ = tx.send(r, 0);
    }))
    .map_err(|e| {
        if e.raw_os_error().is_some() {
            e
        } else {
            errno(libc::EAGAIN)
        }
    })?;
    match rx.recv(deadline)? {
        Ok(v) => Ok(v),
        Err(p) => panic::resume_unwind(p),
    }
}
