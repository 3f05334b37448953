//! One listening socket, several threads: ipc_listener_fromfd,
//! IpcListener::share, every client served exactly once, and no thundering
//! herd (EPOLLEXCLUSIVE) counted in wake-ups.

mod ipc_util;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::sync::{mpsc, Arc};

use dill::*;
use ipc_util::*;

// ---------------------------------------------------------------------------
// ipc_listener_fromfd

#[test]
fn fromfd_adopts_a_blocking_std_listener() {
    let p = TempPath::new("lfromfd");
    let std_l = UnixListener::bind(&p).unwrap();
    assert!(!is_nonblocking(std_l.as_raw_fd()));
    let l = ipc_listener_fromfd(std_l.into()).unwrap();
    assert!(is_nonblocking(l.as_raw_fd()));
    // Nobody connecting: the accept waits (it would block the thread had
    // the socket stayed blocking) and times out.
    assert_errno(ipc_accept(&l, dill::after(10)), libc::ETIMEDOUT, "idle");
    let client = go({
        let p = p.to_path_buf();
        move || -> std::io::Result<()> {
            let mut c = ipc_connect(&p, dill::after(5000))?;
            bsend(&mut c, b"ok", -1)
        }
    })
    .unwrap();
    let mut s = ipc_accept(&l, dill::after(5000)).unwrap();
    let mut buf = [0u8; 2];
    brecv(&mut s, &mut buf, dill::after(5000)).unwrap();
    assert_eq!(&buf, b"ok");
    client.join(-1).unwrap().unwrap();
    assert!(format!("{l:?}").starts_with("IpcListener"));
}

fn pipe_fds() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh descriptors from pipe().
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

#[test]
fn fromfd_rejects_what_is_not_a_socket_with_enotsock() {
    let (r, _w) = pipe_fds();
    assert_errno(ipc_listener_fromfd(r), libc::ENOTSOCK, "pipe");
    let f = std::fs::File::open("/dev/null").unwrap();
    assert_errno(ipc_listener_fromfd(f.into()), libc::ENOTSOCK, "file");
}

/// A raw AF_UNIX socket of `ty`, bound to `p` and listening if asked.
fn unix_socket(ty: libc::c_int, bind_to: Option<&std::path::Path>, listen: bool) -> OwnedFd {
    // SAFETY: socket() takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Some(p) = bind_to {
        let std_l = std::os::unix::net::SocketAddr::from_pathname(p).unwrap();
        let _ = std_l;
        // SAFETY: sockaddr_un is plain data.
        let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = p.as_os_str().as_encoded_bytes();
        for (d, s) in sa.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // SAFETY: `sa` is a valid sockaddr_un.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        if listen {
            // SAFETY: no pointers.
            assert_eq!(unsafe { libc::listen(fd.as_raw_fd(), 8) }, 0);
        }
    }
    fd
}

#[test]
fn fromfd_rejects_other_sockets_with_einval() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_errno(ipc_listener_fromfd(udp.into()), libc::EINVAL, "UDP");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let t = std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
    assert_errno(ipc_listener_fromfd(t.into()), libc::EINVAL, "TCP stream");
    assert_errno(
        ipc_listener_fromfd(tcp.into()),
        libc::EINVAL,
        "TCP listener",
    );
    let (d, _e) = UnixDatagram::pair().unwrap();
    assert_errno(ipc_listener_fromfd(d.into()), libc::EINVAL, "unix datagram");
    let (x, _y) = UnixStream::pair().unwrap();
    assert_errno(
        ipc_listener_fromfd(x.into()),
        libc::EINVAL,
        "connected stream",
    );
    let fresh = unix_socket(libc::SOCK_STREAM, None, false);
    assert_errno(ipc_listener_fromfd(fresh), libc::EINVAL, "unbound stream");
    let p = TempPath::new("lfromfd-bound");
    let bound = unix_socket(libc::SOCK_STREAM, Some(&p), false);
    assert_errno(
        ipc_listener_fromfd(bound),
        libc::EINVAL,
        "bound, not listening",
    );
    let p = TempPath::new("lfromfd-seqpacket");
    let seq = unix_socket(libc::SOCK_SEQPACKET, Some(&p), true);
    assert_errno(ipc_listener_fromfd(seq), libc::EINVAL, "seqpacket listener");
}

