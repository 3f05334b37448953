//! UDP sockets: round trips between dill sockets and with python3's
//! `socket` module in both directions, every errno of the man pages, the
//! remote-address filter, the `MsgStream` view, cancellation and leaks.

use std::cell::Cell;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::rc::Rc;

use dill::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

fn local() -> Option<SocketAddr> {
    Some(sa("127.0.0.1:0"))
}

/// Tests count descriptors: they run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn have_python() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn open_binds_and_flags() {
    let _serial = serial();
    let s = udp_open(local(), None).unwrap();
    let a = s.local_addr().unwrap();
    assert_eq!(a.ip().to_string(), "127.0.0.1");
    assert_ne!(a.port(), 0);
    assert_eq!(s.remote_addr(), None);
    // SAFETY: F_GETFD/F_GETFL take no pointers.
    let (fdf, flf) = unsafe {
        (
            libc::fcntl(s.as_raw_fd(), libc::F_GETFD),
            libc::fcntl(s.as_raw_fd(), libc::F_GETFL),
        )
    };
    assert_ne!(fdf & libc::FD_CLOEXEC, 0);
    assert_ne!(flf & libc::O_NONBLOCK, 0);
    assert!(format!("{s:?}").contains("UdpSocket"));
    // Without a local address: unbound until the first send.
    let u = udp_open(None, None).unwrap();
    assert_eq!(u.local_addr().unwrap(), sa("0.0.0.0:0"));
}

#[test]
fn round_trip_between_dill_sockets() {
    let _serial = serial();
    let mut a = udp_open(local(), None).unwrap();
    let mut b = udp_open(local(), None).unwrap();
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    udp_send(&mut a, Some(ba), b"ping").unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = udp_recv(&mut b, &mut buf, after(5000)).unwrap();
    assert_eq!((&buf[..n], from), (&b"ping"[..], aa));
    udp_send(&mut b, Some(from), b"").unwrap();
    let (n, from) = udp_recv(&mut a, &mut buf, after(5000)).unwrap();
    assert_eq!((n, from), (0, ba));
}

#[test]
fn round_trip_over_ipv6() {
    let _serial = serial();
    let Ok(mut a) = udp_open(Some(sa("[::1]:0")), None) else {
        return; // no IPv6 on this host
    };
    let mut b = udp_open(Some(sa("[::1]:0")), None).unwrap();
    let ba = b.local_addr().unwrap();
    udp_send(&mut a, Some(ba), b"six").unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = udp_recv(&mut b, &mut buf, after(5000)).unwrap();
    assert_eq!(&buf[..n], b"six");
    assert_eq!(from, a.local_addr().unwrap());
}

#[test]
fn vectored_send_and_receive() {
    let _serial = serial();
    let mut a = udp_open(local(), None).unwrap();
    let mut b = udp_open(local(), None).unwrap();
    let ba = b.local_addr().unwrap();
    udp_sendl(
        &mut a,
        Some(ba),
        &[
            IoSlice::new(b"he"),
            IoSlice::new(b""),
            IoSlice::new(b"llo w"),
            IoSlice::new(b"orld"),
        ],
    )
    .unwrap();
    let (mut x, mut y) = ([0u8; 4], [0u8; 20]);
    let (n, _) = udp_recvl(
        &mut b,
        &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)],
        after(5000),
    )
    .unwrap();
    assert_eq!(n, 11);
    assert_eq!(&x, b"hell");
    assert_eq!(&y[..7], b"o world");
}

#[test]
fn python_sends_and_dill_answers() {
    let _serial = serial();
    if !have_python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    let mut s = udp_open(local(), None).unwrap();
    let port = s.local_addr().unwrap().port();
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.bind(("127.0.0.1", 0))
s.sendto(b"from python", ("127.0.0.1", int(sys.argv[1])))
data, addr = s.recvfrom(100)
print(data.decode(), s.getsockname()[1], flush=True)
"#;
    let child = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = udp_recv(&mut s, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf[..n], b"from python");
    udp_send(&mut s, Some(from), b"from dill").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("from dill {}", from.port())
    );
}

