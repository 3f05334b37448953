//! Every errno of the tcp_* man pages, each provoked in its case.

mod ipc_util;

use std::net::{SocketAddr, TcpListener as StdListener, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use dill::*;
use ipc_util::*;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A loopback port on which nobody listens (bound a moment ago, then
/// released).
fn dead_port() -> SocketAddr {
    let l = StdListener::bind(loopback()).unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// A listener whose accept queue is full: further connects get no answer
/// at all (Linux drops the SYN), as from a host that never answers. The
/// queued connections are returned so they stay open.
fn full_listener() -> (TcpListener<'static>, SocketAddr, Vec<TcpStream<'static>>) {
    let l = tcp_listen(loopback(), 0).unwrap();
    let addr = l.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match tcp_connect(addr, after(300)) {
            Ok(s) => queued.push(s),
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => break,
            Err(e) => panic!("filling the backlog: {e}"),
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    (l, addr, queued)
}

#[test]
fn connect_refused() {
    let addr = dead_port();
    assert_errno(
        tcp_connect(addr, after(10_000)),
        libc::ECONNREFUSED,
        "connect",
    );
    let mut mem = TcpMem::new();
    assert_errno(
        tcp_connect_mem(addr, &mut mem, after(10_000)),
        libc::ECONNREFUSED,
        "connect_mem",
    );
}

#[test]
fn connect_to_an_unroutable_address() {
    // TCP cannot go to a multicast or broadcast address: no route for a
    // connection (Linux says ENETUNREACH before sending anything).
    for a in ["224.0.0.1:80", "255.255.255.255:80", "[ff02::1]:80"] {
        let addr: SocketAddr = a.parse().unwrap();
        match tcp_connect(addr, after(10_000)) {
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                eprintln!("{a}: no IPv6 here; skipped");
            }
            r => assert_errno(r, libc::ENETUNREACH, a),
        }
    }
}

#[test]
fn connect_to_a_peer_that_never_answers_times_out() {
    let (_l, addr, _queued) = full_listener();
    let d = after(100);
    assert_errno(tcp_connect(addr, d), libc::ETIMEDOUT, "connect");
    assert!(now() >= d, "woke early");
    let mut mem = TcpMem::new();
    assert_errno(
        tcp_connect_mem(addr, &mut mem, 0),
        libc::ETIMEDOUT,
        "deadline 0",
    );
}

#[test]
fn connect_is_cancelled() {
    let (_l, addr, _queued) = full_listener();
    // Let it start and block in the handshake, then cancel: the drop
    // returns once it has, so the result is reported through a cell.
    let seen = std::rc::Rc::new(std::cell::Cell::new(0));
    let seen2 = seen.clone();
    let co2 = go(move || {
        let mut mem = TcpMem::new();
        seen2.set(errno(tcp_connect_mem(addr, &mut mem, -1)));
    })
    .unwrap();
    yield_now().unwrap();
    drop(co2);
    assert_eq!(seen.get(), libc::ECANCELED);
    // In a coroutine already cancelled, creating a handle fails at once.
    let seen3 = std::rc::Rc::new(std::cell::Cell::new([0; 4]));
    let s3 = seen3.clone();
    let l = tcp_listen(loopback(), 4).unwrap();
    let laddr = l.local_addr().unwrap();
    let co3 = go(move || {
        // Block until cancelled.
        let _ = msleep(-1);
        s3.set([
            errno(tcp_connect(laddr, -1)),
            errno(tcp_listen(loopback(), 4)),
            errno(tcp_accept(&l, -1)),
            errno(tcp_fromfd(OwnedFd::from(UnixStream::pair().unwrap().0))),
        ]);
    })
    .unwrap();
    yield_now().unwrap();
    drop(co3);
    assert_eq!(seen3.get(), [libc::ECANCELED; 4]);
}

#[test]
fn accept_times_out_and_is_cancelled() {
    let l = tcp_listen(loopback(), 4).unwrap();
    let d = after(30);
    assert_errno(tcp_accept(&l, d), libc::ETIMEDOUT, "accept");
    assert!(now() >= d);
    let mut mem = TcpMem::new();
    assert_errno(
        tcp_accept_mem(&l, &mut mem, 0),
        libc::ETIMEDOUT,
        "deadline 0",
    );
    let l = std::rc::Rc::new(l);
    let seen = std::rc::Rc::new(std::cell::Cell::new(0));
    let (l2, s2) = (l.clone(), seen.clone());
    let co = go(move || s2.set(errno(tcp_accept(&l2, -1)))).unwrap();
    yield_now().unwrap();
    // A second acceptor while the first waits: EBUSY.
    assert_errno(
        tcp_accept(&l, after(10_000)),
        libc::EBUSY,
        "second acceptor",
    );
    drop(co);
    assert_eq!(seen.get(), libc::ECANCELED);
    // The listener still works.
    let addr = l.local_addr().unwrap();
    let _c = tcp_connect(addr, after(10_000)).unwrap();
    tcp_accept(&l, after(10_000)).unwrap();
}

#[test]
fn listen_address_in_use() {
    let l = tcp_listen(loopback(), 4).unwrap();
    let addr = l.local_addr().unwrap();
    assert_errno(tcp_listen(addr, 4), libc::EADDRINUSE, "listen");
    let mut mem = TcpListenerMem::new();
    assert_errno(
        tcp_listen_mem(addr, &mut mem, 4),
        libc::EADDRINUSE,
        "listen_mem",
    );
}

#[test]
fn listen_address_not_local() {
    // TEST-NET-2 (RFC 5737): documentation only, never an address of this
    // machine.
    let addr: SocketAddr = "198.51.100.7:0".parse().unwrap();
    assert_errno(tcp_listen(addr, 4), libc::EADDRNOTAVAIL, "listen");
}

#[test]
fn listen_on_a_privileged_port_without_privilege() {
    // Some systems (containers) let everyone bind every port.
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(1024);
    if start <= 1 {
        eprintln!("every port is unprivileged here; skipped");
        return;
    }
    // As root, drop privileges in a child process first.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let rc = run_child("child_entry", "eacces");
        assert_eq!(rc, CHILD_OK);
    } else {
        assert_errno(
            tcp_listen("127.0.0.1:1".parse().unwrap(), 4),
            libc::EACCES,
            "port 1",
        );
    }
}

#[test]
fn bad_input_is_einval() {
    let l = tcp_listen(loopback(), 4).unwrap();
    let addr = l.local_addr().unwrap();
    let mut mem = TcpMem::new();
    let port0: SocketAddr = "127.0.0.1:0".parse().unwrap();
    assert_errno(tcp_connect(port0, after(1000)), libc::EINVAL, "port 0");
    assert_errno(
        tcp_connect_mem(port0, &mut mem, after(1000)),
        libc::EINVAL,
        "port 0 mem",
    );
    assert_errno(tcp_connect(addr, -2), libc::EINVAL, "connect deadline");
    assert_errno(
        tcp_connect_mem(addr, &mut mem, i64::MIN),
        libc::EINVAL,
        "deadline mem",
    );
    assert_errno(tcp_listen(loopback(), -1), libc::EINVAL, "backlog");
    let mut lm = TcpListenerMem::new();
    assert_errno(
        tcp_listen_mem(loopback(), &mut lm, i32::MIN),
        libc::EINVAL,
        "backlog mem",
    );
    assert_errno(tcp_accept(&l, -2), libc::EINVAL, "accept deadline");
    assert_errno(
        tcp_accept_mem(&l, &mut mem, -7),
        libc::EINVAL,
        "accept_mem deadline",
    );
    // Nothing was consumed by the refusals: a connection still goes through.
    let _c = tcp_connect(addr, after(10_000)).unwrap();
    tcp_accept(&l, after(10_000)).unwrap();
}

#[test]
fn fromfd_rejects_what_is_not_a_tcp_stream() {
    // Not a socket.
    let file = std::fs::File::open("/dev/null").unwrap();
    assert_errno(tcp_fromfd(OwnedFd::from(file)), libc::ENOTSOCK, "file");
    let file = std::fs::File::open("/dev/null").unwrap();
    assert_errno(
        tcp_listener_fromfd(OwnedFd::from(file)),
        libc::ENOTSOCK,
        "file (listener)",
    );
    // Not an open descriptor at all (a number far above any this process
    // has; handing it over breaks OwnedFd's contract, which is exactly the
    // mistake being reported).
    // SAFETY: see above; the call does not close a number it finds invalid.
    let bad = unsafe { OwnedFd::from_raw_fd(0x3fff_fff0) };
    assert_errno(tcp_fromfd(bad), libc::EBADF, "bad fd");
    // SAFETY: as above.
    let bad = unsafe { OwnedFd::from_raw_fd(0x3fff_fff1) };
    assert_errno(tcp_listener_fromfd(bad), libc::EBADF, "bad fd (listener)");
    // Other families and types.
    let (u, _) = UnixStream::pair().unwrap();
    assert_errno(tcp_fromfd(OwnedFd::from(u)), libc::EINVAL, "AF_UNIX");
    let udp = UdpSocket::bind(loopback()).unwrap();
    assert_errno(tcp_fromfd(OwnedFd::from(udp)), libc::EINVAL, "UDP");
    let udp = UdpSocket::bind(loopback()).unwrap();
    assert_errno(
        tcp_listener_fromfd(OwnedFd::from(udp)),
        libc::EINVAL,
        "UDP (listener)",
    );
    // A listener is not a stream, and a stream is not a listener.
    let l = StdListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    let c = std::net::TcpStream::connect(addr).unwrap();
    assert_errno(
        tcp_fromfd(OwnedFd::from(l)),
        libc::EINVAL,
        "listener as stream",
    );
    assert_errno(
        tcp_listener_fromfd(OwnedFd::from(c)),
        libc::EINVAL,
        "stream as listener",
    );
    // An unconnected TCP socket.
    // SAFETY: socket() takes no pointers.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0);
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    assert_errno(tcp_fromfd(fd), libc::ENOTCONN, "unconnected");
    // SAFETY: as above.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    assert_errno(tcp_listener_fromfd(fd), libc::EINVAL, "not listening");
}

#[test]
fn emfile_everywhere() {
    assert_eq!(run_child("child_entry", "emfile"), CHILD_OK);
}

/// Entry point of the child processes (does nothing in a normal run).
#[test]
fn child_entry() {
    let Some(scenario) = child_scenario() else {
        return;
    };
    let code = match scenario.as_str() {
        "emfile" => child_emfile(),
        "eacces" => child_eacces(),
        _ => 99,
    };
    child_exit(code);
}

/// As an unprivileged user, a port below 1024 cannot be bound.
fn child_eacces() -> i32 {
    // SAFETY: plain system calls without pointers (setgroups with 0 entries).
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(65534) != 0
            || libc::setuid(65534) != 0
        {
            return 10;
        }
    }
    let mut mem = TcpListenerMem::new();
    let a = tcp_listen("127.0.0.1:1".parse().unwrap(), 4).map(drop);
    let b = tcp_listen_mem("127.0.0.1:1".parse().unwrap(), &mut mem, 4).map(drop);
    match (errno(a), errno(b)) {
        (libc::EACCES, libc::EACCES) => 0,
        other => {
            eprintln!("unexpected: {other:?}");
            1
        }
    }
}

/// With the descriptor table full, every constructor fails with EMFILE and
/// leaks nothing; with one slot free again, the queued connection is
/// accepted.
fn child_emfile() -> i32 {
    let l = tcp_listen(loopback(), 8).unwrap();
    let addr = l.local_addr().unwrap();
    // One connection waits in the queue, for tcp_accept below.
    let _c = tcp_connect(addr, after(10_000)).unwrap();
    let lim = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return 10;
    }
    let mut hogs = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hogs.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(_) => return 11,
        }
    }
    let before = fd_count_raw();
    let mut mem = TcpMem::new();
    let mut lm = TcpListenerMem::new();
    let got = [
        tcp_connect(addr, after(10_000)).map(drop),
        tcp_connect_mem(addr, &mut mem, after(10_000)).map(drop),
        tcp_accept(&l, after(10_000)).map(drop),
        tcp_accept_mem(&l, &mut mem, after(10_000)).map(drop),
        tcp_listen(loopback(), 8).map(drop),
        tcp_listen_mem(loopback(), &mut lm, 8).map(drop),
    ];
    for (i, r) in got.iter().enumerate() {
        if r.as_ref().err().and_then(|e| e.raw_os_error()) != Some(libc::EMFILE) {
            eprintln!("call {i}: {r:?}");
            return 20 + i as i32;
        }
    }
    if fd_count_raw() != before {
        return 30;
    }
    hogs.pop();
    if tcp_accept(&l, after(10_000)).is_err() {
        return 31;
    }
    0
}

/// Counts open descriptors without needing one.
fn fd_count_raw() -> usize {
    (0..64)
        .filter(|&fd| {
            // SAFETY: F_GETFD takes no pointer; invalid fds just fail.
            unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
        })
        .count()
}