#[test]
fn fromfd_consumes_the_descriptor_on_failure() {
    // In a child process of its own, so that no other test opens or closes
    // descriptors meanwhile.
    assert_eq!(
        run_child("fromfd_failure_child", "fromfd-failure"),
        CHILD_OK
    );
}

#[test]
fn fromfd_failure_child() {
    if child_scenario().as_deref() != Some("fromfd-failure") {
        return;
    }
    let before = fd_count();
    for _ in 0..20 {
        let (x, y) = UnixStream::pair().unwrap();
        assert_errno(ipc_listener_fromfd(x.into()), libc::EINVAL, "stream");
        drop(y);
        let (r, _w) = pipe_fds();
        assert_errno(ipc_listener_fromfd(r), libc::ENOTSOCK, "pipe");
    }
    child_exit(if fd_count() == before { 0 } else { 1 });
}

#[test]
fn fromfd_in_a_cancelled_coroutine_is_ecanceled() {
    let p = TempPath::new("lfromfd-cancel");
    let std_l = UnixListener::bind(&p).unwrap();
    let (tx, rx) = mpsc::channel();
    let c = go(move || {
        let _ = msleep(-1);
        tx.send(errno(ipc_listener_fromfd(std_l.into()))).unwrap();
    })
    .unwrap();
    yield_now().unwrap();
    drop(c);
    assert_eq!(rx.recv().unwrap(), libc::ECANCELED);
}

#[test]
fn share_gives_a_new_descriptor_for_the_same_socket() {
    let p = TempPath::new("share");
    let l = ipc_listen(&p, 8).unwrap();
    let fd = l.share().unwrap();
    assert_ne!(fd.as_raw_fd(), l.as_raw_fd());
    assert!(is_cloexec(fd.as_raw_fd()));
    drop(l);
    // The shared descriptor outlives the listener it came from.
    let l2 = ipc_listener_fromfd(fd).unwrap();
    let mut c = ipc_connect(&p, dill::after(5000)).unwrap();
    let mut s = ipc_accept(&l2, dill::after(5000)).unwrap();
    bsend(&mut c, b"x", -1).unwrap();
    let mut b = [0u8; 1];
    brecv(&mut s, &mut b, dill::after(5000)).unwrap();
    assert_eq!(&b, b"x");
}

// ---------------------------------------------------------------------------
// Every client served exactly once.

/// Client ids served, with the index of the thread that served each.
type Log = Arc<std::sync::Mutex<Vec<(u32, usize)>>>;

/// Serves clients on this thread's listener over `fd` until cancelled: each
/// sends its id (4 bytes), gets it back, and is logged with `thread`.
fn serve(fd: OwnedFd, thread: usize, log: Log) {
    let l = ipc_listener_fromfd(fd).unwrap();
    let handlers = bundle().unwrap();
    loop {
        let mut s = match ipc_accept(&l, -1) {
            Ok(s) => s,
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => break,
            Err(e) => panic!("accept: {e}"),
        };
        let log = Arc::clone(&log);
        handlers
            .go(move || {
                let mut id = [0u8; 4];
                if brecv(&mut s, &mut id, -1).is_ok() && bsend(&mut s, &id, -1).is_ok() {
                    log.lock().unwrap().push((u32::from_le_bytes(id), thread));
                }
            })
            .unwrap();
    }
}

/// One client: connects, sends `id`, checks the echo.
fn client(path: &std::path::Path, id: u32) -> std::io::Result<()> {
    let mut c = ipc_connect(path, dill::after(60_000))?;
    bsend(&mut c, &id.to_le_bytes(), -1)?;
    let mut back = [0u8; 4];
    brecv(&mut c, &mut back, dill::after(60_000))?;
    if u32::from_le_bytes(back) != id {
        return Err(std::io::Error::other(format!(
            "client {id} got another id back"
        )));
    }
    Ok(())
}

