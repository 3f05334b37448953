//! Scale benchmarks: dill with up to a million coroutines on one thread,
//! beside tokio and may doing the same work (and Go, in `benches/go/`, run
//! by `scripts/bench-scale`, which also prints the table).
//!
//! A harness-less program: `cargo bench -p dill-bench --bench scale -- CMD`,
//! where CMD is one of
//!
//! * `skynet`: 1,111,111 coroutines in a 10-ary tree, each leaf sending its
//!   number up, each inner node summing its children's over a channel;
//! * `parked N`: spawn N coroutines that park in a channel receive (time per
//!   spawn, RSS per parked coroutine), then wake them all and wait until
//!   they have finished (time per coroutine);
//! * `alive N`: with N other coroutines parked, a yield between two
//!   coroutines, a channel ping-pong, and a ping-pong whose every receive
//!   arms a timer (deadline an hour away) that the send cancels;
//!
//! and `tokio-skynet`, `tokio-parked N`, `may-skynet`, `may-parked N` run the
//! same work on a current-thread tokio runtime and on may with one worker.
//! Each run prints `RESULT <key> <value>` lines; run `parked` in a fresh
//! process per N, so that RSS is measured from a clean start.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use dill::{chmake, go, now, yield_now, Chan, Coroutine};

mod baselines;
use baselines::{on_may, tokio_rt};

fn result(key: &str, value: f64) {
    println!("RESULT {key} {value:.1}");
}

/// The `parked N` results: spawn time and RSS growth per coroutine, and
/// the wake-and-finish time per coroutine where measured.
fn parked_results(n: usize, spawn: Duration, rss_grew: usize, wake: Option<Duration>) {
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    result(&format!("spawn_parked_ns@{n}"), per(spawn));
    result(
        &format!("rss_per_parked_bytes@{n}"),
        rss_grew as f64 / n as f64,
    );
    if let Some(w) = wake {
        result(&format!("wake_finish_ns@{n}"), per(w));
    }
}

/// Resident set size of this process in bytes.
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

const SKYNET_SIZE: u64 = 1_000_000;
const SKYNET_SUM: u64 = SKYNET_SIZE * (SKYNET_SIZE - 1) / 2;

fn dill_skynet_node(tx: Chan<u64>, num: u64, size: u64) {
    if size == 1 {
        tx.send(num, -1).unwrap();
        return;
    }
    let (ctx, crx) = chmake::<u64>().unwrap();
    let sub = size / 10;
    let hs: [Coroutine<()>; 10] = std::array::from_fn(|i| {
        let c = ctx.clone();
        go(move || dill_skynet_node(c, num + i as u64 * sub, sub)).unwrap()
    });
    let mut sum = 0;
    for _ in 0..10 {
        sum += crx.recv(-1).unwrap();
    }
    drop(hs);
    tx.send(sum, -1).unwrap();
}

fn dill_skynet() {
    let run = || {
        let t = Instant::now();
        let (tx, rx) = chmake::<u64>().unwrap();
        let h = go(move || dill_skynet_node(tx, 0, SKYNET_SIZE)).unwrap();
        assert_eq!(rx.recv(-1).unwrap(), SKYNET_SUM);
        h.join(-1).unwrap();
        t.elapsed().as_secs_f64() * 1e3
    };
    run();
    result("skynet_ms", median(run));
}

/// Median of five runs.
fn median(mut f: impl FnMut() -> f64) -> f64 {
    let mut xs: Vec<f64> = (0..5).map(|_| f()).collect();
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[2]
}

fn dill_parked(n: usize) {
    let (tx, rx) = chmake::<()>().unwrap();
    let mut hs: Vec<Coroutine<()>> = Vec::with_capacity(n);
    let rss0 = rss();
    let t = Instant::now();
    for _ in 0..n {
        let rx = rx.clone();
        hs.push(go(move || rx.recv(-1).unwrap()).unwrap());
    }
    let spawn = t.elapsed();
    let rss1 = rss();
    let t = Instant::now();
    for _ in 0..n {
        tx.send((), -1).unwrap();
    }
    for h in hs {
        h.join(-1).unwrap();
    }
    let wake = t.elapsed();
    parked_results(n, spawn, rss1 - rss0, Some(wake));
}

