//! A TCP chat server in Go style, with a load-generating client.
//!
//! The server accepts connections and gives each one a reader coroutine
//! and a writer coroutine, on the two halves of the split stream, each
//! half framed with SUFFIX (lines ended by CR LF). A hub coroutine owns the
//! list of members and fans every line out to every other member through
//! buffered channels (Go's `select` with `default`): a member too slow to
//! keep up has lines dropped for it rather than stalling the room. A line too long for the reader's buffer
//! is skipped (`EMSGSIZE` leaves the stream usable). `/quit` ends a session:
//! the writer drains its queue, the halves are joined back and the
//! connection is closed in order with `tcp_close`.
//!
//! The load generator connects `CLIENTS` members, waits for each one's
//! welcome line, then has every member say `LINES` lines while reading
//! everything the others say, and reports the rate.
//!
//! ```text
//! cargo run --release --example tcp_chat                      # server + load, one process
//! cargo run --release --example tcp_chat -- server 127.0.0.1:7000
//! cargo run --release --example tcp_chat -- load 127.0.0.1:7000 [clients] [lines]
//! ```
//!
//! With the server alone, `nc -C 127.0.0.1 7000` joins the room.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use dill::*;

const CLIENTS: usize = 20;
const LINES: usize = 100;
/// Lines queued for one member before the hub drops lines for it.
const QUEUE: usize = 1024;
/// The longest line the server accepts.
const MAX_LINE: usize = 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        None => demo(),
        Some("server") => parse(args.get(1)).and_then(|a| {
            let l = tcp_listen(a, 128)?;
            println!("chat server on {}", l.local_addr()?);
            serve(l)
        }),
        Some("load") => parse(args.get(1)).and_then(|a| {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(CLIENTS);
            let m = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(LINES);
            load(a, n, m)
        }),
        Some(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: tcp_chat [server ADDR | load ADDR [clients] [lines]]",
        )),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp_chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(a: Option<&String>) -> io::Result<SocketAddr> {
    a.and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "expected ADDR:PORT"))
}

/// Server and load generator in one process, on one thread.
fn demo() -> io::Result<()> {
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 128)?;
    let addr = l.local_addr()?;
    println!("chat server on {addr}");
    // Dropping the handle at the end cancels the server and its sessions.
    let server = go(move || serve(l))?;
    let res = load(addr, CLIENTS, LINES);
    drop(server);
    res
}

/// What sessions tell the hub.
enum Event {
    Join(u64, Chan<Rc<[u8]>>),
    Say(u64, Vec<u8>),
    Leave(u64),
}

/// Accepts forever; one session per connection, one hub for the room.
fn serve(l: TcpListener<'static>) -> io::Result<()> {
    let (to_hub, hub_end) = chmake::<Event>()?;
    let sessions = bundle()?;
    sessions.go(move || {
        if let Err(e) = hub(hub_end) {
            if !errno::is_errno(&e, errno::ECANCELED) {
                eprintln!("hub: {e}");
            }
        }
    })?;
    for id in 0.. {
        let (s, peer) = tcp_accept(&l, -1)?;
        let to_hub = to_hub.clone();
        sessions.go(move || {
            if let Err(e) = session(id, s, to_hub) {
                if !errno::is_errno(&e, errno::ECANCELED) {
                    eprintln!("session {id} ({peer}): {e}");
                }
            }
        })?;
    }
    Ok(())
}

/// The room: who is in it, and every line to everyone else.
fn hub(events: Chan<Event>) -> io::Result<()> {
    let mut members: BTreeMap<u64, Chan<Rc<[u8]>>> = BTreeMap::new();
    let mut dropped = 0u64;
    loop {
        match events.recv(-1)? {
            Event::Join(id, out) => {
                let hello = format!("* welcome, member {id}; {} online", members.len() + 1);
                let _ = out.send(Rc::from(hello.into_bytes()), 0);
                members.insert(id, out);
            }
            Event::Say(id, line) => {
                let mut msg = format!("{id}: ").into_bytes();
                msg.extend_from_slice(&line);
                let msg: Rc<[u8]> = Rc::from(msg);
                for (&other, out) in &members {
                    // Never wait for one member: a full queue loses the line.
                    if other != id && out.send(msg.clone(), 0).is_err() {
                        dropped += 1;
                    }
                }
            }
            Event::Leave(id) => {
                if let Some(out) = members.remove(&id) {
                    // The writer sends what is queued, then sees EPIPE.
                    out.done()?;
                }
                if members.is_empty() && dropped > 0 {
                    eprintln!("hub: {dropped} lines dropped for slow members");
                    dropped = 0;
                }
            }
        }
    }
}