/// Checks that the ids 0..n were each served exactly once; returns how
/// many each thread served.
fn assert_exactly_once(log: &Log, n: u32, threads: usize) -> Vec<usize> {
    let log = log.lock().unwrap();
    let mut seen = vec![0u32; n as usize];
    let mut per_thread = vec![0usize; threads];
    for &(id, t) in log.iter() {
        assert!(id < n, "unknown client id {id}");
        seen[id as usize] += 1;
        per_thread[t] += 1;
    }
    for (id, &k) in seen.iter().enumerate() {
        assert_eq!(k, 1, "client {id} served {k} times");
    }
    per_thread
}

/// `threads` server threads over one listening socket: each gets its own
/// listener from `share` and `ipc_listener_fromfd`.
fn servers(threads: usize, log: &Log) -> (TempPath, Threads<()>, mpsc::Receiver<()>) {
    let p = TempPath::new("mt-accept");
    let l = ipc_listen(&p, 128).unwrap();
    let fds: Vec<_> = (0..threads).map(|_| l.share().unwrap()).collect();
    drop(l);
    let fds = std::sync::Mutex::new(fds.into_iter().map(Some).collect::<Vec<_>>());
    let log = Arc::clone(log);
    let (ready_tx, ready_rx) = mpsc::channel();
    let ts = spawn_threads(threads, move |i| {
        let fd = fds.lock().unwrap()[i].take().unwrap();
        let ready = ready_tx.clone();
        let log = Arc::clone(&log);
        let server = go(move || serve(fd, i, log)).unwrap();
        ready.send(()).unwrap();
        let _ = msleep(-1);
        drop(server);
    })
    .unwrap();
    (p, ts, ready_rx)
}

fn clients_in_coroutines_of_every_thread(threads: usize, per_thread: u32) {
    let log: Log = Arc::default();
    let p = TempPath::new("mt-accept");
    let l = ipc_listen(&p, 128).unwrap();
    let fds: Vec<_> = (0..threads).map(|_| Some(l.share().unwrap())).collect();
    drop(l);
    let fds = std::sync::Mutex::new(fds);
    let path = p.to_path_buf();
    let (done_tx, done_rx) = mpsc::channel::<std::io::Result<()>>();
    let ts = spawn_threads(threads, {
        let log = Arc::clone(&log);
        move |i| {
            let fd = fds.lock().unwrap()[i].take().unwrap();
            let log = Arc::clone(&log);
            let _server = go(move || serve(fd, i, log)).unwrap();
            let b = bundle().unwrap();
            let failed = std::rc::Rc::new(std::cell::Cell::new(None));
            for k in 0..per_thread {
                let id = i as u32 * per_thread + k;
                let path = path.clone();
                let failed = std::rc::Rc::clone(&failed);
                b.go(move || {
                    if let Err(e) = client(&path, id) {
                        failed.set(Some(e));
                    }
                })
                .unwrap();
            }
            let waited = b.wait(-1);
            let res = match failed.take() {
                Some(e) => Err(e),
                None => waited,
            };
            done_tx.send(res).unwrap();
            // Keep serving the other threads' clients until cancelled.
            let _ = msleep(-1);
        }
    })
    .unwrap();
    for _ in 0..threads {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("clients finished")
            .unwrap();
    }
    ts.cancel();
    ts.join(-1).unwrap();
    let per = assert_exactly_once(&log, threads as u32 * per_thread, threads);
    eprintln!("{threads} threads, connections served per thread: {per:?}");
}

#[test]
fn clients_in_coroutines_served_exactly_once_on_2_threads() {
    clients_in_coroutines_of_every_thread(2, 200);
}

#[test]
fn clients_in_coroutines_served_exactly_once_on_3_threads() {
    clients_in_coroutines_of_every_thread(3, 100);
}

#[test]
fn clients_in_coroutines_served_exactly_once_on_4_threads() {
    clients_in_coroutines_of_every_thread(4, 100);
}

#[test]
fn clients_of_the_main_thread_served_exactly_once_on_3_threads() {
    let log: Log = Arc::default();
    let (p, ts, ready) = servers(3, &log);
    for _ in 0..3 {
        ready.recv().unwrap();
    }
    let n = 300u32;
    let b = bundle().unwrap();
    for id in 0..n {
        let path = p.to_path_buf();
        b.go(move || client(&path, id).unwrap()).unwrap();
    }
    b.wait(dill::after(120_000)).unwrap();
    drop(ts);
    let per = assert_exactly_once(&log, n, 3);
    eprintln!("main-thread clients, served per thread: {per:?}");
}

