//! Adopting existing sockets with ipc_fromfd.

mod ipc_util;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

use dill::*;
use ipc_util::*;

#[test]
fn adopts_a_blocking_std_stream() {
    let (x, y) = UnixStream::pair().unwrap();
    assert!(!is_nonblocking(x.as_raw_fd()));
    let mut a = ipc_fromfd(OwnedFd::from(x)).unwrap();
    let mut b = ipc_fromfd(OwnedFd::from(y)).unwrap();
    assert!(is_nonblocking(a.as_raw_fd()));
    // A receive with nothing queued waits for the peer's coroutine (it
    // would block the whole thread had the descriptor stayed blocking).
    let peer = go(move || bsend(&mut a, b"adopted", -1)).unwrap();
    let mut buf = [0u8; 7];
    brecv(&mut b, &mut buf, now() + 5000).unwrap();
    assert_eq!(&buf, b"adopted");
    peer.join(-1).unwrap().unwrap();
    let (_x, y) = UnixStream::pair().unwrap();
    let mut b = ipc_fromfd(OwnedFd::from(y)).unwrap();
    assert_errno(
        brecv(&mut b, &mut [0u8; 1], now() + 10),
        libc::ETIMEDOUT,
        "empty",
    );
}

#[test]
fn adopts_an_accepted_std_connection() {
    let p = TempPath::new("fromfd");
    let l = UnixListener::bind(&p).unwrap();
    let mut c = ipc_connect(&p, -1).unwrap();
    let (s, _) = l.accept().unwrap();
    let mut s = ipc_fromfd(s.into()).unwrap();
    bsend(&mut c, b"hi", -1).unwrap();
    let mut buf = [0u8; 2];
    brecv(&mut s, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"hi");
}

#[test]
fn rejects_what_is_not_a_unix_stream() {
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh descriptors from pipe().
    let (r, _w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    assert_errno(ipc_fromfd(r), libc::ENOTSOCK, "pipe");
    let f = std::fs::File::open("/dev/null").unwrap();
    assert_errno(ipc_fromfd(f.into()), libc::ENOTSOCK, "file");

    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_errno(ipc_fromfd(udp.into()), libc::EINVAL, "UDP");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let t = std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
    assert_errno(ipc_fromfd(t.into()), libc::EINVAL, "TCP");
    let (d, _e) = UnixDatagram::pair().unwrap();
    assert_errno(ipc_fromfd(d.into()), libc::EINVAL, "unix datagram");
    let p = TempPath::new("fromfd-listener");
    let l = UnixListener::bind(&p).unwrap();
    assert_errno(ipc_fromfd(l.into()), libc::EINVAL, "listening socket");
    let mut sp = [0; 2];
    // SAFETY: room for two descriptors.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            sp.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0);
    // SAFETY: fresh descriptors from socketpair().
    let (s1, _s2) = unsafe { (OwnedFd::from_raw_fd(sp[0]), OwnedFd::from_raw_fd(sp[1])) };
    assert_errno(ipc_fromfd(s1), libc::EINVAL, "seqpacket");
}
