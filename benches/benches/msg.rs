//! Message benchmarks: a PREFIX message ping-pong (64-byte payload, 4-byte
//! big-endian size field: 68 bytes each way) beside
//!
//! * the floor: the same 68 bytes each way as raw blocking system calls on
//!   one thread (`write` a, `read` b, `write` b, `read` a);
//! * dill moving the same 68 bytes with `bsend`/`brecv` (no framing);
//! * tokio (current-thread runtime, `UnixStream::pair`) with the same
//!   framing written by hand: `read_exact` of the size then of the payload
//!   (the same system calls as PREFIX), and through a `BufReader` (what a
//!   buffered codec does: usually one `read` per message);
//! * SUFFIX with CR LF on the same payload, for scale (SUFFIX cannot read
//!   ahead of the delimiter: one receive per 2 bytes), and the same lines
//!   read one byte per receive as libdill's SUFFIX does;
//! * Go (`benches/go/msg`, GOMAXPROCS=1), the same framing by hand, run
//!   right after the other samples when `go` is installed;
//! * PREFIX over TCP loopback beside the same floor over TCP (TCP rows are
//!   compared with the TCP floor).
//!
//! Harness-less: every case runs in this one process, interleaved, and the
//! table (median ns per round trip, ratio to the floor) is printed from the
//! measurements of this run. `cargo bench -p dill-bench --bench msg`.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

mod baselines;
use baselines::tokio_rt;
use dill::*;

const PAYLOAD: usize = 64;
const HDR: usize = 4;
const WIRE: usize = HDR + PAYLOAD;

fn frame() -> [u8; WIRE] {
    let mut f = [b'p'; WIRE];
    f[..HDR].copy_from_slice(&(PAYLOAD as u32).to_be_bytes());
    f
}

/// Floor: one thread, blocking socketpair, four system calls per round trip.
fn floor(iters: u64) -> Duration {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let out = frame();
    let mut buf = [0u8; WIRE];
    let start = Instant::now();
    for _ in 0..iters {
        a.write_all(&out).unwrap();
        b.read_exact(&mut buf).unwrap();
        b.write_all(&buf).unwrap();
        a.read_exact(&mut buf).unwrap();
        black_box(&buf);
    }
    start.elapsed()
}

/// dill, the same bytes with no framing: bsend/brecv over an ipc_pair.
fn dill_bytes(iters: u64) -> Duration {
    let (mut a, mut b) = ipc_pair().unwrap();
    let echo = go(move || {
        let mut buf = [0u8; WIRE];
        for _ in 0..iters {
            brecv(&mut b, &mut buf, -1).unwrap();
            bsend(&mut b, &buf, -1).unwrap();
        }
    })
    .unwrap();
    let out = frame();
    let mut buf = [0u8; WIRE];
    let start = Instant::now();
    for _ in 0..iters {
        bsend(&mut a, &out, -1).unwrap();
        brecv(&mut a, &mut buf, -1).unwrap();
    }
    let t = start.elapsed();
    echo.join(-1).unwrap();
    t
}

/// dill PREFIX: msend/mrecv of 64-byte messages over an ipc_pair.
fn dill_prefix(iters: u64) -> Duration {
    let (a, b) = ipc_pair().unwrap();
    let mut a = prefix_attach(a, HDR, PREFIX_BIG_ENDIAN).unwrap();
    let mut b = prefix_attach(b, HDR, PREFIX_BIG_ENDIAN).unwrap();
    let echo = go(move || {
        let mut buf = [0u8; PAYLOAD];
        for _ in 0..iters {
            let n = mrecv(&mut b, &mut buf, -1).unwrap();
            msend(&mut b, &buf[..n], -1).unwrap();
        }
    })
    .unwrap();
    let out = [b'p'; PAYLOAD];
    let mut buf = [0u8; PAYLOAD];
    let start = Instant::now();
    for _ in 0..iters {
        msend(&mut a, &out, -1).unwrap();
        black_box(mrecv(&mut a, &mut buf, -1).unwrap());
    }
    let t = start.elapsed();
    echo.join(-1).unwrap();
    t
}