#[test]
fn clients_in_another_process_served_exactly_once_on_4_threads() {
    let log: Log = Arc::default();
    let (p, ts, ready) = servers(4, &log);
    for _ in 0..4 {
        ready.recv().unwrap();
    }
    let n = 400u32;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "clients_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "clients")
        .env("DILL_MT_PATH", &*p)
        .env("DILL_MT_CLIENTS", n.to_string())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(CHILD_OK),
        "client process: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(ts);
    let per = assert_exactly_once(&log, n, 4);
    eprintln!("clients of another process, served per thread: {per:?}");
}

/// The client process: `DILL_MT_CLIENTS` clients in coroutines, 50 at a
/// time.
#[test]
fn clients_child() {
    if child_scenario().as_deref() != Some("clients") {
        return;
    }
    let path = std::path::PathBuf::from(std::env::var_os("DILL_MT_PATH").unwrap());
    let n: u32 = std::env::var("DILL_MT_CLIENTS").unwrap().parse().unwrap();
    let mut failures = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let cs: Vec<_> = chunk
            .iter()
            .map(|&id| {
                let path = path.clone();
                go(move || client(&path, id)).unwrap()
            })
            .collect();
        for c in cs {
            if let Err(e) = c.join(-1).unwrap() {
                eprintln!("client: {e}");
                failures += 1;
            }
        }
    }
    child_exit(failures);
}

// ---------------------------------------------------------------------------
// The thundering herd, counted.