/// The kernel's share of `parked N`, with no runtime at all: one
/// `MAP_NORESERVE` region of N slots of the default stack size plus a
/// guard page, the guards installed in batches of 64 with one
/// `process_madvise(MADV_GUARD_INSTALL)` call each (as dill's stack pool
/// does), and one write to the top page of each stack (the page a parked
/// coroutine touches). What `spawn_parked_ns` cannot go below on this
/// machine. Linux 6.13 and later; elsewhere it reports nothing.
fn floor_parked(n: usize) {
    const MADV_GUARD_INSTALL: libc::c_int = 102;
    const PIDFD_SELF: libc::c_int = -10001;
    const BATCH: usize = 64;
    let page = 4096;
    let slot = dill::default_stack_size() + page;
    let len = n * slot;
    // SAFETY: a fresh private anonymous mapping; nothing else uses it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED, "mmap of the floor's region");
    let base = base as usize;
    let rss0 = rss();
    let t = Instant::now();
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH];
    let mut i = 0;
    while i < n {
        let k = BATCH.min(n - i);
        for (j, v) in iov[..k].iter_mut().enumerate() {
            v.iov_base = (base + (i + j) * slot) as *mut libc::c_void;
            v.iov_len = page;
        }
        // SAFETY: the iovecs name pages of our own mapping.
        let r = unsafe {
            libc::syscall(
                libc::SYS_process_madvise,
                PIDFD_SELF,
                iov.as_ptr(),
                k,
                MADV_GUARD_INSTALL,
                0,
            )
        };
        if r < 0 {
            eprintln!(
                "process_madvise(MADV_GUARD_INSTALL): {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        for j in 0..k {
            let top = base + (i + j + 1) * slot - 64;
            // SAFETY: inside the mapping, above the slot's guard page.
            unsafe { std::ptr::write_volatile(top as *mut u64, 1) };
        }
        i += k;
    }
    let spawn = t.elapsed();
    let rss1 = rss();
    parked_results(n, spawn, rss1 - rss0, None);
}

fn dill_alive(others: usize) {
    // The others: half parked in a receive, half in a receive with a
    // deadline (armed timers) that is earlier than the ping-pong's, as when
    // every request gets the same timeout.
    let (otx, orx) = chmake::<()>().unwrap();
    let early = now() + 1_800_000;
    let hs: Vec<Coroutine<()>> = (0..others)
        .map(|i| {
            let orx = orx.clone();
            go(move || {
                let d = if i % 2 == 0 { -1 } else { early };
                let _ = orx.recv(d);
            })
            .unwrap()
        })
        .collect();

    const YIELDS: u64 = 1_000_000;
    let yield_ns = median(|| {
        let start = Rc::new(Cell::new(None::<Instant>));
        let s2 = start.clone();
        let a = go(move || {
            s2.set(Some(Instant::now()));
            for _ in 0..YIELDS / 2 {
                yield_now().unwrap();
            }
        })
        .unwrap();
        let b = go(move || {
            for _ in 0..YIELDS / 2 {
                yield_now().unwrap();
            }
        })
        .unwrap();
        a.join(-1).unwrap();
        b.join(-1).unwrap();
        start.get().unwrap().elapsed().as_nanos() as f64 / YIELDS as f64
    });
    result(&format!("yield_ns@{others}"), yield_ns);

    const MSGS: u64 = 500_000;
    let pingpong = |timed: bool| {
        let (a_tx, a_rx) = chmake::<u64>().unwrap();
        let (b_tx, b_rx) = chmake::<u64>().unwrap();
        let far = if timed { now() + 3_600_000 } else { -1 };
        let echo = go(move || {
            for _ in 0..MSGS {
                let v = a_rx.recv(far).unwrap();
                b_tx.send(v + 1, -1).unwrap();
            }
        })
        .unwrap();
        let t = Instant::now();
        let mut v = 0;
        for _ in 0..MSGS {
            a_tx.send(v, -1).unwrap();
            v = b_rx.recv(far).unwrap();
        }
        let el = t.elapsed();
        assert_eq!(black_box(v), MSGS);
        echo.join(-1).unwrap();
        // Per message (two per round trip).
        el.as_nanos() as f64 / (2 * MSGS) as f64
    };
    result(
        &format!("chan_pingpong_ns@{others}"),
        median(|| pingpong(false)),
    );
    result(
        &format!("timer_pingpong_ns@{others}"),
        median(|| pingpong(true)),
    );
    // Cancel them all (each drop cancels, runs and reaps one).
    let t = Instant::now();
    drop(hs);
    drop(otx);
    result(
        &format!("teardown_ns@{others}"),
        t.elapsed().as_nanos() as f64 / others.max(1) as f64,
    );
}

