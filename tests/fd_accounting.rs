//! The library holds no descriptor of its own once every descriptor it waited
//! on is closed: the reactor's backend descriptor (epoll) goes with the last
//! registration. This binary has one test, so nothing else runs in the
//! process and `/proc/self/fd` can be counted exactly.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use dill::*;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn errno<T>(r: std::io::Result<T>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

#[test]
fn waiting_leaves_no_descriptor_behind() {
    let baseline = open_fds();

    // A raw pipe waited on through fdin, then cleaned and closed.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are fresh descriptors we own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    assert_eq!(errno(fdin(r.as_raw_fd(), now() + 1)), Some(libc::ETIMEDOUT));
    fdclean(r.as_raw_fd());
    drop((r, w));
    assert_eq!(open_fds(), baseline, "fdin/fdclean left a descriptor open");

    // An IPC listener whose accept timed out (so it was registered), and a
    // pair whose receive timed out, all dropped.
    let path = std::env::temp_dir().join(format!("dill-fd-accounting-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let l = ipc_listen(&path, 4).unwrap();
    assert_eq!(errno(ipc_accept(&l, now() + 1)), Some(libc::ETIMEDOUT));
    let (mut a, b) = ipc_pair().unwrap();
    assert_eq!(
        errno(brecv(&mut a, &mut [0u8; 1], now() + 1)),
        Some(libc::ETIMEDOUT)
    );
    drop((a, b, l));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(open_fds(), baseline, "IPC waits left a descriptor open");

    // Waiting again after all that works (the backend is created anew).
    let (mut a, mut b) = ipc_pair().unwrap();
    let reader = go(move || {
        let mut buf = [0u8; 2];
        brecv(&mut b, &mut buf, -1).map(|()| buf)
    })
    .unwrap();
    bsend(&mut a, b"ok", -1).unwrap();
    assert_eq!(&reader.join(-1).unwrap().unwrap(), b"ok");
    drop(a);
    assert_eq!(open_fds(), baseline);
}
