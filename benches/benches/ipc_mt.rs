//! Scaling across threads: an IPC echo service on one listening socket,
//! served by 1 or 2 threads, beside tokio's multi-thread runtime and Go
//! (GOMAXPROCS) doing the same work in the same run.
//!
//! * (a) in process: every worker thread serves the shared listener and
//!   also runs its share of the clients, which connect to the shared path,
//!   so a connection lands on any thread. dill: `spawn_threads`, one
//!   listener per thread over the same socket (`IpcListener::share` +
//!   `ipc_listener_fromfd`, `EPOLLEXCLUSIVE`). tokio: a multi-thread runtime
//!   with that many workers, one accept task. Go: one process with
//!   GOMAXPROCS set, one accept goroutine.
//! * (b) clients in another process: the server as above with no clients of
//!   its own; the clients are this binary run again as a client process
//!   (dill, the same number of threads as the server), identical for the
//!   three servers.
//!
//! Work: `CLIENTS` clients, each `CONNS` connections of `RTS` round trips of
//! `MSG` bytes. Reported: round trips per second, the median of `RUNS` runs
//! (environment `DILL_MT_RUNS`, default 5) after one warm-up run.
//!
//! The Go peer is the program in `benches/go/ipc_mt`; give its binary in
//! `DILL_BENCH_GO` (`scripts/bench-mt` builds it). Without it the Go
//! columns say so.
//!
//! Run with `scripts/bench-mt`, or
//! `cargo bench -p dill-bench --bench ipc_mt`. One cell alone, for
//! experiments: `DILL_MT_ONLY=<cell>:<threads>` (cells `dill-a`, `dill-b`,
//! `tokio-a`, `tokio-b`, `go-a`, `go-b`) prints its time; with it,
//! `DILL_IDLE_YIELDS` sets the server's idle behaviour and
//! `DILL_MT_CLIENT_IDLE_YIELDS` the client process's.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use dill::*;

const CLIENTS: usize = 200;
const CONNS: usize = 5;
const RTS: usize = 100;
const MSG: usize = 64;
const TOTAL: usize = CLIENTS * CONNS * RTS;

/// Environment variables that make this binary a client process.
const CLIENT_ENV: &str = "DILL_MT_CLIENT_PATH";
const CLIENT_THREADS_ENV: &str = "DILL_MT_CLIENT_THREADS";
/// Runs one cell and prints its time (`ELAPSED_NS <n>`): `<cell>:<threads>`,
/// cell one of dill-a, dill-b, tokio-a, tokio-b, go-a, go-b.
const ONLY_ENV: &str = "DILL_MT_ONLY";
/// The runtime's knob for what an idle thread does before sleeping.
const IDLE_ENV: &str = "DILL_IDLE_YIELDS";
/// [`IDLE_ENV`] for the client process (unset: the runtime's default).
const CLIENT_IDLE_ENV: &str = "DILL_MT_CLIENT_IDLE_YIELDS";

