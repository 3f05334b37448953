//! Helpers shared by the runtime integration tests.
#![allow(dead_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The errno carried by an `io::Result`, panicking if it is `Ok`.
#[track_caller]
pub fn errno<T>(r: io::Result<T>) -> i32 {
    match r {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("error without an errno: {e:?}")),
    }
}

/// Asserts that `r` failed with errno `code`.
#[track_caller]
pub fn assert_errno<T>(r: io::Result<T>, code: i32) {
    let got = errno(r);
    assert_eq!(
        got,
        code,
        "expected {}, got {}",
        io::Error::from_raw_os_error(code),
        io::Error::from_raw_os_error(got)
    );
}

/// A deadline `ms` milliseconds from now.
pub fn after(ms: i64) -> i64 {
    dill::now() + ms
}

/// Upper bound used for timing assertions: the machines are small and busy,
/// so anything below this counts as "on time".
pub const SLACK_MS: i64 = 500;

/// Asserts that the clock reads at least `deadline` (never early) and not
/// absurdly later.
#[track_caller]
pub fn assert_woke_at(deadline: i64) {
    let t = dill::now();
    assert!(t >= deadline, "woke {} ms early", deadline - t);
    assert!(t < deadline + SLACK_MS, "woke {} ms late", t - deadline);
}

/// A non-blocking, close-on-exec pipe: `(read end, write end)`.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A non-blocking, close-on-exec AF_UNIX stream socket pair.
pub fn socketpair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "socketpair: {}", io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Writes `buf` to `fd` with one `write`, returning how much went in.
pub fn write(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads into `buf` from `fd` with one `read`.
pub fn read(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Fills a non-blocking fd's send buffer until `write` says `EAGAIN`.
pub fn fill(fd: &impl AsRawFd) {
    let chunk = [0u8; 65536];
    loop {
        match write(fd, &chunk) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return,
            Err(e) => panic!("fill: {e}"),
        }
    }
}

/// Reads everything currently available from a non-blocking fd.
pub fn drain(fd: &impl AsRawFd) -> usize {
    let mut buf = [0u8; 65536];
    let mut total = 0;
    loop {
        match read(fd, &mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return total,
            Err(e) => panic!("drain: {e}"),
        }
    }
}

/// A descriptor number that is not open in this process. A high number is
/// used so that no other test running in parallel can be handed it.
pub fn closed_fd() -> RawFd {
    let fd = 4000;
    // SAFETY: F_GETFD only queries the descriptor.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert_eq!(r, -1, "fd {fd} is unexpectedly open");
    fd
}