/// The system call a thread is blocked in, or None if it is running.
#[cfg(target_os = "linux")]
fn blocked_in(tid: i64) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Waits until every thread of `tids` sleeps in `epoll_wait`: then each has
/// seen everything that happened before.
#[cfg(target_os = "linux")]
fn wait_all_asleep(tids: &[i64]) {
    let epoll = [libc::SYS_epoll_wait, libc::SYS_epoll_pwait];
    let give_up = now() + 60_000;
    while !tids
        .iter()
        .all(|&t| blocked_in(t).is_some_and(|n| epoll.contains(&n)))
    {
        assert!(now() < give_up, "threads never went to sleep");
        // Polling a condition, not waiting for things to settle: a short
        // pause leaves the CPU to the threads being watched.
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// How many times a thread has gone to sleep in the kernel (each wake-up
/// from a sleep is followed by one).
#[cfg(target_os = "linux")]
fn sleeps(tid: i64) -> usize {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Per-thread counts of a herd measurement.
#[derive(Debug, Default, Clone, Copy)]
struct Wakes {
    /// Times the wait on the listener returned to the thread.
    wakeups: usize,
    /// Connections accepted.
    accepts: usize,
    /// Times the kernel woke the thread (including wake-ups that found
    /// the connection already taken by another thread, which `epoll_wait`
    /// swallows without returning).
    kernel_wakeups: usize,
}

/// One non-blocking accept: the connection, or None on EAGAIN.
pub fn try_accept(lfd: std::os::fd::RawFd) -> Option<OwnedFd> {
    // SAFETY: null address pointers are allowed.
    let fd = unsafe {
        libc::accept4(
            lfd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "accept: {e}");
        return None;
    }
    // SAFETY: a fresh descriptor from accept4.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `threads` threads wait for connections on one listening socket, with
/// `fdin_exclusive` or with `fdin_edge`; `conns` connections come one at a
/// time, each only once every thread is asleep in `epoll_wait`. Returns the
/// counts of each thread.
#[cfg(target_os = "linux")]
fn herd(threads: usize, conns: usize, exclusive: bool) -> Vec<Wakes> {
    let p = TempPath::new("herd");
    let l = ipc_listen(&p, 128).unwrap();
    let fds: Vec<_> = (0..threads).map(|_| Some(l.share().unwrap())).collect();
    drop(l);
    let fds = std::sync::Mutex::new(fds);
    let (tid_tx, tid_rx) = mpsc::channel();
    let ts = spawn_threads(threads, move |i| {
        let fd = fds.lock().unwrap()[i].take().unwrap();
        // SAFETY: gettid takes no arguments.
        tid_tx
            .send((i, unsafe { libc::syscall(libc::SYS_gettid) }))
            .unwrap();
        let l = ipc_listener_fromfd(fd).unwrap();
        let lfd = l.as_raw_fd();
        let mut w = Wakes::default();
        loop {
            // Take every pending connection with a raw accept (ipc_accept
            // would register the socket exclusively, whatever the wait
            // below is).
            while let Some(fd) = try_accept(lfd) {
                w.accepts += 1;
                let mut s = ipc_fromfd(fd).unwrap();
                bsend(&mut s, b"!", -1).unwrap();
            }
            let waited = if exclusive {
                fdin_exclusive(lfd, -1)
            } else {
                fdin_edge(lfd, -1)
            };
            match waited {
                Ok(()) => w.wakeups += 1,
                Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => return w,
                Err(e) => panic!("wait: {e}"),
            }
        }
    })
    .unwrap();
    let mut tids: Vec<(usize, i64)> = (0..threads).map(|_| tid_rx.recv().unwrap()).collect();
    tids.sort();
    let tids: Vec<i64> = tids.into_iter().map(|(_, t)| t).collect();
    wait_all_asleep(&tids);
    let before: Vec<usize> = tids.iter().map(|&t| sleeps(t)).collect();
    for _ in 0..conns {
        wait_all_asleep(&tids);
        let mut c = ipc_connect(&p, dill::after(60_000)).unwrap();
        let mut b = [0u8; 1];
        brecv(&mut c, &mut b, dill::after(60_000)).unwrap();
    }
    wait_all_asleep(&tids);
    let kernel: Vec<usize> = tids
        .iter()
        .zip(&before)
        .map(|(&t, &b)| sleeps(t) - b)
        .collect();
    ts.cancel();
    let mut w = ts.join(-1).unwrap();
    for (w, k) in w.iter_mut().zip(kernel) {
        w.kernel_wakeups = k;
    }
    w
}

#[cfg(target_os = "linux")]
#[test]
fn a_connection_wakes_one_thread_not_the_herd() {
    let (threads, conns) = (4, 50);
    let w = herd(threads, conns, true);
    let wakeups: usize = w.iter().map(|w| w.wakeups).sum();
    let accepts: usize = w.iter().map(|w| w.accepts).sum();
    eprintln!("exclusive: {w:?}");
    assert_eq!(accepts, conns);
    // One wake-up per connection, for the thread that accepted it: the
    // idle threads were never woken.
    assert_eq!(wakeups, conns, "{w:?}");
    // The kernel hands each connection to the first thread asleep on the
    // socket, so the others stay idle all along.
    let idle = w.iter().filter(|t| t.accepts == 0).count();
    assert!(idle >= 1, "no thread stayed idle: {w:?}");
    for t in &w {
        assert_eq!(t.wakeups, t.accepts, "a thread woke for nothing: {w:?}");
        // A thread that accepted nothing was not even woken inside the
        // kernel. (One that accepted may sleep more than once per
        // connection, under valgrind for instance: only idle threads are
        // counted exactly.)
        if t.accepts == 0 {
            assert_eq!(t.kernel_wakeups, 0, "an idle thread was woken: {w:?}");
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn without_exclusive_waits_every_thread_wakes() {
    // The herd the exclusive registration avoids, measured the same way.
    let (threads, conns) = (4, 50);
    let w = herd(threads, conns, false);
    let wakeups: usize = w.iter().map(|w| w.wakeups).sum();
    let accepts: usize = w.iter().map(|w| w.accepts).sum();
    eprintln!("plain: {w:?}");
    assert_eq!(accepts, conns);
    // The thread that wins each connection returns from `epoll_wait`; the
    // others are woken in the kernel too and mostly find nothing ready (so
    // their `epoll_wait` does not return), or return and find nothing to
    // accept.
    assert!(wakeups >= conns, "{w:?}");
    for t in &w {
        assert!(
            t.kernel_wakeups >= conns,
            "every thread woke each time: {w:?}"
        );
    }
}