fn sock_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("dill-bench-mt-{tag}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

// ---------------------------------------------------------------------------
// dill

/// The echo handler of every dill server.
fn dill_echo(mut s: IpcStream<'static>) {
    let mut buf = [0u8; MSG];
    while brecv(&mut s, &mut buf, -1).is_ok() {
        if bsend(&mut s, &buf, -1).is_err() {
            return;
        }
    }
}

/// Accepts on this thread's listener until cancelled.
fn dill_server(fd: OwnedFd) -> std::io::Result<()> {
    let l = ipc_listener_fromfd(fd)?;
    let handlers = bundle()?;
    loop {
        let s = ipc_accept(&l, -1)?;
        handlers.go(move || dill_echo(s))?;
    }
}

/// One client: `CONNS` connections of `RTS` round trips.
fn dill_client(path: &Path) -> std::io::Result<()> {
    let mut msg = [0u8; MSG];
    let mut back = [0u8; MSG];
    for _ in 0..CONNS {
        let mut mem = IpcMem::new();
        let mut s = ipc_connect_mem(path, &mut mem, after(30_000))?;
        for i in 0..RTS {
            msg[0] = i as u8;
            bsend(&mut s, &msg, -1)?;
            brecv(&mut s, &mut back, after(30_000))?;
        }
    }
    Ok(())
}

/// Runs `n` clients in coroutines of this thread, waits for all.
fn dill_clients(path: &Path, n: usize) -> std::io::Result<()> {
    let b = bundle()?;
    let failed = std::rc::Rc::new(std::cell::Cell::new(false));
    for _ in 0..n {
        let path = path.to_path_buf();
        let failed = failed.clone();
        b.go(move || {
            if let Err(e) = dill_client(&path) {
                eprintln!("dill client: {e}");
                failed.set(true);
            }
        })?;
    }
    b.wait(-1)?;
    if failed.get() {
        return Err(std::io::Error::other("a client failed"));
    }
    Ok(())
}

/// Share of `total` for thread `i` of `n`.
fn share(total: usize, i: usize, n: usize) -> usize {
    total / n + usize::from(i < total % n)
}

/// `threads` server threads over one listening socket at `path`, serving
/// until the handle is dropped.
fn dill_servers(path: &Path, threads: usize) -> Threads<()> {
    let l = ipc_listen(path, 1024).unwrap();
    let fds: Vec<Option<OwnedFd>> = (0..threads).map(|_| Some(l.share().unwrap())).collect();
    drop(l);
    let fds = Mutex::new(fds);
    spawn_threads(threads, move |i| {
        let fd = fds.lock().unwrap()[i].take().unwrap();
        let _server = go(move || dill_server(fd)).unwrap();
        let _ = msleep(-1);
    })
    .unwrap()
}

fn dill_inproc(threads: usize) -> Duration {
    let path = sock_path("dill");
    let l = ipc_listen(&path, 1024).unwrap();
    let fds: Vec<Option<OwnedFd>> = (0..threads).map(|_| Some(l.share().unwrap())).collect();
    drop(l);
    let fds = Mutex::new(fds);
    let start = Arc::new(Barrier::new(threads + 1));
    let (done_tx, done_rx) = mpsc::channel::<bool>();
    let ts = spawn_threads(threads, {
        let path = path.clone();
        let start = Arc::clone(&start);
        move |i| {
            let fd = fds.lock().unwrap()[i].take().unwrap();
            let _server = go(move || dill_server(fd)).unwrap();
            // Every thread has its listener before any client connects.
            start.wait();
            let ok = dill_clients(&path, share(CLIENTS, i, threads)).is_ok();
            done_tx.send(ok).unwrap();
            // Serve the other threads' clients until cancelled.
            let _ = msleep(-1);
        }
    })
    .unwrap();
    start.wait();
    let t0 = Instant::now();
    for _ in 0..threads {
        assert!(done_rx.recv().unwrap(), "dill clients failed");
    }
    let elapsed = t0.elapsed();
    drop(ts);
    let _ = std::fs::remove_file(&path);
    elapsed
}

/// The client process: `CLIENTS` clients on `threads` dill threads.
fn client_process(path: PathBuf, threads: usize) -> ! {
    let ts = spawn_threads(threads, move |i| {
        dill_clients(&path, share(CLIENTS, i, threads)).is_ok()
    })
    .unwrap();
    let ok = ts.join(-1).unwrap().into_iter().all(|ok| ok);
    std::process::exit(if ok { 0 } else { 1 });
}

/// Runs the client process against `path`; its elapsed time.
fn run_client_process(path: &Path, threads: usize) -> Duration {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CLIENT_ENV, path)
        .env(CLIENT_THREADS_ENV, threads.to_string())
        .env_remove(IDLE_ENV);
    // The client's own idle behaviour, for experiments: default otherwise.
    if let Some(v) = std::env::var_os(CLIENT_IDLE_ENV) {
        cmd.env(IDLE_ENV, v);
    }
    let t0 = Instant::now();
    let st = cmd.status().unwrap();
    let elapsed = t0.elapsed();
    assert!(st.success(), "client process failed");
    elapsed
}

