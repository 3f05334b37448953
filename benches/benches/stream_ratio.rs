//! Ratios to the floor, robust against a busy machine: each round
//! measures the raw-syscall floor (blocking std sockets) and dill's
//! equivalent back to back, and the median of the per-round ratios is
//! printed, so that load which comes and goes affects both sides of each
//! ratio alike (criterion's runs in `ipc`/`tcp` measure each variant for
//! seconds apart). `cargo bench -p dill-bench --bench stream_ratio`.
//!
//! * IPC 1-byte ping-pong over `ipc_pair` vs a blocking `UnixStream` pair;
//! * TCP 1-byte loopback ping-pong vs blocking std `TcpStream`s;
//! * TCP connect + accept + close (server end first) vs blocking std.

use dill::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Instant;

fn floor_pp(n: u64) -> f64 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut b, _) = l.accept().unwrap();
    let mut buf = [0u8; 1];
    let t = Instant::now();
    for _ in 0..n {
        a.write_all(b"x").unwrap();
        b.read_exact(&mut buf).unwrap();
        b.write_all(&buf).unwrap();
        a.read_exact(&mut buf).unwrap();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn dill_pp(n: u64) -> f64 {
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 8).unwrap();
    let mut a = tcp_connect(l.local_addr().unwrap(), -1).unwrap();
    let (mut b, _) = tcp_accept(&l, -1).unwrap();
    let echo = go(move || {
        let mut buf = [0u8; 1];
        for _ in 0..n + 10 {
            brecv(&mut b, &mut buf, -1).unwrap();
            bsend(&mut b, &buf, -1).unwrap();
        }
    })
    .unwrap();
    let mut buf = [0u8; 1];
    for _ in 0..10 {
        bsend(&mut a, b"x", -1).unwrap();
        brecv(&mut a, &mut buf, -1).unwrap();
    }
    let t = Instant::now();
    for _ in 0..n {
        bsend(&mut a, b"x", -1).unwrap();
        brecv(&mut a, &mut buf, -1).unwrap();
    }
    let e = t.elapsed().as_nanos() as f64 / n as f64;
    echo.join(-1).unwrap();
    e
}

fn floor_conn(n: u64, l: &TcpListener) -> f64 {
    let addr = l.local_addr().unwrap();
    let t = Instant::now();
    for _ in 0..n {
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().unwrap();
        drop(s);
        drop(c);
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn dill_conn(n: u64, l: &dill::TcpListener<'_>) -> f64 {
    let addr = l.local_addr().unwrap();
    let (mut mc, mut ms) = (TcpMem::new(), TcpMem::new());
    let t = Instant::now();
    for _ in 0..n {
        let c = tcp_connect_mem(addr, &mut mc, -1).unwrap();
        let (s, _) = tcp_accept_mem(l, &mut ms, -1).unwrap();
        drop(s);
        drop(c);
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn floor_ipc(n: u64) -> f64 {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let mut buf = [0u8; 1];
    let t = Instant::now();
    for _ in 0..n {
        a.write_all(b"x").unwrap();
        b.read_exact(&mut buf).unwrap();
        b.write_all(&buf).unwrap();
        a.read_exact(&mut buf).unwrap();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn dill_ipc(n: u64) -> f64 {
    let (mut a, mut b) = ipc_pair().unwrap();
    let echo = go(move || {
        let mut buf = [0u8; 1];
        for _ in 0..n {
            brecv(&mut b, &mut buf, -1).unwrap();
            bsend(&mut b, &buf, -1).unwrap();
        }
    })
    .unwrap();
    let mut buf = [0u8; 1];
    let t = Instant::now();
    for _ in 0..n {
        bsend(&mut a, b"x", -1).unwrap();
        brecv(&mut a, &mut buf, -1).unwrap();
    }
    let e = t.elapsed().as_nanos() as f64 / n as f64;
    echo.join(-1).unwrap();
    e
}

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets once without `--bench`:
    // nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds = 11;
    let (mut fi, mut di, mut ri) = (vec![], vec![], vec![]);
    let (mut fpp, mut dpp, mut rpp) = (vec![], vec![], vec![]);
    let (mut fc, mut dc, mut rc) = (vec![], vec![], vec![]);
    let sl = TcpListener::bind("127.0.0.1:0").unwrap();
    let dl = tcp_listen("127.0.0.1:0".parse().unwrap(), 128).unwrap();
    for _ in 0..rounds {
        let (f, d) = (floor_ipc(20_000), dill_ipc(20_000));
        fi.push(f);
        di.push(d);
        ri.push(d / f);
        let (f, d) = (floor_pp(5_000), dill_pp(5_000));
        fpp.push(f);
        dpp.push(d);
        rpp.push(d / f);
        let (f, d) = (floor_conn(500, &sl), dill_conn(500, &dl));
        fc.push(f);
        dc.push(d);
        rc.push(d / f);
    }
    println!("median of {rounds} rounds, each floor and dill back to back:");
    for (name, f, d, r) in [
        ("ipc_pingpong", fi, di, ri),
        ("tcp_pingpong", fpp, dpp, rpp),
        ("tcp_connect", fc, dc, rc),
    ] {
        println!(
            "{name:13} floor {:8.2} us  dill {:8.2} us  ratio {:.3}",
            med(f) / 1e3,
            med(d) / 1e3,
            med(r)
        );
    }
}