/// dill SUFFIX (CR LF): the same payload, delimited.
fn dill_suffix(iters: u64) -> Duration {
    let (a, b) = ipc_pair().unwrap();
    let mut a = suffix_attach(a, b"\r\n").unwrap();
    let mut b = suffix_attach(b, b"\r\n").unwrap();
    let echo = go(move || {
        let mut buf = [0u8; PAYLOAD];
        for _ in 0..iters {
            let n = mrecv(&mut b, &mut buf, -1).unwrap();
            msend(&mut b, &buf[..n], -1).unwrap();
        }
    })
    .unwrap();
    let out = [b'p'; PAYLOAD];
    let mut buf = [0u8; PAYLOAD];
    let start = Instant::now();
    for _ in 0..iters {
        msend(&mut a, &out, -1).unwrap();
        black_box(mrecv(&mut a, &mut buf, -1).unwrap());
    }
    let t = start.elapsed();
    echo.join(-1).unwrap();
    t
}

/// The same CR LF lines read as libdill's SUFFIX reads them: one byte per
/// receive (over dill's byte stream), to measure what reading
/// `m - j` bytes at a time saves.
fn bytewise_suffix(iters: u64) -> Duration {
    fn recv_line(s: &mut IpcStream<'static>, buf: &mut [u8; PAYLOAD + 2]) -> usize {
        let mut n = 0;
        loop {
            brecv(s, &mut buf[n..n + 1], -1).unwrap();
            n += 1;
            if n >= 2 && buf[n - 2..n] == *b"\r\n" {
                return n - 2;
            }
        }
    }
    let (mut a, mut b) = ipc_pair().unwrap();
    let echo = go(move || {
        let mut buf = [0u8; PAYLOAD + 2];
        for _ in 0..iters {
            let n = recv_line(&mut b, &mut buf);
            bsend(&mut b, &buf[..n + 2], -1).unwrap();
        }
    })
    .unwrap();
    let mut out = [b'p'; PAYLOAD + 2];
    out[PAYLOAD..].copy_from_slice(b"\r\n");
    let mut buf = [0u8; PAYLOAD + 2];
    let start = Instant::now();
    for _ in 0..iters {
        bsend(&mut a, &out, -1).unwrap();
        black_box(recv_line(&mut a, &mut buf));
    }
    let t = start.elapsed();
    echo.join(-1).unwrap();
    t
}

/// tokio, length-prefixed by hand: read_exact of the size, then of the
/// payload; the frame goes out in one write.
fn tokio_prefix(iters: u64, buffered: bool) -> Duration {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
    async fn recv_msg<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8; PAYLOAD]) -> usize {
        let n = r.read_u32().await.unwrap() as usize;
        r.read_exact(&mut buf[..n]).await.unwrap();
        n
    }
    let rt = tokio_rt();
    rt.block_on(async move {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let (ar, mut aw) = a.into_split();
        let (br, mut bw) = b.into_split();
        let echo = tokio::spawn(async move {
            let mut buf = [0u8; PAYLOAD];
            let mut out = [0u8; WIRE];
            fn run(out: &mut [u8; WIRE], n: usize, buf: &[u8; PAYLOAD]) -> usize {
                out[..HDR].copy_from_slice(&(n as u32).to_be_bytes());
                out[HDR..HDR + n].copy_from_slice(&buf[..n]);
                HDR + n
            }
            if buffered {
                let mut br = BufReader::new(br);
                for _ in 0..iters {
                    let n = recv_msg(&mut br, &mut buf).await;
                    let k = run(&mut out, n, &buf);
                    bw.write_all(&out[..k]).await.unwrap();
                }
            } else {
                let mut br = br;
                for _ in 0..iters {
                    let n = recv_msg(&mut br, &mut buf).await;
                    let k = run(&mut out, n, &buf);
                    bw.write_all(&out[..k]).await.unwrap();
                }
            }
        });
        let out = frame();
        let mut buf = [0u8; PAYLOAD];
        let start = Instant::now();
        if buffered {
            let mut ar = BufReader::new(ar);
            for _ in 0..iters {
                aw.write_all(&out).await.unwrap();
                black_box(recv_msg(&mut ar, &mut buf).await);
            }
        } else {
            let mut ar = ar;
            for _ in 0..iters {
                aw.write_all(&out).await.unwrap();
                black_box(recv_msg(&mut ar, &mut buf).await);
            }
        }
        let t = start.elapsed();
        echo.await.unwrap();
        t
    })
}

