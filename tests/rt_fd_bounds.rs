//! Descriptors that are not open, however large or negative their number:
//! every wait fails with `EBADF`, and the reactor's fd table does not grow
//! for them (it used to grow to the fd number first, so `fdin_edge(1 << 30,
//! ..)` aborted trying to allocate 24 GiB).
//!
//! Runs without the test harness (one thread, nothing else allocating)
//! under a counting global allocator, so "does not grow" is checked as "no
//! allocation at all".

mod alloc_counter;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use alloc_counter::{allocs, Counting};
use dill::{after, errno, fdclean, fdin, fdin_edge, fdout, fdout_edge, now};

#[global_allocator]
static GLOBAL: Counting = Counting;

type Wait = fn(RawFd, i64) -> io::Result<()>;

const WAITS: [(&str, Wait); 4] = [
    ("fdin", fdin),
    ("fdout", fdout),
    ("fdin_edge", fdin_edge),
    ("fdout_edge", fdout_edge),
];

/// Numbers no descriptor of this process has.
const BAD: [RawFd; 7] = [1 << 30, 1 << 20, i32::MAX, -1, -2, -(1 << 30), i32::MIN];

fn check_all_ebadf(stage: &str) {
    for (name, wait) in WAITS {
        for fd in BAD {
            // Deadline 0, and one long past: the fd is checked first.
            for deadline in [-1, 0, 1, after(10)] {
                let before = allocs();
                let r = wait(fd, deadline);
                let allocated = allocs() - before;
                assert!(
                    errno::is_errno(r.as_ref().unwrap_err(), errno::EBADF),
                    "{stage}: {name}({fd}, {deadline}) gave {r:?}, expected EBADF"
                );
                assert_eq!(
                    allocated, 0,
                    "{stage}: {name}({fd}, {deadline}) allocated (the fd table grew)"
                );
            }
        }
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    assert_eq!(r, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn main() {
    // The reproduction from the report: used to abort the process.
    let r = fdin_edge(1 << 30, now() + 10);
    assert!(errno::is_errno(&r.unwrap_err(), errno::EBADF));

    // Before any descriptor is registered (the backend is created for the
    // attempt and dropped again; that costs an allocation, so only the
    // errno is checked here).
    for (name, wait) in WAITS {
        for fd in BAD {
            let r = wait(fd, 0);
            assert!(
                errno::is_errno(r.as_ref().unwrap_err(), errno::EBADF),
                "{name}({fd}) gave {r:?}, expected EBADF"
            );
        }
    }

    // With a live registration (the backend exists), a bad fd costs nothing.
    let (r, w) = pipe();
    let rfd = r.as_raw_fd();
    let e = fdin(rfd, after(1)).unwrap_err();
    assert!(errno::is_errno(&e, errno::ETIMEDOUT), "{e:?}");
    check_all_ebadf("with a registered pipe");

    // The registered fd still works afterwards.
    // SAFETY: writes one byte from a valid buffer to an open pipe.
    assert_eq!(
        unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) },
        1
    );
    fdin(rfd, after(5000)).unwrap();
    fdclean(rfd);
    drop((r, w));

    // A descriptor that was open and is closed now: EBADF too. No fd is
    // registered any more, so an edge wait creates the reactor's backend
    // descriptor, which takes the lowest free number: this one.
    let (r, w) = pipe();
    let stale = r.as_raw_fd();
    drop(r);
    for (name, wait) in WAITS {
        let res = wait(stale, after(10));
        assert!(
            errno::is_errno(res.as_ref().unwrap_err(), errno::EBADF),
            "{name}(closed {stale}) gave {res:?}"
        );
    }
    drop(w);
    println!("rt_fd_bounds: ok");
}
