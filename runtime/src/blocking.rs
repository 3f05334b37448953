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
use crate::inspect::Wait;
use crate::sched::s;
use crate::shared::chmake_shared;
use crate::time;

/// Most helper threads alive at once; more jobs wait in a queue. (Small in
/// this crate's unit tests, which check the bound.)
pub(crate) const MAX_THREADS: usize = if cfg!(test) { 4 } else { 64 };
/// A helper with nothing to do for this long exits. (Short in this crate's
/// unit tests, which check that idle helpers go.)
pub(crate) const IDLE_EXIT: Duration = if cfg!(test) {
    Duration::from_millis(50)
} else {
    Duration::from_secs(5)
};

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
    match rx.recv_as(Wait::Blocking, deadline)? {
        Ok(v) => Ok(v),
        Err(p) => panic::resume_unwind(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn threads() -> usize {
        lock().threads
    }

    #[test]
    fn bounded_and_idle_helpers_exit() {
        // More concurrent jobs than helpers: at most MAX_THREADS run at
        // once, the rest wait their turn, and all complete.
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..3 * MAX_THREADS)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                crate::go(move || {
                    blocking(
                        move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(5));
                            running.fetch_sub(1, Ordering::SeqCst);
                            i
                        },
                        -1,
                    )
                    .unwrap()
                })
                .unwrap()
            })
            .collect();
        let sum: usize = hs.into_iter().map(|h| h.join(-1).unwrap()).sum();
        assert_eq!(sum, (0..3 * MAX_THREADS).sum());
        assert!(peak.load(Ordering::SeqCst) <= MAX_THREADS);
        assert!(threads() <= MAX_THREADS);
        // Idle helpers exit: wait for it (generous bound for slow runs).
        let start = std::time::Instant::now();
        while threads() > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "helpers never exited"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // And the pool starts again on demand.
        assert_eq!(blocking(|| 7, -1).unwrap(), 7);
    }
}