#[test]
fn dill_sends_and_python_answers() {
    let _serial = serial();
    if !have_python() {
        eprintln!("python3 missing: skipped");
        return;
    }
    let script = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
data, addr = s.recvfrom(100)
s.sendto(data.upper(), addr)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let peer = SocketAddr::new("127.0.0.1".parse().unwrap(), line.trim().parse().unwrap());
    // Opened with the peer as remote: a message socket.
    let mut s = udp_open(None, Some(peer)).unwrap();
    assert_eq!(s.remote_addr(), Some(peer));
    msend(&mut s, b"shout", after(5000)).unwrap();
    let mut buf = [0u8; 16];
    let n = mrecv(&mut s, &mut buf, after(10_000)).unwrap();
    assert_eq!(&buf[..n], b"SHOUT");
    assert!(child.wait().unwrap().success());
}

#[test]
fn remote_address_filters_senders() {
    let _serial = serial();
    let mut peer = udp_open(local(), None).unwrap();
    let mut other = udp_open(local(), None).unwrap();
    let mut s = udp_open(local(), Some(peer.local_addr().unwrap())).unwrap();
    let sa_ = s.local_addr().unwrap();
    udp_send(&mut other, Some(sa_), b"stranger").unwrap();
    udp_send(&mut peer, Some(sa_), b"friend").unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = udp_recv(&mut s, &mut buf, after(5000)).unwrap();
    assert_eq!(&buf[..n], b"friend");
    assert_eq!(from, peer.local_addr().unwrap());
    // Sending without an address goes to the remote; an explicit address
    // overrides it.
    udp_send(&mut s, None, b"to peer").unwrap();
    let (n, _) = udp_recv(&mut peer, &mut buf, after(5000)).unwrap();
    assert_eq!(&buf[..n], b"to peer");
    udp_send(&mut s, Some(other.local_addr().unwrap()), b"to other").unwrap();
    let (n, _) = udp_recv(&mut other, &mut buf, after(5000)).unwrap();
    assert_eq!(&buf[..n], b"to other");
}

#[test]
fn message_stream_round_trip() {
    let _serial = serial();
    let mut a = udp_open(local(), None).unwrap();
    let mut b = udp_open(local(), Some(a.local_addr().unwrap())).unwrap();
    // `a` learns b's address from its first datagram.
    msend(&mut b, b"one", -1).unwrap();
    msendl(&mut b, &[IoSlice::new(b"tw"), IoSlice::new(b"o")], -1).unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = udp_recv(&mut a, &mut buf, after(5000)).unwrap();
    assert_eq!((&buf[..n], from), (&b"one"[..], b.local_addr().unwrap()));
    let n = mrecvl(&mut a, &mut [IoSliceMut::new(&mut buf)], after(5000)).unwrap();
    assert_eq!(&buf[..n], b"two");
    // A stranger's message is dropped; a's comes through.
    let mut stranger = udp_open(None, Some(from)).unwrap();
    msend(&mut stranger, b"back", -1).unwrap();
    udp_send(&mut a, Some(from), b"real").unwrap();
    let n = mrecv(&mut b, &mut buf, after(5000)).unwrap();
    assert_eq!(&buf[..n], b"real");
}

