//! TCP loopback benchmarks, each beside its floor (raw system calls on
//! blocking std sockets, measured the same way in the same run) and the
//! equivalents in tokio (current-thread runtime) and may (one worker
//! thread):
//!
//! * `tcp_pingpong`: a 1-byte round trip over one loopback connection;
//! * `tcp_connect`: one connect + accept + close cycle on a loopback
//!   listener (the server end is closed first, so the client's ephemeral
//!   ports never pile up in `TIME_WAIT`).
//!
//! Everything runs on one thread. After criterion's runs, the Go peer
//! (`benches/go/tcp.go`, goroutines with `GOMAXPROCS=1`) measures the same
//! two things in its own process and its figures are printed beside them;
//! without a `go` command the bench says so and skips it.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};

mod baselines;
use baselines::{may_pingpong, on_may, tokio_rt};
use dill::*;

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A connected pair of blocking std sockets.
fn std_pair() -> (StdStream, StdStream) {
    let l = StdListener::bind(any_port()).unwrap();
    let c = StdStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_pingpong");

    // Floor: one thread, blocking sockets, the four system calls of a
    // round trip back to back (write a, read b, write b, read a).
    g.bench_function("floor_syscalls", |bench| {
        let (mut a, mut b) = std_pair();
        let mut buf = [0u8; 1];
        bench.iter(|| {
            a.write_all(b"x").unwrap();
            b.read_exact(&mut buf).unwrap();
            b.write_all(&buf).unwrap();
            a.read_exact(&mut buf).unwrap();
            black_box(buf);
        });
    });

    // dill: two coroutines on the two ends of a loopback connection.
    g.bench_function("dill_tcp", |bench| {
        bench.iter_custom(|iters| {
            let l = tcp_listen(any_port(), 8).unwrap();
            let mut a = tcp_connect(l.local_addr().unwrap(), -1).unwrap();
            let (mut b, _) = tcp_accept(&l, -1).unwrap();
            let echo = go(move || {
                let mut buf = [0u8; 1];
                for _ in 0..iters {
                    brecv(&mut b, &mut buf, -1).unwrap();
                    bsend(&mut b, &buf, -1).unwrap();
                }
            })
            .unwrap();
            let mut buf = [0u8; 1];
            let start = Instant::now();
            for _ in 0..iters {
                bsend(&mut a, b"x", -1).unwrap();
                brecv(&mut a, &mut buf, -1).unwrap();
            }
            let t = start.elapsed();
            echo.join(-1).unwrap();
            t
        });
    });

    // tokio: current-thread runtime, two tasks.
    g.bench_function("tokio_current_thread", |bench| {
        let rt = tokio_rt();
        bench.iter_custom(|iters| {
            rt.block_on(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let l = tokio::net::TcpListener::bind(any_port()).await.unwrap();
                let mut a = tokio::net::TcpStream::connect(l.local_addr().unwrap())
                    .await
                    .unwrap();
                let (mut b, _) = l.accept().await.unwrap();
                let echo = tokio::spawn(async move {
                    let mut buf = [0u8; 1];
                    for _ in 0..iters {
                        b.read_exact(&mut buf).await.unwrap();
                        b.write_all(&buf).await.unwrap();
                    }
                });
                let mut buf = [0u8; 1];
                let start = Instant::now();
                for _ in 0..iters {
                    a.write_all(b"x").await.unwrap();
                    a.read_exact(&mut buf).await.unwrap();
                }
                let t = start.elapsed();
                echo.await.unwrap();
                t
            })
        });
    });

    // may: one worker thread, two coroutines.
    g.bench_function("may_one_worker", |bench| {
        bench.iter_custom(|iters| {
            on_may(move || {
                let l = may::net::TcpListener::bind(any_port()).unwrap();
                let a = may::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
                let (b, _) = l.accept().unwrap();
                may_pingpong(a, b, iters)
            })
        });
    });
    g.finish();
}

fn connect(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_connect");

    // Floor: blocking std sockets, connect + accept + close of both ends.
    g.bench_function("floor_std_blocking", |bench| {
        let l = StdListener::bind(any_port()).unwrap();
        let addr = l.local_addr().unwrap();
        bench.iter(|| {
            let c = StdStream::connect(addr).unwrap();
            let (s, _) = l.accept().unwrap();
            black_box((c.as_raw_fd(), s.as_raw_fd()));
            drop(s);
            drop(c);
        });
    });

    // dill: tcp_connect_mem + tcp_accept_mem + drop, in caller memory.
    g.bench_function("dill_tcp", |bench| {
        let l = tcp_listen(any_port(), 128).unwrap();
        let addr = l.local_addr().unwrap();
        let (mut mc, mut ms) = (TcpMem::new(), TcpMem::new());
        bench.iter(|| {
            let c = tcp_connect_mem(addr, &mut mc, -1).unwrap();
            let (s, _) = tcp_accept_mem(&l, &mut ms, -1).unwrap();
            black_box((c.as_raw_fd(), s.as_raw_fd()));
            drop(s);
            drop(c);
        });
    });

    // tokio: current-thread runtime, connect + accept + drop.
    g.bench_function("tokio_current_thread", |bench| {
        let rt = tokio_rt();
        let l = rt.block_on(async { tokio::net::TcpListener::bind(any_port()).await.unwrap() });
        let addr = l.local_addr().unwrap();
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let c = tokio::net::TcpStream::connect(addr).await.unwrap();
                    let (s, _) = l.accept().await.unwrap();
                    black_box((c.as_raw_fd(), s.as_raw_fd()));
                    drop(s);
                    drop(c);
                }
                start.elapsed()
            })
        });
    });

    // may: one worker thread, connect + accept + drop.
    g.bench_function("may_one_worker", |bench| {
        let l = std::sync::Arc::new(on_may(|| may::net::TcpListener::bind(any_port()).unwrap()));
        let addr = l.local_addr().unwrap();
        bench.iter_custom(|iters| {
            let l = l.clone();
            on_may(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    let c = may::net::TcpStream::connect(addr).unwrap();
                    let (s, _) = l.accept().unwrap();
                    black_box((c.as_raw_fd(), s.as_raw_fd()));
                    drop(s);
                    drop(c);
                }
                start.elapsed()
            })
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = pingpong, connect
}
/// The Go peer: `go run benches/go/tcp.go`, which prints its own medians.
fn go_peer() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/go/tcp.go");
    match std::process::Command::new("go")
        .args(["run", src])
        .env("GOMAXPROCS", "1")
        .output()
    {
        Ok(out) if out.status.success() => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
        Ok(out) => eprintln!(
            "Go peer failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("Go peer skipped: no `go` command ({e})"),
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only in real benchmark runs (`cargo bench`), not in `cargo test`'s
    // quick pass over the bench targets.
    if std::env::args().any(|a| a == "--bench") {
        go_peer();
    }
}