async fn tokio_skynet_node(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1);
    let sub = size / 10;
    for i in 0..10 {
        let tx = tx.clone();
        tokio::task::spawn_local(async move {
            let v = Box::pin(tokio_skynet_node(num + i * sub, sub)).await;
            tx.send(v).await.unwrap();
        });
    }
    drop(tx);
    let mut sum = 0;
    while let Some(v) = rx.recv().await {
        sum += v;
    }
    sum
}

fn tokio_skynet() {
    let rt = tokio_rt();
    let run = || {
        let local = tokio::task::LocalSet::new();
        let t = Instant::now();
        let sum = local.block_on(&rt, tokio_skynet_node(0, SKYNET_SIZE));
        assert_eq!(sum, SKYNET_SUM);
        t.elapsed().as_secs_f64() * 1e3
    };
    run();
    result("skynet_ms", median(run));
}

fn tokio_parked(n: usize) {
    let rt = tokio_rt();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut txs = Vec::with_capacity(n);
        let mut hs = Vec::with_capacity(n);
        let rss0 = rss();
        let t = Instant::now();
        for _ in 0..n {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            txs.push(tx);
            hs.push(tokio::task::spawn_local(async move {
                rx.await.unwrap();
            }));
        }
        // Let every task run until it parks.
        tokio::task::yield_now().await;
        let spawn = t.elapsed();
        let rss1 = rss();
        let t = Instant::now();
        for tx in txs {
            tx.send(()).unwrap();
        }
        for h in hs {
            h.await.unwrap();
        }
        let wake = t.elapsed();
        parked_results(n, spawn, rss1 - rss0, Some(wake));
    });
}

fn may_skynet_node(tx: may::sync::mpsc::Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        tx.send(num).unwrap();
        return;
    }
    let (ctx, crx) = may::sync::mpsc::channel::<u64>();
    let sub = size / 10;
    for i in 0..10 {
        let c = ctx.clone();
        // SAFETY: may's `go!` is unsafe because of thread-local access
        // rules; the closure touches no thread-locals.
        unsafe {
            may::coroutine::spawn(move || may_skynet_node(c, num + i * sub, sub));
        }
    }
    let mut sum = 0;
    for _ in 0..10 {
        sum += crx.recv().unwrap();
    }
    tx.send(sum).unwrap();
}

fn may_skynet() {
    let run = || {
        on_may(|| {
            let t = Instant::now();
            let (tx, rx) = may::sync::mpsc::channel::<u64>();
            may_skynet_node(tx, 0, SKYNET_SIZE);
            assert_eq!(rx.recv().unwrap(), SKYNET_SUM);
            t.elapsed().as_secs_f64() * 1e3
        })
    };
    run();
    result("skynet_ms", median(run));
}

fn may_parked(n: usize) {
    on_may(move || {
        let mut txs = Vec::with_capacity(n);
        let mut hs = Vec::with_capacity(n);
        let rss0 = rss();
        let t = Instant::now();
        for _ in 0..n {
            let (tx, rx) = may::sync::mpsc::channel::<()>();
            txs.push(tx);
            // SAFETY: see `may_skynet_node`.
            hs.push(unsafe { may::coroutine::spawn(move || rx.recv().unwrap()) });
        }
        may::coroutine::yield_now();
        let spawn = t.elapsed();
        let rss1 = rss();
        let t = Instant::now();
        for tx in txs {
            tx.send(()).unwrap();
        }
        for h in hs {
            h.join().unwrap();
        }
        let wake = t.elapsed();
        parked_results(n, spawn, rss1 - rss0, Some(wake));
    });
}

fn main() {
    // `cargo bench` appends `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n = |i: usize| -> usize {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("usage: scale CMD N"))
    };
    match args.first().map(String::as_str) {
        Some("skynet") => dill_skynet(),
        Some("parked") => dill_parked(n(1)),
        Some("alive") => dill_alive(n(1)),
        Some("tokio-skynet") => tokio_skynet(),
        Some("tokio-parked") => tokio_parked(n(1)),
        Some("may-skynet") => may_skynet(),
        Some("may-parked") => may_parked(n(1)),
        Some("floor-parked") => floor_parked(n(1)),
        _ => {
            eprintln!(
                "usage: scale skynet | parked N | alive N | tokio-skynet | tokio-parked N \
                 | may-skynet | may-parked N | floor-parked N\n(scripts/bench-scale runs them all)"
            );
            std::process::exit(2);
        }
    }
}
