//! `happyeyeballs_connect`: RFC 8305 connection racing on coroutines.

use std::io;
use std::net::SocketAddr;

use dill_runtime::{bundle, check_cancelled, chmake, now};

use crate::addr::{remotes, IpMode};
use crate::dns::Settle;
use crate::tcp::{tcp_connect, TcpStream};

/// How long an attempt has before the next one starts beside it, ms
/// (RFC 8305's "Connection Attempt Delay"; libdill's choice too).
pub(crate) const ATTEMPT_DELAY_MS: i64 = 300;

/// How long to wait for the other family's addresses once one family has
/// answered, ms (RFC 8305's "Resolution Delay").
pub(crate) const RESOLUTION_DELAY_MS: i64 = 50;

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Interleaves the families, IPv6 first: v6, v4, v6, v4, ... then the
/// rest of the longer list (RFC 8305 section 4).
fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let v6: Vec<_> = addrs.iter().filter(|a| a.is_ipv6()).collect();
    let v4: Vec<_> = addrs.iter().filter(|a| a.is_ipv4()).collect();
    let mut out = Vec::with_capacity(addrs.len());
    for i in 0..v6.len().max(v4.len()) {
        out.extend(v6.get(i).copied());
        out.extend(v4.get(i).copied());
    }
    out
}

/// Connects to `name`:`port` by racing its addresses (RFC 8305): resolves
/// both families (waiting 50 ms at most for the second once the first has
/// answered), starts with an IPv6 address, starts the next address
/// every 300 ms (or as soon as an attempt fails) while earlier attempts
/// go on, and returns the first connection made; the other attempts are
/// cancelled and their sockets closed.
///
/// # Errors
///
/// * `EINVAL`: `deadline` is negative other than `-1`, or `name` is not a
///   valid host name or literal.
/// * `ECANCELED`: the calling coroutine is being cancelled.
/// * `ETIMEDOUT`: the deadline passed first.
/// * `ENOENT`, `ECONNREFUSED` and the other errors of
///   [`ipaddr_remotes`](crate::ipaddr_remotes) when the name cannot be
///   resolved.
/// * When every attempt fails: the error of the last one to fail (for
///   example `ECONNREFUSED`, `ENETUNREACH`, `EHOSTUNREACH`).
/// * `EMFILE`, `ENFILE`, `ENOMEM`: no socket or coroutine could be made.
#[doc = include_str!("../../docs/happyeyeballs_connect.md")]
pub fn happyeyeballs_connect(
    name: &str,
    port: u16,
    deadline: i64,
) -> io::Result<TcpStream<'static>> {
    if deadline < -1 {
        return Err(err(libc::EINVAL));
    }
    check_cancelled()?;
    let settle = Settle {
        after_ms: RESOLUTION_DELAY_MS,
        preferred_only: false,
    };
    let found = remotes(name, port, IpMode::PreferIpv6, deadline, Some(settle))?;
    let addrs = interleave(&found);
    if addrs.len() == 1 {
        return tcp_connect(addrs[0], deadline);
    }
    // Each attempt runs in its own coroutine of `attempts` and reports on
    // the channel. Dropping the bundle cancels the attempts still running;
    // one that has connected but not yet reported drops its stream when
    // its send is cancelled, so no socket outlives this call but the one
    // returned.
    let (results_in, results_out) = chmake::<io::Result<TcpStream<'static>>>()?;
    let attempts = bundle()?;
    let mut next = 0;
    let mut running = 0usize;
    let mut next_start = now();
    let mut last_err = err(libc::ECONNREFUSED);
    loop {
        if next < addrs.len() && (running == 0 || now() >= next_start) {
            let addr = addrs[next];
            let tx = results_in.clone();
            attempts.go(move || {
                let r = tcp_connect(addr, deadline);
                let _ = tx.send(r, -1);
            })?;
            next += 1;
            running += 1;
            next_start = now().saturating_add(ATTEMPT_DELAY_MS);
        }
        if running == 0 {
            return Err(last_err);
        }
        let wait_until = if next < addrs.len() {
            if deadline < 0 {
                next_start
            } else {
                next_start.min(deadline)
            }
        } else {
            deadline
        };
        match results_out.recv(wait_until) {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => {
                running -= 1;
                last_err = e;
                // A failed attempt lets the next one start at once.
                next_start = now();
            }
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                if deadline >= 0 && now() >= deadline {
                    return Err(e);
                }
                // Time for the next attempt.
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_alternate_v6_first() {
        let a: Vec<SocketAddr> = ["1.1.1.1:1", "2.2.2.2:1", "3.3.3.3:1", "[::1]:1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got: Vec<String> = interleave(&a).iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["[::1]:1", "1.1.1.1:1", "2.2.2.2:1", "3.3.3.3:1"]);
    }
}
