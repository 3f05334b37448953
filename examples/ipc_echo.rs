//! An IPC echo service under load.
//!
//! One listener on a temporary socket path; a server coroutine accepts
//! connections and runs one echo handler coroutine per connection; many
//! client coroutines connect with `ipc_connect_mem` (socket state on their
//! own stacks, no heap) and do timed round trips, each under a deadline.
//! One extra client is cancelled on purpose while it waits, to show that
//! its blocked call returns `ECANCELED`. Everything runs on one thread.
//!
//! Run with `cargo run --release --example ipc_echo`.

use std::cell::{Cell, RefCell};
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use dill::*;

const CLIENTS: usize = 200;
const ROUND_TRIPS: usize = 250;
const MSG: usize = 64;

fn main() -> ExitCode {
    let path = std::env::temp_dir().join(format!("dill-ipc-echo-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let res = run(&path);
    let _ = std::fs::remove_file(&path);
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipc_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &PathBuf) -> io::Result<()> {
    let listener = ipc_listen(path, 128)?;
    println!("listening on {}", path.display());

    // The server: accept forever, one handler coroutine per connection.
    // Dropping `server` at the end cancels it and its handlers.
    let server = go(move || -> io::Result<()> {
        let handlers = bundle()?;
        loop {
            let s = ipc_accept(&listener, -1)?;
            handlers.go(move || echo(s))?;
        }
    })?;

    // The client that gets cancelled: it waits for a reply to a request it
    // never sent.
    let cancelled: Rc<Cell<Option<i32>>> = Rc::default();
    let victim = {
        let (path, cancelled) = (path.clone(), cancelled.clone());
        go(move || {
            let mut mem = IpcMem::new();
            let mut s = match ipc_connect_mem(&path, &mut mem, after(5000)) {
                Ok(s) => s,
                Err(e) => return cancelled.set(e.raw_os_error()),
            };
            let mut buf = [0u8; MSG];
            let r = brecv(&mut s, &mut buf, -1);
            cancelled.set(r.err().and_then(|e| e.raw_os_error()));
        })?
    };

    let latencies: Rc<RefCell<Vec<u32>>> =
        Rc::new(RefCell::new(Vec::with_capacity(CLIENTS * ROUND_TRIPS)));
    let failures: Rc<RefCell<Vec<io::Error>>> = Rc::default();
    let start = Instant::now();
    let clients = bundle()?;
    for id in 0..CLIENTS {
        let (path, lat, fail) = (path.clone(), latencies.clone(), failures.clone());
        clients.go(move || {
            if let Err(e) = client(&path, id, &lat) {
                fail.borrow_mut().push(e);
            }
        })?;
    }
    clients.wait(after(60_000))?;
    let elapsed = start.elapsed();

    // Cancel the waiting client by dropping its handle; the drop returns
    // once the coroutine has finished.
    drop(victim);
    match cancelled.get() {
        Some(errno::ECANCELED) => println!("cancelled client: brecv returned ECANCELED"),
        other => {
            return Err(io::Error::other(format!(
                "cancelled client ended with {other:?}, expected ECANCELED"
            )))
        }
    }
    drop(server);

    if let Some(e) = failures.borrow_mut().pop() {
        return Err(io::Error::new(e.kind(), format!("a client failed: {e}")));
    }
    let mut lat = latencies.borrow_mut();
    lat.sort_unstable();
    let n = lat.len();
    let pct = |p: f64| lat[((n as f64 * p) as usize).min(n - 1)];
    let secs = elapsed.as_secs_f64();
    println!(
        "{CLIENTS} clients x {ROUND_TRIPS} round trips of {MSG} bytes: {n} round trips in {:.1} ms",
        secs * 1e3
    );
    println!(
        "throughput: {:.0} round trips/s, {:.1} MB/s each way",
        n as f64 / secs,
        (n * MSG) as f64 / secs / 1e6
    );
    println!(
        "latency (us): p50 {}  p99 {}  max {}",
        pct(0.50),
        pct(0.99),
        lat[n - 1]
    );
    Ok(())
}

/// Echoes fixed-size messages until the client finishes, then closes in
/// an orderly way.
fn echo(mut s: IpcStream<'static>) {
    let mut buf = [0u8; MSG];
    loop {
        match brecv(&mut s, &mut buf, after(10_000)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(errno::EPIPE) => break,
            Err(_) => return, // cancelled, reset or timed out: just drop it
        }
        if bsend(&mut s, &buf, after(10_000)).is_err() {
            return;
        }
    }
    let _ = ipc_close(s, after(1000));
}

/// One client: connect in memory on this coroutine's stack, do timed round
/// trips, close.
fn client(path: &PathBuf, id: usize, latencies: &RefCell<Vec<u32>>) -> io::Result<()> {
    let mut mem = IpcMem::new();
    let mut s = ipc_connect_mem(path, &mut mem, after(10_000))?;
    let mut msg = [0u8; MSG];
    let mut back = [0u8; MSG];
    for i in 0..ROUND_TRIPS {
        msg[..8].copy_from_slice(&(id as u64).to_le_bytes());
        msg[8..16].copy_from_slice(&(i as u64).to_le_bytes());
        let t = Instant::now();
        bsend(&mut s, &msg, after(10_000))?;
        brecv(&mut s, &mut back, after(10_000))?;
        let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
        if back != msg {
            return Err(io::Error::other("echo mismatch"));
        }
        latencies.borrow_mut().push(us);
    }
    ipc_close(s, after(10_000))
}
