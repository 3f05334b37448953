//! `peer_cred`, taking the descriptor back out, `ipc_sendfd` of a bad
//! descriptor and `ipc_fromfd` of an unconnected socket.

mod ipc_util;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use dill::*;
use ipc_util::*;

#[test]
fn peer_cred_of_a_child_process() {
    let path = TempPath::new("cred");
    let l = ipc_listen(&path, 4).unwrap();
    // Anyone may connect (the child may run as another user).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&*path, std::fs::Permissions::from_mode(0o777)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    // As root the child also drops to another user, so the uid we read
    // cannot just be our own.
    let drop_privs = if root {
        "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
    } else {
        ""
    };
    let script = format!(
        "import os, socket, sys\n{drop_privs}s = socket.socket(socket.AF_UNIX)\n\
         s.connect(sys.argv[1])\ns.recv(1)\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script, path.to_str().unwrap()])
        .stdin(Stdio::null())
        .spawn()
        .expect("python3");
    let s = ipc_accept(&l, after(20_000)).unwrap();
    let cred = s.peer_cred().unwrap();
    assert_eq!(cred.pid, Some(child.id() as i32));
    if root {
        assert_eq!((cred.uid, cred.gid), (65534, 65534));
    } else {
        // SAFETY: getuid/getgid have no preconditions.
        assert_eq!(cred.uid, unsafe { libc::geteuid() });
        // SAFETY: as above.
        assert_eq!(cred.gid, unsafe { libc::getegid() });
    }
    drop(s);
    assert!(child.wait().unwrap().success());
}

#[test]
fn peer_cred_of_the_listening_process() {
    let path = TempPath::new("cred2");
    let l = ipc_listen(&path, 4).unwrap();
    let c = ipc_connect(&path, after(10_000)).unwrap();
    let cred = c.peer_cred().unwrap();
    assert_eq!(cred.pid, Some(std::process::id() as i32));
    // SAFETY: getuid has no preconditions.
    assert_eq!(cred.uid, unsafe { libc::geteuid() });
    let (a, _b) = ipc_pair().unwrap();
    assert_eq!(a.peer_cred().unwrap().pid, Some(std::process::id() as i32));
    drop(l);
}

#[test]
fn into_raw_fd_gives_the_open_socket_back() {
    let (a, mut b) = ipc_pair().unwrap();
    // Wait on the descriptor first, so the reactor knows it.
    let mut buf = [0u8; 2];
    let a = {
        let mut a = a;
        assert_errno(brecv(&mut a, &mut buf, after(1)), libc::ETIMEDOUT, "wait");
        a
    };
    let fd = a.into_raw_fd();
    // SAFETY: into_raw_fd handed us ownership of an open descriptor.
    let mut std_stream = unsafe { UnixStream::from_raw_fd(fd) };
    std_stream.set_nonblocking(false).unwrap();
    std_stream.write_all(b"hi").unwrap();
    brecv(&mut b, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"hi");
    bsend(&mut b, b"yo", -1).unwrap();
    std_stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"yo");
    // The runtime forgot it: it can be waited on afresh, by a new owner.
    let owned = OwnedFd::from(std_stream);
    let mut again = ipc_fromfd(owned).unwrap();
    bsend(&mut b, b"!!", -1).unwrap();
    brecv(&mut again, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"!!");
}

#[test]
fn owned_fd_from_a_stream_in_caller_memory() {
    let (mut ma, mut mb) = (IpcMem::new(), IpcMem::new());
    let (a, mut b) = ipc_pair_mem(&mut ma, &mut mb).unwrap();
    let fd = OwnedFd::from(a);
    // The memory is free again while the socket lives on.
    let mut mc = IpcMem::new();
    let (_x, _y) = ipc_pair_mem(&mut ma, &mut mc).unwrap();
    let mut s = UnixStream::from(fd);
    s.write_all(b"z").unwrap();
    let mut one = [0u8; 1];
    brecv(&mut b, &mut one, after(10_000)).unwrap();
    assert_eq!(&one, b"z");
}

#[test]
fn sendfd_of_a_bad_descriptor_leaves_the_stream_usable() {
    let (mut a, mut b) = ipc_pair().unwrap();
    // A number far above any descriptor this process can have (other
    // tests of this binary open and close descriptors concurrently, so a
    // just-closed number could be reused under our feet).
    // SAFETY: deliberately a descriptor that is not open, to provoke EBADF;
    // the borrowed value is only passed to sendmsg.
    let bad = unsafe { BorrowedFd::borrow_raw(0x3fff_fff0) };
    assert_errno(
        ipc_sendfd(&mut a, bad, after(10_000)),
        libc::EBADF,
        "sendfd",
    );
    // Nothing was sent and nothing is broken: bytes and descriptors still
    // flow, in step.
    bsend(&mut a, b"ok", -1).unwrap();
    let (r, mut w) = UnixStream::pair().unwrap();
    ipc_sendfd(&mut a, r.as_fd_borrowed(), after(10_000)).unwrap();
    let mut buf = [0u8; 2];
    brecv(&mut b, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf, b"ok");
    let got = ipc_recvfd(&mut b, after(10_000)).unwrap();
    w.write_all(b"p").unwrap();
    let mut one = [0u8; 1];
    UnixStream::from(got).read_exact(&mut one).unwrap();
    assert_eq!(&one, b"p");
}

trait AsFdBorrowed {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_>;
}

impl AsFdBorrowed for UnixStream {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

#[test]
fn fromfd_of_an_unconnected_socket_is_enotconn() {
    // SAFETY: socket() takes no pointers.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0);
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    assert_errno(ipc_fromfd(fd), libc::ENOTCONN, "unconnected");
}

#[test]
fn fromfd_still_takes_connected_sockets() {
    let (x, y) = UnixStream::pair().unwrap();
    let mut s = ipc_fromfd(OwnedFd::from(x)).unwrap();
    bsend(&mut s, b"q", -1).unwrap();
    let mut y = y;
    let mut one = [0u8; 1];
    y.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"q");
    assert!(is_nonblocking(s.as_raw_fd()));
}