#[test]
fn too_small_buffer_is_emsgsize_and_the_socket_carries_on() {
    let _serial = serial();
    let mut a = udp_open(local(), None).unwrap();
    let mut b = udp_open(local(), None).unwrap();
    let ba = b.local_addr().unwrap();
    udp_send(&mut a, Some(ba), &[7u8; 100]).unwrap();
    udp_send(&mut a, Some(ba), b"small").unwrap();
    let mut buf = [0u8; 10];
    assert_eq!(
        errno_of(udp_recv(&mut b, &mut buf, after(5000))),
        libc::EMSGSIZE
    );
    let (n, _) = udp_recv(&mut b, &mut buf, after(5000)).unwrap();
    assert_eq!(&buf[..n], b"small");
    // No buffer at all for a non-empty datagram.
    udp_send(&mut a, Some(ba), b"x").unwrap();
    assert_eq!(
        errno_of(udp_recvl(&mut b, &mut [], after(5000))),
        libc::EMSGSIZE
    );
}

#[test]
fn oversized_datagram_is_emsgsize() {
    let _serial = serial();
    let mut a = udp_open(local(), None).unwrap();
    let big = vec![0u8; 70_000];
    assert_eq!(
        errno_of(udp_send(&mut a, Some(sa("127.0.0.1:9")), &big)),
        libc::EMSGSIZE
    );
    let halves = [IoSlice::new(&big[..35_000]), IoSlice::new(&big[35_000..])];
    assert_eq!(
        errno_of(udp_sendl(&mut a, Some(sa("127.0.0.1:9")), &halves)),
        libc::EMSGSIZE
    );
}

#[test]
fn invalid_arguments_are_einval() {
    let _serial = serial();
    let mut s = udp_open(local(), None).unwrap();
    // No address and no remote.
    assert_eq!(errno_of(udp_send(&mut s, None, b"x")), libc::EINVAL);
    assert_eq!(errno_of(msend(&mut s, b"x", -1)), libc::EINVAL);
    // Another family than the socket's; port 0.
    assert_eq!(
        errno_of(udp_send(&mut s, Some(sa("[::1]:9")), b"x")),
        libc::EINVAL
    );
    assert_eq!(
        errno_of(udp_send(&mut s, Some(sa("127.0.0.1:0")), b"x")),
        libc::EINVAL
    );
    // Bad deadlines.
    let mut buf = [0u8; 4];
    assert_eq!(errno_of(udp_recv(&mut s, &mut buf, -2)), libc::EINVAL);
    assert_eq!(errno_of(mrecv(&mut s, &mut buf, -5)), libc::EINVAL);
    assert_eq!(errno_of(msend(&mut s, b"x", -5)), libc::EINVAL);
    // Local and remote of different families; remote port 0.
    assert_eq!(
        errno_of(udp_open(local(), Some(sa("[::1]:9")))),
        libc::EINVAL
    );
    assert_eq!(
        errno_of(udp_open(None, Some(sa("127.0.0.1:0")))),
        libc::EINVAL
    );
}

#[test]
fn bind_errors() {
    let _serial = serial();
    let s = udp_open(local(), None).unwrap();
    assert_eq!(
        errno_of(udp_open(Some(s.local_addr().unwrap()), None)),
        libc::EADDRINUSE
    );
    // 192.0.2.1 (TEST-NET-1) is no address of this machine.
    assert_eq!(
        errno_of(udp_open(Some(sa("192.0.2.1:0")), None)),
        libc::EADDRNOTAVAIL
    );
}

#[test]
fn receive_times_out() {
    let _serial = serial();
    let mut s = udp_open(local(), None).unwrap();
    let mut buf = [0u8; 4];
    let start = now();
    assert_eq!(
        errno_of(udp_recv(&mut s, &mut buf, after(50))),
        libc::ETIMEDOUT
    );
    let took = now() - start;
    assert!((50..3000).contains(&took), "{took} ms");
    let start = now();
    assert_eq!(errno_of(udp_recv(&mut s, &mut buf, 0)), libc::ETIMEDOUT);
    assert_eq!(
        errno_of(mrecv(&mut s, &mut buf, now() - 10)),
        libc::ETIMEDOUT
    );
    assert!(now() - start < 1000);
}