/// Runs one cell named as in [`ONLY_ENV`] in this process.
fn only_cell(only: &str) -> Duration {
    let (what, n) = only.split_once(':').expect("DILL_MT_ONLY=<cell>:<threads>");
    let n: usize = n.parse().expect("DILL_MT_ONLY: thread count");
    let go = || go_bin().expect("DILL_MT_ONLY: go cells need DILL_BENCH_GO");
    match what {
        "dill-a" => dill_inproc(n),
        "dill-b" => dill_outproc(n),
        "tokio-a" => tk::inproc(n),
        "tokio-b" => tk::outproc(n),
        "go-a" => go_inproc(&go(), n),
        "go-b" => go_outproc(&go(), n),
        _ => panic!("DILL_MT_ONLY: unknown cell {what}"),
    }
}

/// (b) with a dill server whose idle threads sleep at once
/// (`DILL_IDLE_YIELDS=0`, read once per process, hence a server process of
/// its own); the client process is the same as everywhere.
fn dill_outproc_sleep_at_once(threads: usize) -> Duration {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ONLY_ENV, format!("dill-b:{threads}"))
        .env(IDLE_ENV, "0")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "server process failed");
    let ns = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("ELAPSED_NS ")?.trim().parse::<u64>().ok())
        .expect("server process printed no time");
    Duration::from_nanos(ns)
}

fn dill_outproc(threads: usize) -> Duration {
    let path = sock_path("dill-srv");
    let ts = dill_servers(&path, threads);
    let elapsed = run_client_process(&path, threads);
    drop(ts);
    let _ = std::fs::remove_file(&path);
    elapsed
}

// ---------------------------------------------------------------------------
// tokio

mod tk {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{UnixListener, UnixStream};

    pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap()
    }

    async fn echo(mut s: UnixStream) {
        let mut buf = [0u8; MSG];
        while s.read_exact(&mut buf).await.is_ok() {
            if s.write_all(&buf).await.is_err() {
                return;
            }
        }
    }

    pub async fn serve(l: UnixListener) {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(echo(s));
        }
    }

    async fn client(path: PathBuf) -> std::io::Result<()> {
        let mut msg = [0u8; MSG];
        let mut back = [0u8; MSG];
        for _ in 0..CONNS {
            let mut s = UnixStream::connect(&path).await?;
            for i in 0..RTS {
                msg[0] = i as u8;
                s.write_all(&msg).await?;
                s.read_exact(&mut back).await?;
            }
        }
        Ok(())
    }

    pub fn inproc(threads: usize) -> Duration {
        let path = sock_path("tokio");
        let rt = runtime(threads);
        let elapsed = rt.block_on(async {
            let l = UnixListener::bind(&path).unwrap();
            let server = tokio::spawn(serve(l));
            let t0 = Instant::now();
            let clients: Vec<_> = (0..CLIENTS)
                .map(|_| tokio::spawn(client(path.clone())))
                .collect();
            for c in clients {
                c.await.unwrap().unwrap();
            }
            let elapsed = t0.elapsed();
            server.abort();
            elapsed
        });
        drop(rt);
        let _ = std::fs::remove_file(&path);
        elapsed
    }

    pub fn outproc(threads: usize) -> Duration {
        let path = sock_path("tokio-srv");
        let rt = runtime(threads);
        let l = rt.block_on(async { UnixListener::bind(&path).unwrap() });
        let server = rt.spawn(serve(l));
        let elapsed = run_client_process(&path, threads);
        server.abort();
        drop(rt);
        let _ = std::fs::remove_file(&path);
        elapsed
    }
}

// ---------------------------------------------------------------------------
// Go

fn go_bin() -> Option<PathBuf> {
    let p = std::env::var_os("DILL_BENCH_GO")?;
    let p = PathBuf::from(p);
    p.exists().then_some(p)
}

