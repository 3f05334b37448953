//! Connecting to a listener: `ipc_connect` and `ipc_connect_mem`.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use dill_runtime::sock::{HeapSlot, StreamMem};
use dill_runtime::{check_cancelled, msleep, now};

use crate::addr::SockAddr;
use crate::stream::{IpcMem, IpcStream};
use crate::sys::{self, check_deadline, err, syscall};

/// First back-off delay after the listener's backlog was found full (ms).
const BACKOFF_MIN_MS: i64 = 1;
/// Longest back-off delay (ms).
const BACKOFF_MAX_MS: i64 = 16;

/// Connects to the IPC listener at `addr`, building the stream in `mem`.
///
/// # Errors
///
/// `EACCES`, `ECANCELED`, `ECONNREFUSED`, `ECONNRESET`, `EINVAL`, `ELOOP`, `ENAMETOOLONG`, `ENOENT`, `ENOTDIR`, `EMFILE`, `ENFILE`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_connect_mem.md")]
pub fn ipc_connect_mem<'m>(
    addr: impl AsRef<Path>,
    mem: &'m mut IpcMem,
    deadline: i64,
) -> io::Result<IpcStream<'m>> {
    let fd = connect(addr.as_ref(), deadline)?;
    Ok(IpcStream::in_mem(mem, fd))
}

/// Connects to the IPC listener at `addr`.
///
/// # Errors
///
/// `EACCES`, `ECANCELED`, `ECONNREFUSED`, `ECONNRESET`, `EINVAL`, `ELOOP`, `ENAMETOOLONG`, `ENOENT`, `ENOTDIR`, `EMFILE`, `ENFILE`, `ENOMEM`, `ETIMEDOUT`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_connect.md")]
pub fn ipc_connect(addr: impl AsRef<Path>, deadline: i64) -> io::Result<IpcStream<'static>> {
    check_deadline(deadline)?;
    check_cancelled()?;
    let slot = HeapSlot::new(StreamMem::new())?;
    let fd = connect(addr.as_ref(), deadline)?;
    Ok(IpcStream::in_slot(slot, fd))
}

/// Creates a socket and connects it to `addr`, waiting out a full backlog.
fn connect(addr: &Path, deadline: i64) -> io::Result<OwnedFd> {
    check_deadline(deadline)?;
    check_cancelled()?;
    let sa = SockAddr::new(addr)?;
    let fd = sys::stream_socket()?;
    let mut backoff = Backoff::new();
    loop {
        let res = syscall!(
            // SAFETY: `sa` is a valid sockaddr_un of length `sa.len`.
            unsafe { libc::connect(fd.as_raw_fd(), sa.as_ptr(), sa.len) }
        );
        let e = match res {
            Ok(_) => return Ok(fd),
            Err(e) => e,
        };
        match e.raw_os_error() {
            // The listener's backlog is full. No readiness event will say
            // when it has room again, so poll with a growing delay.
            Some(libc::EAGAIN) => backoff.wait(deadline)?,
            Some(libc::EINTR) => {}
            // Kernels that finish AF_UNIX connects asynchronously.
            Some(libc::EINPROGRESS) => return finish_async(fd, deadline),
            // The socket file belongs to a socket of another type: nobody
            // accepts stream connections there.
            Some(libc::EPROTOTYPE) => return Err(err(libc::ECONNREFUSED)),
            _ => return Err(e),
        }
    }
}

/// Waits for an in-progress connect to complete (not seen on Linux).
#[cold]
fn finish_async(fd: OwnedFd, deadline: i64) -> io::Result<OwnedFd> {
    let res = dill_runtime::fdout(fd.as_raw_fd(), deadline).and_then(|()| {
        let mut code: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        syscall!(
            // SAFETY: `code` and `len` are valid for writes and `len` holds
            // the size of `code`.
            unsafe {
                libc::getsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut code as *mut libc::c_int).cast(),
                    &mut len,
                )
            }
        )?;
        match code {
            0 => Ok(()),
            libc::EPROTOTYPE => Err(err(libc::ECONNREFUSED)),
            code => Err(err(code)),
        }
    });
    match res {
        Ok(()) => Ok(fd),
        Err(e) => {
            // The descriptor was waited on: take it out of the reactor
            // before it is closed.
            dill_runtime::fdclean(fd.as_raw_fd());
            Err(e)
        }
    }
}

/// Retry policy for a connect that met a full backlog: jittered exponential
/// back-off from `BACKOFF_MIN_MS` to `BACKOFF_MAX_MS`, never sleeping past
/// the deadline.
#[derive(Debug)]
struct Backoff {
    delay: i64,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            delay: BACKOFF_MIN_MS,
        }
    }

    /// Sleeps before the next attempt. `ETIMEDOUT` once the deadline has
    /// passed, `ECANCELED` if the coroutine is cancelled meanwhile.
    fn wait(&mut self, deadline: i64) -> io::Result<()> {
        let t = now();
        if deadline >= 0 && t >= deadline {
            return Err(err(libc::ETIMEDOUT));
        }
        // Spread waiters over [delay/2, delay] so that many connectors
        // blocked on the same listener do not retry in lock-step.
        let lo = (self.delay / 2).max(1);
        let mut wake = t + lo + jitter(self.delay - lo + 1);
        if deadline >= 0 && wake > deadline {
            wake = deadline;
        }
        msleep(wake)?;
        self.delay = (self.delay * 2).min(BACKOFF_MAX_MS);
        Ok(())
    }
}

/// A cheap pseudo-random number in `0..n` (xorshift, per thread).
fn jitter(n: i64) -> i64 {
    thread_local! {
        static STATE: Cell<u32> = const { Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            // Seed from the clock and a stack address; never zero.
            x = ((now() as u32) ^ ((&x as *const u32 as usize) as u32)) | 1;
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.set(x);
        i64::from(x) % n.max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_in_range() {
        for n in 1..20 {
            for _ in 0..100 {
                let j = jitter(n);
                assert!((0..n).contains(&j));
            }
        }
    }
}