/// A connected loopback TCP pair, blocking std sockets.
fn std_tcp_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

/// A connected loopback TCP pair of dill streams.
fn dill_tcp_pair() -> (TcpStream<'static>, TcpStream<'static>) {
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 8).unwrap();
    let c = tcp_connect(l.local_addr().unwrap(), -1).unwrap();
    let (s, _) = tcp_accept(&l, -1).unwrap();
    (c, s)
}

/// TCP floor: the same 68 bytes each way, blocking, one thread.
fn floor_tcp(iters: u64) -> Duration {
    let (mut a, mut b) = std_tcp_pair();
    let out = frame();
    let mut buf = [0u8; WIRE];
    let start = Instant::now();
    for _ in 0..iters {
        a.write_all(&out).unwrap();
        b.read_exact(&mut buf).unwrap();
        b.write_all(&buf).unwrap();
        a.read_exact(&mut buf).unwrap();
        black_box(&buf);
    }
    start.elapsed()
}

/// dill PREFIX over TCP loopback.
fn dill_prefix_tcp(iters: u64) -> Duration {
    let (a, b) = dill_tcp_pair();
    let mut a = prefix_attach(a, HDR, PREFIX_BIG_ENDIAN).unwrap();
    let mut b = prefix_attach(b, HDR, PREFIX_BIG_ENDIAN).unwrap();
    let echo = go(move || {
        let mut buf = [0u8; PAYLOAD];
        for _ in 0..iters {
            let n = mrecv(&mut b, &mut buf, -1).unwrap();
            msend(&mut b, &buf[..n], -1).unwrap();
        }
    })
    .unwrap();
    let out = [b'p'; PAYLOAD];
    let mut buf = [0u8; PAYLOAD];
    let start = Instant::now();
    for _ in 0..iters {
        msend(&mut a, &out, -1).unwrap();
        black_box(mrecv(&mut a, &mut buf, -1).unwrap());
    }
    let t = start.elapsed();
    echo.join(-1).unwrap();
    t
}

struct Case {
    name: &'static str,
    what: &'static str,
    run: fn(u64) -> Duration,
    samples: Vec<f64>,
}

