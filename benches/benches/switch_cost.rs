//! Instruction counts per yield and per `go`+`join`, for running under
//! `valgrind --tool=callgrind` (see `scripts/bench-inspect`), where wall
//! time means nothing but instruction counts are exact and reproducible.
//!
//! `switch_cost <yields> <spawns> [stall]`: runs that many yields between
//! two coroutines and that many `go`+`join`s, with the stall detector on if
//! `stall` is given. The script runs it twice with different counts and
//! divides the difference in instructions by the difference in counts, so
//! start-up costs cancel out.
//!
//! It also prints the wall time per yield and per `go`+`join` of the run
//! (`yield_ns <t> go_join_ns <t>`): the script takes the fastest of many
//! alternating runs, which a busy machine disturbs less than a median.

use std::hint::black_box;
use std::time::Instant;

use dill::{go, yield_now};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let yields: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let spawns: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    if args.get(3).map(String::as_str) == Some("stall") {
        stall_detector_on();
    }
    let half = yields / 2;
    let t0 = Instant::now();
    let ping = go(move || {
        for _ in 0..half {
            yield_now().unwrap();
        }
    })
    .unwrap();
    let pong = go(move || {
        for _ in 0..half {
            yield_now().unwrap();
        }
    })
    .unwrap();
    ping.join(-1).unwrap();
    pong.join(-1).unwrap();
    let t1 = Instant::now();
    for _ in 0..spawns {
        go(|| black_box(())).unwrap().join(-1).unwrap();
    }
    let t2 = Instant::now();
    let per = |d: std::time::Duration, n: u64| d.as_nanos() as f64 / n.max(1) as f64;
    println!(
        "yield_ns {:.2} go_join_ns {:.2}",
        per(t1 - t0, yields),
        per(t2 - t1, spawns)
    );
}

/// Turns the stall detector on (threshold 10 s: it never reports here).
fn stall_detector_on() {
    dill::stall_detector(10_000).unwrap();
}
