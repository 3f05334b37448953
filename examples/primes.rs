//! The concurrent prime sieve: a generator coroutine emits 2, 3, 4, ... and
//! every prime found adds a filter coroutine to the chain that drops its
//! multiples. Prints the first N primes (N from the command line, default
//! 100).
//!
//! ```text
//! cargo run --release --example primes -- 1000
//! ```

use std::io::{self, Write};
use std::process::ExitCode;

use dill::{bundle, chmake, Chan};

/// Filters and the generator need little stack.
const STACK: usize = 64 * 1024;

fn main() -> ExitCode {
    let n = match std::env::args().nth(1).map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("usage: primes [N]  ({e})");
            return ExitCode::from(2);
        }
    };
    match sieve(n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("primes: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sieve(n: usize) -> io::Result<()> {
    // Every coroutine belongs to this bundle; dropping it at the end
    // cancels the generator and all filters, which are blocked sending.
    let all = bundle()?;
    let (tx, mut rx): (Chan<u64>, Chan<u64>) = chmake()?;
    all.go_with_stack_size(STACK, move || {
        let mut i = 2;
        while tx.send(i, -1).is_ok() {
            i += 1;
        }
    })?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for _ in 0..n {
        let p = rx.recv(-1)?;
        writeln!(out, "{p}")?;
        let (next_tx, next_rx) = chmake()?;
        let input = rx;
        all.go_with_stack_size(STACK, move || {
            while let Ok(v) = input.recv(-1) {
                if v % p != 0 && next_tx.send(v, -1).is_err() {
                    break;
                }
            }
        })?;
        rx = next_rx;
    }
    out.flush()?;
    drop(all);
    Ok(())
}
