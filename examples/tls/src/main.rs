//! `tls_echo`: a TLS 1.3 echo server and concurrent clients, all
//! coroutines of one thread, speaking rustls over dill's `TcpStream`
//! through plain `io::Read`/`io::Write`. See the library's documentation
//! (`src/lib.rs`) for what it shows.
//!
//! ```text
//! cargo run -p dill-example-tls --release [-- sessions [rounds]]
//! ```

use std::process::ExitCode;

/// Concurrent client sessions.
const SESSIONS: usize = 16;
/// Messages per session, each echoed and checked.
const ROUNDS: usize = 50;
/// Everything must be over within this many milliseconds.
const WITHIN_MS: i64 = 30_000;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let (sessions, rounds) = match (args.next(), args.next(), args.next()) {
        (None, None, None) => (SESSIONS, ROUNDS),
        (Some(Ok(s)), None, None) if s > 0 => (s, ROUNDS),
        (Some(Ok(s)), Some(Ok(r)), None) if s > 0 => (s, r),
        _ => {
            eprintln!("usage: tls_echo [sessions (at least 1) [rounds]]");
            return ExitCode::FAILURE;
        }
    };
    match dill_example_tls::run(sessions, rounds, WITHIN_MS) {
        Ok(s) => {
            // Every session was inside its handshake at once: each handshake
            // blocked its own coroutine only.
            assert_eq!(s.parked, s.sessions, "handshakes did not interleave");
            assert_eq!(s.version, "TLSv1_3");
            println!(
                "tls_echo: {} sessions x {} messages echoed over TLS ({}, {}) on one thread",
                s.sessions, s.rounds, s.version, s.cipher_suite
            );
            println!(
                "  {} bytes each way, every echo checked; {} handshakes were parked at once; {} ms",
                s.bytes,
                s.parked,
                s.elapsed.as_millis()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tls_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