fn go_inproc(bin: &Path, threads: usize) -> Duration {
    let path = sock_path("go");
    let out = Command::new(bin)
        .env("GOMAXPROCS", threads.to_string())
        .args(["inproc", path.to_str().unwrap()])
        .args([CLIENTS, CONNS, RTS, MSG].map(|n| n.to_string()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    let mut it = s.split_whitespace().map(|w| w.parse::<u64>().unwrap());
    assert_eq!(it.next(), Some(TOTAL as u64));
    Duration::from_nanos(it.next().unwrap())
}

fn go_outproc(bin: &Path, threads: usize) -> Duration {
    let path = sock_path("go-srv");
    let mut child = Command::new(bin)
        .env("GOMAXPROCS", threads.to_string())
        .args(["server", path.to_str().unwrap(), &MSG.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let elapsed = run_client_process(&path, threads);
    // Closing its stdin stops the server.
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.flush();
    drop(stdin);
    child.wait().unwrap();
    elapsed
}

// ---------------------------------------------------------------------------
// The thundering herd, counted

/// How many times thread `tid` of this process has gone to sleep.
fn sleeps(tid: i64) -> usize {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Whether thread `tid` sleeps in `epoll_wait`.
fn in_epoll_wait(tid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
        .is_some_and(|n| n == libc::SYS_epoll_wait || n == libc::SYS_epoll_pwait)
}

/// `threads` idle threads wait for connections on one listening socket
/// (with `fdin_exclusive`, as `ipc_accept` does, or with a plain
/// `fdin_edge`); `conns` connections arrive one at a time, each once every
/// thread sleeps. Returns the kernel wake-ups of all threads per
/// connection.
fn herd(threads: usize, conns: usize, exclusive: bool) -> f64 {
    let path = sock_path("herd");
    let l = ipc_listen(&path, 128).unwrap();
    let fds = Mutex::new(
        (0..threads)
            .map(|_| Some(l.share().unwrap()))
            .collect::<Vec<_>>(),
    );
    drop(l);
    let (tid_tx, tid_rx) = mpsc::channel();
    let ts = spawn_threads(threads, move |i| {
        use std::os::fd::AsRawFd;
        let l = ipc_listener_fromfd(fds.lock().unwrap()[i].take().unwrap()).unwrap();
        // SAFETY: gettid has no arguments.
        tid_tx
            .send((i, unsafe { libc::syscall(libc::SYS_gettid) }))
            .unwrap();
        loop {
            // A raw accept: ipc_accept would register the socket
            // exclusively, whatever the wait below is.
            loop {
                // SAFETY: null address pointers are allowed.
                let fd = unsafe {
                    libc::accept4(
                        l.as_raw_fd(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    )
                };
                if fd < 0 {
                    break;
                }
                // SAFETY: a fresh descriptor from accept4.
                let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                let mut s = ipc_fromfd(fd).unwrap();
                let _ = bsend(&mut s, b"!", -1);
            }
            let w = if exclusive {
                fdin_exclusive(l.as_raw_fd(), -1)
            } else {
                fdin_edge(l.as_raw_fd(), -1)
            };
            if w.is_err() {
                return;
            }
        }
    })
    .unwrap();
    let mut tids: Vec<(usize, i64)> = (0..threads).map(|_| tid_rx.recv().unwrap()).collect();
    tids.sort();
    let tids: Vec<i64> = tids.into_iter().map(|t| t.1).collect();
    let asleep = || {
        while !tids.iter().all(|&t| in_epoll_wait(t)) {
            // Polling a condition, not waiting for things to settle: a short
            // pause leaves the CPU to the threads being watched.
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    };
    asleep();
    let before: usize = tids.iter().map(|&t| sleeps(t)).sum();
    for _ in 0..conns {
        asleep();
        let mut c = ipc_connect(&path, after(10_000)).unwrap();
        brecv(&mut c, &mut [0u8; 1], after(10_000)).unwrap();
    }
    asleep();
    let woke = tids.iter().map(|&t| sleeps(t)).sum::<usize>() - before;
    drop(ts);
    let _ = std::fs::remove_file(&path);
    woke as f64 / conns as f64
}

// ---------------------------------------------------------------------------

/// CPU time used so far by this process and its waited-for children (the
/// Go programs and client processes), in microseconds.
fn cpu_us() -> f64 {
    let mut total = 0.0;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: rusage is plain data, filled in by getrusage.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is valid for writes.
        unsafe { libc::getrusage(who, &mut ru) };
        for tv in [ru.ru_utime, ru.ru_stime] {
            total += tv.tv_sec as f64 * 1e6 + tv.tv_usec as f64;
        }
    }
    total
}

/// One cell of a table: round trips per second and CPU time (all threads
/// and processes) per round trip, medians over the runs.
#[derive(Clone, Copy, Debug)]
struct Cell {
    rate: f64,
    cpu_us: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs each contender once as a warm-up, then `runs` rounds in which each
/// runs once in turn (so that a change in the box's load hits all of them
/// alike); a cell per contender.
fn measure(runs: usize, contenders: &mut [&mut dyn FnMut() -> Duration]) -> Vec<Cell> {
    for f in contenders.iter_mut() {
        f();
    }
    let mut rates = vec![Vec::new(); contenders.len()];
    let mut cpus = vec![Vec::new(); contenders.len()];
    for _ in 0..runs {
        for (i, f) in contenders.iter_mut().enumerate() {
            let c0 = cpu_us();
            let d = f();
            let c1 = cpu_us();
            rates[i].push(TOTAL as f64 / d.as_secs_f64());
            cpus[i].push((c1 - c0) / TOTAL as f64);
        }
    }
    rates
        .into_iter()
        .zip(cpus)
        .map(|(r, c)| Cell {
            rate: median(r),
            cpu_us: median(c),
        })
        .collect()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    if let Some(path) = std::env::var_os(CLIENT_ENV) {
        let threads = std::env::var(CLIENT_THREADS_ENV)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(1);
        client_process(PathBuf::from(path), threads);
    }
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    if let Ok(only) = std::env::var(ONLY_ENV) {
        let t = only_cell(&only);
        println!("ELAPSED_NS {}", t.as_nanos());
        return;
    }
    let runs: usize = std::env::var("DILL_MT_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let go = go_bin();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_before = loadavg();

    // Per thread count: [dill, tokio, Go?] cells for (a) and for (b).
    let mut a: Vec<Vec<Cell>> = Vec::new();
    let mut b: Vec<Vec<Cell>> = Vec::new();
    // (b) again with the server's idle threads sleeping at once.
    let mut b_sleep: Vec<Cell> = Vec::new();
    for threads in [1, 2] {
        let mut d = || dill_inproc(threads);
        let mut t = || tk::inproc(threads);
        let mut g = || go_inproc(go.as_deref().unwrap(), threads);
        let mut set: Vec<&mut dyn FnMut() -> Duration> = vec![&mut d, &mut t];
        if go.is_some() {
            set.push(&mut g);
        }
        a.push(measure(runs, &mut set));
        let mut d = || dill_outproc(threads);
        let mut t = || tk::outproc(threads);
        let mut g = || go_outproc(go.as_deref().unwrap(), threads);
        let mut d0 = || dill_outproc_sleep_at_once(threads);
        let mut set: Vec<&mut dyn FnMut() -> Duration> = vec![&mut d, &mut t, &mut d0];
        if go.is_some() {
            set.push(&mut g);
        }
        let mut cells = measure(runs, &mut set);
        // Keep the table's order (dill, tokio, Go); the variant goes aside.
        b_sleep.push(cells.remove(2));
        b.push(cells);
    }
    let herd_threads = 4;
    let herd_plain = herd(herd_threads, 200, false);
    let herd_exclusive = herd(herd_threads, 200, true);
    let load_after = loadavg();

    println!();
    println!(
        "IPC echo, {CLIENTS} clients x {CONNS} connections x {RTS} round trips of {MSG} bytes. \
         Each cell: round trips per second, and CPU time (every thread and process of the run) \
         per round trip; medians of {runs} runs, the contenders taking turns. {cpus} CPUs; load \
         average {load_before} before, {load_after} after (other builds share the box: with the \
         load above the CPU count, the threads do not get two CPUs and the rates show it; the CPU \
         time per round trip shows the cost of the work itself). The \"CPU-cost bound\" row is \
         2 x (CPU time per round trip at 1 thread) / (at 2 threads): the scaling two CPUs wholly \
         given to the run would allow at these costs, an estimate, not a measurement."
    );
    if go.is_none() {
        println!();
        println!(
            "Go: not measured (go missing: set DILL_BENCH_GO to the binary of benches/go/ipc_mt; \
             scripts/bench-mt builds it when `go` is installed)."
        );
    }
    println!();
    println!(
        "Thundering herd: {herd_threads} idle threads accept from one socket, 200 connections one \
         at a time; kernel wake-ups (all threads) per connection: plain registration \
         {herd_plain:.2}, EPOLLEXCLUSIVE (what ipc_accept uses) {herd_exclusive:.2}."
    );
    let cell = |c: Option<&Cell>| {
        c.map_or_else(
            || "go missing".to_string(),
            |c| format!("{:.0}k/s, {:.1} µs", c.rate / 1e3, c.cpu_us),
        )
    };
    let ratio = |x: &Cell, y: Option<&Cell>| {
        y.map_or_else(|| "-".to_string(), |y| format!("{:.2}x", x.rate / y.rate))
    };
    let table = |rows: &[Vec<Cell>], first: &str| {
        println!();
        println!("| {first} | dill | tokio multi-thread | Go | dill / tokio | dill / Go |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        for (i, r) in rows.iter().enumerate() {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                i + 1,
                cell(r.first()),
                cell(r.get(1)),
                cell(r.get(2)),
                ratio(&r[0], r.get(1)),
                ratio(&r[0], r.get(2)),
            );
        }
        let scale = |j: usize| match (rows[0].get(j), rows[1].get(j)) {
            (Some(x), Some(y)) => format!("{:.2}x", y.rate / x.rate),
            _ => "-".into(),
        };
        println!(
            "| 2 vs 1 | {} | {} | {} | | |",
            scale(0),
            scale(1),
            scale(2)
        );
        // What two whole CPUs would give at these costs: twice the work per
        // CPU second at 2 threads, over the work per CPU second at 1.
        let bound = |j: usize| match (rows[0].get(j), rows[1].get(j)) {
            (Some(x), Some(y)) => format!("{:.2}x", 2.0 * x.cpu_us / y.cpu_us),
            _ => "-".into(),
        };
        println!(
            "| 2 vs 1, CPU-cost bound | {} | {} | {} | | |",
            bound(0),
            bound(1),
            bound(2)
        );
    };
    println!();
    println!("(a) clients in the worker threads, all connecting to the one shared listener:");
    table(&a, "threads");
    println!();
    println!(
        "(b) clients in another process (a dill client process with as many threads as the \
         server):"
    );
    table(&b, "server threads");
    println!();
    println!(
        "The same (b) with dill's idle server threads sleeping in `epoll_wait` at once \
         (`{IDLE_ENV}=0`) instead of first yielding the CPU and looking again up to 3 times, \
         measured in turn with the others: {}.",
        b_sleep
            .iter()
            .zip(&b)
            .enumerate()
            .map(|(i, (z, r))| format!(
                "{} thread{}: {:.0}k/s, {:.1} µs (yielding first gives {:.2}x)",
                i + 1,
                if i == 0 { "" } else { "s" },
                z.rate / 1e3,
                z.cpu_us,
                r[0].rate / z.rate
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
}