fn tokio_exact(iters: u64) -> Duration {
    tokio_prefix(iters, false)
}
fn tokio_buffered(iters: u64) -> Duration {
    tokio_prefix(iters, true)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and
    // gets a quick smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { 15 };
    let target = Duration::from_millis(if quick { 5 } else { 100 });

    let mut cases = vec![
        Case {
            name: "floor_syscalls",
            what: "raw write/read, 68 B each way, one thread",
            run: floor,
            samples: vec![],
        },
        Case {
            name: "dill_bytes",
            what: "dill bsend/brecv, the same 68 B, ipc_pair",
            run: dill_bytes,
            samples: vec![],
        },
        Case {
            name: "dill_prefix",
            what: "dill PREFIX msend/mrecv, 64 B + 4 B size, ipc_pair",
            run: dill_prefix,
            samples: vec![],
        },
        Case {
            name: "tokio_prefix_exact",
            what: "tokio, read_exact size then payload",
            run: tokio_exact,
            samples: vec![],
        },
        Case {
            name: "tokio_prefix_bufreader",
            what: "tokio, the same through a BufReader",
            run: tokio_buffered,
            samples: vec![],
        },
        Case {
            name: "dill_suffix_crlf",
            what: "dill SUFFIX msend/mrecv, 64 B + CR LF, ipc_pair",
            run: dill_suffix,
            samples: vec![],
        },
        Case {
            name: "bytewise_suffix_crlf",
            what: "the same lines read one byte per receive, as libdill's SUFFIX",
            run: bytewise_suffix,
            samples: vec![],
        },
        Case {
            name: "floor_tcp_syscalls",
            what: "TCP loopback: raw write/read, 68 B each way, one thread",
            run: floor_tcp,
            samples: vec![],
        },
        Case {
            name: "dill_prefix_tcp",
            what: "TCP loopback: dill PREFIX msend/mrecv, 64 B + 4 B size",
            run: dill_prefix_tcp,
            samples: vec![],
        },
    ];
    // Calibrate each case to about `target` per sample, then interleave
    // the samples so that load changes on the box hit every case alike.
    let iters: Vec<u64> = cases
        .iter()
        .map(|c| {
            let probe = 200;
            let t = (c.run)(probe).as_secs_f64() / probe as f64;
            ((target.as_secs_f64() / t) as u64).clamp(100, 1_000_000)
        })
        .collect();
    for _ in 0..rounds {
        for (c, &n) in cases.iter_mut().zip(&iters) {
            let t = (c.run)(n);
            c.samples.push(t.as_nanos() as f64 / n as f64);
        }
    }
    // Go's figures, from its own process (it takes its medians itself),
    // run right after the samples above.
    let go_rows = run_go(quick);
    let floor = median(&mut cases[0].samples.clone());
    println!(
        "PREFIX message ping-pong, {rounds} interleaved samples per case, median ns per round trip"
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "(load average {}: compare ratios, not absolute times)\n",
        load.join(" ")
    );
    println!("| case | what | ns / round trip | × floor |");
    println!("| --- | --- | ---: | ---: |");
    // TCP cases are compared with the TCP floor, the rest with the IPC one.
    let tcp_floor = cases
        .iter()
        .position(|c| c.name == "floor_tcp_syscalls")
        .map(|i| median(&mut cases[i].samples.clone()));
    for c in &mut cases {
        let m = median(&mut c.samples);
        let base = match tcp_floor {
            Some(t) if c.name.contains("tcp") => t,
            _ => floor,
        };
        println!("| `{}` | {} | {:.0} | {:.2} |", c.name, c.what, m, m / base);
    }
    for (name, what, ns) in go_rows {
        println!("| `{name}` | {what} | {ns:.0} | {:.2} |", ns / floor);
    }
}

/// Runs `benches/go/msg` (GOMAXPROCS=1) and returns its rows; says so on
/// stderr and returns none when `go` is not installed. Installs nothing.
fn run_go(quick: bool) -> Vec<(String, &'static str, f64)> {
    if quick {
        return Vec::new();
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("go/msg");
    let out = match std::process::Command::new("go")
        .arg("run")
        .arg(".")
        .current_dir(&dir)
        .env("GOMAXPROCS", "1")
        .output()
    {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "go: the Go peer failed, its figures are left out: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return Vec::new();
        }
        Err(_) => {
            eprintln!("go: not installed, Go's figures are left out");
            return Vec::new();
        }
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, ns) = l.split_once(' ')?;
            let what = match name {
                "go_prefix_exact" => "Go (GOMAXPROCS=1), io.ReadFull size then payload",
                "go_prefix_bufio" => "Go (GOMAXPROCS=1), the same through a bufio.Reader",
                _ => "Go",
            };
            Some((name.to_string(), what, ns.trim().parse().ok()?))
        })
        .collect()
}
