//! IPC benchmarks, each beside its floor (raw system calls, measured the
//! same way in the same run) and the equivalents in tokio (current-thread
//! runtime) and may (one worker thread):
//!
//! * `pingpong`: a 1-byte round trip between the two ends of a socket pair;
//! * `connect`: one connect + accept + close cycle on a listening socket.
//!
//! Everything runs on one thread.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

mod baselines;
use baselines::{may_pingpong, on_may, tokio_rt};
use dill::*;

fn sock_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("dill-bench-{tag}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingpong");

    // Floor: one thread, blocking socketpair, the four system calls of a
    // round trip back to back (write a, read b, write b, read a).
    g.bench_function("floor_syscalls", |bench| {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 1];
        bench.iter(|| {
            a.write_all(b"x").unwrap();
            b.read_exact(&mut buf).unwrap();
            b.write_all(&buf).unwrap();
            a.read_exact(&mut buf).unwrap();
            black_box(buf);
        });
    });

    // dill: two coroutines on the ends of an ipc_pair.
    g.bench_function("dill_ipc_pair", |bench| {
        bench.iter_custom(|iters| {
            let (mut a, mut b) = ipc_pair().unwrap();
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

    // tokio: current-thread runtime, UnixStream::pair, two tasks.
    g.bench_function("tokio_current_thread", |bench| {
        let rt = tokio_rt();
        bench.iter_custom(|iters| {
            rt.block_on(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let (mut a, mut b) = tokio::net::UnixStream::pair().unwrap();
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
    // may: one worker thread, its UnixStream pair, two coroutines.
    g.bench_function("may_one_worker", |bench| {
        bench.iter_custom(|iters| {
            on_may(move || {
                let (a, b) = may::os::unix::net::UnixStream::pair().unwrap();
                may_pingpong(a, b, iters)
            })
        });
    });
    g.finish();
}

fn connect(c: &mut Criterion) {
    let mut g = c.benchmark_group("connect");

    // Floor: blocking std sockets, connect + accept + close of both ends.
    g.bench_function("floor_std_blocking", |bench| {
        let path = sock_path("std");
        let l = UnixListener::bind(&path).unwrap();
        bench.iter(|| {
            let c = UnixStream::connect(&path).unwrap();
            let (s, _) = l.accept().unwrap();
            black_box((c.as_raw_fd(), s.as_raw_fd()));
        });
        drop(l);
        let _ = std::fs::remove_file(&path);
    });

    // dill: ipc_connect_mem + ipc_accept_mem + drop, in caller memory.
    g.bench_function("dill_ipc", |bench| {
        let path = sock_path("dill");
        let l = ipc_listen(&path, 128).unwrap();
        let (mut mc, mut ms) = (IpcMem::new(), IpcMem::new());
        bench.iter(|| {
            let c = ipc_connect_mem(&path, &mut mc, -1).unwrap();
            let s = ipc_accept_mem(&l, &mut ms, -1).unwrap();
            black_box((c.as_raw_fd(), s.as_raw_fd()));
        });
        drop(l);
        let _ = std::fs::remove_file(&path);
    });

    // tokio: current-thread runtime, connect + accept + drop.
    g.bench_function("tokio_current_thread", |bench| {
        let path = sock_path("tokio");
        let rt = tokio_rt();
        let l = rt.block_on(async { tokio::net::UnixListener::bind(&path).unwrap() });
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let c = tokio::net::UnixStream::connect(&path).await.unwrap();
                    let (s, _) = l.accept().await.unwrap();
                    black_box((c.as_raw_fd(), s.as_raw_fd()));
                }
                start.elapsed()
            })
        });
        drop(l);
        let _ = std::fs::remove_file(&path);
    });

    // may: one worker thread, connect + accept + drop.
    g.bench_function("may_one_worker", |bench| {
        let path = sock_path("may");
        let p2 = path.clone();
        let l = std::sync::Arc::new(on_may(move || {
            may::os::unix::net::UnixListener::bind(&p2).unwrap()
        }));
        bench.iter_custom(|iters| {
            let (path, l) = (path.clone(), l.clone());
            on_may(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    let c = may::os::unix::net::UnixStream::connect(&path).unwrap();
                    let (s, _) = l.accept().unwrap();
                    black_box((c.as_raw_fd(), s.as_raw_fd()));
                }
                start.elapsed()
            })
        });
        drop(l);
        let _ = std::fs::remove_file(&path);
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = pingpong, connect
}
criterion_main!(benches);