/// One connection: this coroutine reads, a child writes.
fn session(id: u64, s: TcpStream<'static>, hub: Chan<Event>) -> io::Result<()> {
    let (r, w) = s.split();
    let (out, queue) = chmake_buffered::<Rc<[u8]>>(QUEUE)?;
    let writer = go(move || -> io::Result<TcpWriteHalf<'static>> {
        let mut w = suffix_attach(w, b"\r\n")?;
        loop {
            match queue.recv(-1) {
                Ok(line) => msend(&mut w, &line, after(10_000))?,
                Err(e) if errno::is_errno(&e, errno::EPIPE) => return w.detach(-1),
                Err(e) => return Err(e),
            }
        }
    })?;
    hub.send(Event::Join(id, out), -1)?;
    let mut r = suffix_attach(r, b"\r\n")?;
    let mut buf = [0u8; MAX_LINE];
    let ended = loop {
        match mrecv(&mut r, &mut buf, -1) {
            Ok(n) if &buf[..n] == b"/quit" => break Ok(()),
            Ok(n) => hub.send(Event::Say(id, buf[..n].to_vec()), -1)?,
            // Too long: skipped, the next line is read normally.
            Err(e) if errno::is_errno(&e, errno::EMSGSIZE) => {}
            Err(e) => break Err(e),
        }
    };
    hub.send(Event::Leave(id), -1)?;
    let w = writer.join(-1)??;
    ended?;
    // Both directions are in step: join the halves and close in order.
    let s = TcpStream::unsplit(r.detach(-1)?, w)
        .map_err(|_| io::Error::other("halves of different streams"))?;
    tcp_close(s, after(5000))
}

/// Connects `n` members, then each says `m` lines and reads the others'.
fn load(addr: SocketAddr, n: usize, m: usize) -> io::Result<()> {
    // Join everyone first (each member reads its welcome line), so that
    // every member hears every line said afterwards.
    let mut members = Vec::with_capacity(n);
    let mut buf = [0u8; MAX_LINE];
    for _ in 0..n {
        let (r, w) = tcp_connect(addr, after(10_000))?.split();
        let mut r = suffix_attach(r, b"\r\n")?;
        let w = suffix_attach(w, b"\r\n")?;
        let len = mrecv(&mut r, &mut buf, after(10_000))?;
        assert!(buf[..len].starts_with(b"* welcome"));
        members.push((r, w));
    }
    let expected = (n - 1) * m;
    let start = Instant::now();
    let b = bundle()?;
    let heard: Rc<std::cell::Cell<usize>> = Rc::default();
    for (i, (mut r, mut w)) in members.into_iter().enumerate() {
        let heard = heard.clone();
        b.go(move || {
            let res = (|| -> io::Result<()> {
                let talker = go(move || -> io::Result<_> {
                    for k in 0..m {
                        msend(&mut w, format!("line {k} from {i}").as_bytes(), -1)?;
                    }
                    Ok(w)
                })?;
                let mut buf = [0u8; MAX_LINE];
                let mut got = 0;
                // Stop at the expected count, or when nothing more comes
                // (lines dropped for a slow member never arrive).
                while got < expected {
                    match mrecv(&mut r, &mut buf, after(2000)) {
                        Ok(_) => got += 1,
                        Err(e) if errno::is_errno(&e, errno::ETIMEDOUT) => break,
                        Err(e) => return Err(e),
                    }
                }
                heard.set(heard.get() + got);
                let mut w = talker.join(-1)??;
                msend(&mut w, b"/quit", after(5000))?;
                // The server finishes its queue, then closes: read to the end.
                loop {
                    match mrecv(&mut r, &mut buf, after(5000)) {
                        Ok(_) => {}
                        Err(e) if errno::is_errno(&e, errno::EPIPE) => break,
                        Err(e) => return Err(e),
                    }
                }
                let s = TcpStream::unsplit(r.detach(-1)?, w.detach(-1)?)
                    .map_err(|_| io::Error::other("halves of different streams"))?;
                tcp_close(s, after(5000))
            })();
            if let Err(e) = res {
                eprintln!("member {i}: {e}");
            }
        })?;
    }
    b.wait(-1)?;
    let t = start.elapsed();
    let heard = heard.get();
    println!(
        "{n} members said {} lines; {heard} of {} deliveries arrived in {:.3} s ({:.0} lines/s delivered)",
        n * m,
        n * expected,
        t.as_secs_f64(),
        heard as f64 / t.as_secs_f64()
    );
    if heard < n * expected {
        println!("(the rest were dropped for members whose queues were full)");
    }
    Ok(())
}
