//! Helpers shared by the `ipc_*` integration tests.
#![allow(dead_code)]

use std::fmt::Debug;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A unique socket path under the temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempPath(PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> TempPath {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("dill-{tag}-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Deref for TempPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

/// The errno of a failed result; panics (showing the value) on success.
#[track_caller]
pub fn errno<T: Debug>(r: io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("error without errno: {e}")),
    }
}

/// Asserts that `r` failed with `code`.
#[track_caller]
pub fn assert_errno<T: Debug>(r: io::Result<T>, code: i32, what: &str) {
    let got = errno(r);
    assert_eq!(
        got,
        code,
        "{what}: expected {}, got {}",
        io::Error::from_raw_os_error(code),
        io::Error::from_raw_os_error(got)
    );
}

/// Number of descriptors open in this process.
pub fn fd_count() -> usize {
    // The directory handle itself is one of the entries.
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

/// Is `fd` close-on-exec?
pub fn is_cloexec(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFD takes no pointer.
    let f = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(f >= 0);
    f & libc::FD_CLOEXEC != 0
}

/// Is `fd` non-blocking?
pub fn is_nonblocking(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFL takes no pointer.
    let f = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(f >= 0);
    f & libc::O_NONBLOCK != 0
}

/// Name of the environment variable that tells a re-executed test binary
/// which child scenario to run.
pub const CHILD_ENV: &str = "DILL_IPC_TEST_CHILD";

/// Runs the test named `entry` of the current test binary in a fresh child
/// process with `CHILD_ENV=scenario`, and returns the child's exit code.
/// The entry test calls [`child_scenario`] and exits with its result.
pub fn run_child(entry: &str, scenario: &str) -> i32 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([entry, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scenario)
        .output()
        .expect("spawn child test process");
    if !out.status.success() {
        eprintln!(
            "child {scenario} stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.code().unwrap_or(-1)
}

/// The scenario this process should run as a child, if any.
pub fn child_scenario() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Exit status of a child whose scenario went as expected (distinct from 0,
/// so that a child that ran no scenario at all cannot pass).
pub const CHILD_OK: i32 = 42;

/// Exits the child process at once (no test harness epilogue): with
/// [`CHILD_OK`] if `code` is 0, else with `code`.
pub fn child_exit(code: i32) -> ! {
    std::process::exit(if code == 0 { CHILD_OK } else { code })
}

/// Sends one zero byte carrying `fds` (SCM_RIGHTS) with a raw `sendmsg`,
/// to feed a receiver messages the library itself would never send.
#[allow(dead_code)]
pub fn send_byte_with_fds(sock: std::os::fd::RawFd, fds: &[std::os::fd::RawFd]) {
    let bytes = std::mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(bytes) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut byte = 0u8;
    let mut iov = libc::iovec {
        iov_base: (&mut byte as *mut u8).cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer is 8-aligned and CMSG_SPACE(bytes) long, so
    // the first header and its `fds.len()` descriptors fit.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(bytes) as _;
        let d = libc::CMSG_DATA(c).cast::<i32>();
        for (i, &fd) in fds.iter().enumerate() {
            d.add(i).write_unaligned(fd);
        }
        assert_eq!(libc::sendmsg(sock, &msg, 0), 1);
    }
}
