//! The IPC echo service of `ipc_echo`, with one scheduler per core.
//!
//! One listening socket; `spawn_threads` starts one thread per core, each
//! with its own scheduler and its own listener over the same socket
//! (`IpcListener::share` + `ipc_listener_fromfd`), so any thread can accept
//! any connection and a connection wakes only one of them. Each thread runs
//! an accept loop with one echo handler coroutine per connection, and its
//! share of the client coroutines, which connect to the shared path: their
//! connections land on whichever thread accepts them. Each thread says over
//! a shared channel when its clients are done; then the main thread cancels
//! the threads; each thread's coroutines are
//! cancelled and joined before it exits, and it reports what it did.
//!
//! Run with `cargo run --release --example ipc_echo_mt [threads]`.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Instant;

use dill::*;

const CLIENTS: usize = 200;
const ROUND_TRIPS: usize = 500;
const MSG: usize = 64;

/// What one thread did.
#[derive(Debug, Default)]
struct Stats {
    /// Connections its listener accepted.
    accepted: usize,
    /// Round trips its echo handlers served.
    served: usize,
    /// Round trips its own clients completed.
    client_round_trips: usize,
    /// Whether its accept loop ended with ECANCELED when the thread was
    /// cancelled.
    accept_cancelled: bool,
}

fn main() -> ExitCode {
    let threads = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let path = std::env::temp_dir().join(format!("dill-ipc-echo-mt-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let res = run(&path, threads);
    let _ = std::fs::remove_file(&path);
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipc_echo_mt: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &Path, threads: usize) -> io::Result<()> {
    let listener = ipc_listen(path, 512)?;
    // One descriptor of the listening socket per thread.
    let fds: Vec<Option<OwnedFd>> = (0..threads)
        .map(|_| listener.share().map(Some))
        .collect::<io::Result<_>>()?;
    drop(listener);
    let fds = Mutex::new(fds);
    println!(
        "listening on {} with {threads} threads, one scheduler each",
        path.display()
    );

    // Each thread says when its clients are done (or failed), over a
    // shared channel: the main thread's wait suspends only its coroutine.
    // Room for every thread's message, so no thread waits to send it.
    let (done_tx, done_rx) = chmake_shared::<io::Result<()>>(threads)?;
    let start = Instant::now();
    let workers = spawn_threads(threads, {
        let path = path.to_path_buf();
        move |i| -> io::Result<Stats> {
            let fd = fds.lock().unwrap()[i]
                .take()
                .expect("one descriptor per thread");
            worker(i, threads, fd, &path, &done_tx)
        }
    })?;
    for _ in 0..threads {
        done_rx.recv(after(120_000))??;
    }
    let elapsed = start.elapsed();

    // Every client is done: stop the servers. Each thread's coroutines are
    // cancelled and joined, then its function returns its counts.
    workers.cancel();
    let stats = workers
        .join(after(10_000))?
        .into_iter()
        .collect::<io::Result<Vec<_>>>()?;

    println!("thread  accepted  served round trips  client round trips  accept loop");
    for (i, s) in stats.iter().enumerate() {
        println!(
            "{i:>6}  {:>8}  {:>18}  {:>18}  {}",
            s.accepted,
            s.served,
            s.client_round_trips,
            if s.accept_cancelled {
                "ECANCELED"
            } else {
                "ended"
            }
        );
    }
    let served: usize = stats.iter().map(|s| s.served).sum();
    let accepted: usize = stats.iter().map(|s| s.accepted).sum();
    let secs = elapsed.as_secs_f64();
    println!(
        "{CLIENTS} clients x {ROUND_TRIPS} round trips of {MSG} bytes: {served} round trips in {:.1} ms, {:.0} round trips/s",
        secs * 1e3,
        served as f64 / secs
    );
    if accepted != CLIENTS || served != CLIENTS * ROUND_TRIPS {
        return Err(io::Error::other(format!(
            "expected {CLIENTS} connections and {} round trips, counted {accepted} and {served}",
            CLIENTS * ROUND_TRIPS
        )));
    }
    if !stats.iter().all(|s| s.accept_cancelled) {
        return Err(io::Error::other(
            "an accept loop did not end with ECANCELED",
        ));
    }
    Ok(())
}

/// One thread: serve the shared listener, run this thread's clients, then
/// keep serving until cancelled.
fn worker(
    i: usize,
    threads: usize,
    fd: OwnedFd,
    path: &Path,
    done: &SharedChan<io::Result<()>>,
) -> io::Result<Stats> {
    let listener = ipc_listener_fromfd(fd)?;
    let accepted = Rc::new(Cell::new(0usize));
    let served = Rc::new(Cell::new(0usize));
    let accept_cancelled = Rc::new(Cell::new(false));
    let server = {
        let (accepted, served, accept_cancelled) =
            (accepted.clone(), served.clone(), accept_cancelled.clone());
        go(move || -> io::Result<()> {
            let handlers = bundle()?;
            loop {
                let s = match ipc_accept(&listener, -1) {
                    Ok(s) => s,
                    Err(e) => {
                        accept_cancelled.set(e.raw_os_error() == Some(errno::ECANCELED));
                        return Err(e);
                    }
                };
                accepted.set(accepted.get() + 1);
                let served = served.clone();
                handlers.go(move || echo(s, &served))?;
            }
        })?
    };

    // This thread's share of the clients.
    let mine = CLIENTS / threads + usize::from(i < CLIENTS % threads);
    let round_trips = Rc::new(Cell::new(0usize));
    let failure: Rc<RefCell<Option<io::Error>>> = Rc::default();
    let clients = bundle()?;
    for _ in 0..mine {
        let (path, rt, fail) = (path.to_path_buf(), round_trips.clone(), failure.clone());
        clients.go(move || {
            if let Err(e) = client(&path, &rt) {
                *fail.borrow_mut() = Some(e);
            }
        })?;
    }
    let waited = clients.wait(after(60_000));
    let res = match failure.borrow_mut().take() {
        Some(e) => Err(e),
        None => waited,
    };
    let _ = done.send(res, after(10_000));

    // Serve the other threads' clients until the thread is cancelled.
    let _ = msleep(-1);
    // Cancels the accept loop and its handlers, and waits for them.
    drop(server);
    Ok(Stats {
        accepted: accepted.get(),
        served: served.get(),
        client_round_trips: round_trips.get(),
        accept_cancelled: accept_cancelled.get(),
    })
}

/// Echoes fixed-size messages until the client finishes, counting them.
fn echo(mut s: IpcStream<'static>, served: &Cell<usize>) {
    let mut buf = [0u8; MSG];
    loop {
        match brecv(&mut s, &mut buf, after(10_000)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(errno::EPIPE) => break,
            Err(_) => return,
        }
        if bsend(&mut s, &buf, after(10_000)).is_err() {
            return;
        }
        served.set(served.get() + 1);
    }
    let _ = ipc_close(s, after(1000));
}

/// One client: connect (state on this coroutine's stack), round trips,
/// close.
fn client(path: &Path, round_trips: &Cell<usize>) -> io::Result<()> {
    let mut mem = IpcMem::new();
    let mut s = ipc_connect_mem(path, &mut mem, after(10_000))?;
    let mut msg = [0u8; MSG];
    let mut back = [0u8; MSG];
    for i in 0..ROUND_TRIPS {
        msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
        bsend(&mut s, &msg, after(10_000))?;
        brecv(&mut s, &mut back, after(10_000))?;
        if back != msg {
            return Err(io::Error::other("echo mismatch"));
        }
        round_trips.set(round_trips.get() + 1);
    }
    ipc_close(s, after(10_000))
}