#[test]
fn datagram_already_there_is_received_with_deadline_zero() {
    let _serial = serial();
    let mut a = udp_open(local(), None).unwrap();
    let mut b = udp_open(local(), None).unwrap();
    udp_send(&mut a, Some(b.local_addr().unwrap()), b"here").unwrap();
    let mut buf = [0u8; 8];
    // Loopback delivery is synchronous on Linux, but allow for a wait.
    let deadline = after(5000);
    loop {
        match udp_recv(&mut b, &mut buf, 0) {
            Ok((n, _)) => {
                assert_eq!(&buf[..n], b"here");
                break;
            }
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) && now() < deadline => {
                yield_now().unwrap()
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn receiver_waits_in_its_coroutine_and_is_cancelled() {
    let _serial = serial();
    let fds = open_fds();
    let result = Rc::new(Cell::new(None));
    let r = result.clone();
    let mut s = udp_open(local(), None).unwrap();
    let c = go(move || {
        let mut buf = [0u8; 4];
        r.set(Some(
            udp_recv(&mut s, &mut buf, -1).map_err(|e| e.raw_os_error()),
        ));
        // Later calls fail at once too.
        assert_eq!(errno_of(udp_recv(&mut s, &mut buf, -1)), libc::ECANCELED);
    })
    .unwrap();
    // The receiver is blocked; this thread runs on.
    msleep(after(20)).unwrap();
    assert!(result.get().is_none());
    drop(c);
    assert_eq!(result.get(), Some(Err(Some(libc::ECANCELED))));
    assert_eq!(open_fds(), fds, "the socket was not closed");
}

#[test]
fn sockets_leave_no_descriptor_behind() {
    let _serial = serial();
    let fds = open_fds();
    for _ in 0..50 {
        let mut a = udp_open(local(), None).unwrap();
        let mut b = udp_open(local(), None).unwrap();
        udp_send(&mut a, Some(b.local_addr().unwrap()), b"x").unwrap();
        let mut buf = [0u8; 1];
        udp_recv(&mut b, &mut buf, after(5000)).unwrap();
        let _ = udp_recv(&mut a, &mut buf, 0);
        let _ = udp_open(Some(b.local_addr().unwrap()), None);
    }
    assert_eq!(open_fds(), fds);
}

#[test]
fn broadcast_without_permission_is_eacces() {
    let _serial = serial();
    let mut s = udp_open(None, None).unwrap();
    assert_eq!(
        errno_of(udp_send(&mut s, Some(sa("255.255.255.255:9")), b"x")),
        libc::EACCES
    );
}

#[test]
fn open_in_a_cancelled_coroutine_is_ecanceled() {
    let _serial = serial();
    let mut peer = udp_open(local(), None).unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let mut s = udp_open(local(), None).unwrap();
    udp_send(&mut peer, Some(s.local_addr().unwrap()), b"queued").unwrap();
    let out = Rc::new(Cell::new(None));
    let o = out.clone();
    let c = go(move || {
        let _ = msleep(-1); // until cancelled
        let opened = udp_open(None, None).map(drop).map_err(|e| e.raw_os_error());
        // What needs no waiting still works: a send, and a receive of a
        // datagram already there.
        let sent = udp_send(&mut s, Some(peer_addr), b"x").is_ok();
        let mut buf = [0u8; 8];
        let got = udp_recv(&mut s, &mut buf, -1)
            .map(|(n, _)| n)
            .map_err(|e| e.raw_os_error());
        let blocked = udp_recv(&mut s, &mut buf, -1)
            .map(|(n, _)| n)
            .map_err(|e| e.raw_os_error());
        o.set(Some((opened, sent, got, blocked)));
    })
    .unwrap();
    drop(c);
    let (opened, sent, got, blocked) = out.get().unwrap();
    assert_eq!(opened, Err(Some(libc::ECANCELED)));
    assert!(sent);
    assert_eq!(got, Ok(6));
    assert_eq!(blocked, Err(Some(libc::ECANCELED)));
}
