//! A small authoritative name server for the tests, on loopback UDP, run
//! on std threads. What it answers depends on the name asked (see
//! `respond`). Two instances share one port: 127.0.0.1 (the first server
//! of the test `resolv.conf`) and 127.0.0.2 (the second).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

pub const A: u16 = 1;
pub const CNAME: u16 = 5;
pub const AAAA: u16 = 28;

/// Queries seen per (server index, name, type).
#[derive(Default)]
pub struct Log {
    counts: Mutex<HashMap<(usize, String, u16), usize>>,
}

impl Log {
    pub fn count(&self, server: usize, name: &str, qtype: u16) -> usize {
        *self
            .counts
            .lock()
            .unwrap()
            .get(&(server, name.to_string(), qtype))
            .unwrap_or(&0)
    }
}

pub struct Servers {
    pub port: u16,
    pub log: Arc<Log>,
    /// A port on 127.0.0.1 where nothing listens (UDP).
    pub closed_port: u16,
}

static SERVERS: OnceLock<Servers> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());
static FILES: AtomicUsize = AtomicUsize::new(0);

/// The servers, started on first use.
pub fn servers() -> &'static Servers {
    SERVERS.get_or_init(|| {
        let log = Arc::new(Log::default());
        for _ in 0..50 {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = a.local_addr().unwrap().port();
            let Ok(b) = UdpSocket::bind(("127.0.0.2", port)) else {
                continue;
            };
            let (Ok(ta), Ok(tb)) = (
                TcpListener::bind(("127.0.0.1", port)),
                TcpListener::bind(("127.0.0.2", port)),
            ) else {
                continue;
            };
            for (i, l) in [ta, tb].into_iter().enumerate() {
                let log = log.clone();
                std::thread::spawn(move || serve_tcp(i, l, log));
            }
            let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
            let closed_port = closed.local_addr().unwrap().port();
            drop(closed);
            // A third server on ::1 where IPv6 works (index 2).
            let c = UdpSocket::bind(("::1", port)).ok();
            for (i, s) in [Some(a), Some(b), c].into_iter().enumerate() {
                let Some(s) = s else { continue };
                let log = log.clone();
                std::thread::spawn(move || serve(i, s, log));
            }
            return Servers {
                port,
                log,
                closed_port,
            };
        }
        panic!("no port free on both 127.0.0.1 and 127.0.0.2");
    })
}

/// Environment variables are process-wide: every test of a binary that
/// sets them holds this lock while it runs.
pub struct Env {
    _guard: MutexGuard<'static, ()>,
    files: Vec<PathBuf>,
}

impl Drop for Env {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn write_tmp(text: &str) -> PathBuf {
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("dill-dns-test-{}-{n}", std::process::id()));
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    p
}

/// Points the resolver at `resolv_conf` and `hosts` (texts) for as long
/// as the returned guard lives.
pub fn env(resolv_conf: &str, hosts: &str) -> Env {
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let r = write_tmp(resolv_conf);
    let h = write_tmp(hosts);
    std::env::set_var("DILL_RESOLV_CONF", &r);
    std::env::set_var("DILL_HOSTS", &h);
    Env {
        _guard: guard,
        files: vec![r, h],
    }
}

/// The usual configuration: both test servers, short timeouts.
pub fn default_env() -> Env {
    let s = servers();
    env(
        &format!(
            "nameserver 127.0.0.1\nnameserver 127.0.0.2\nsearch test\n\
             options port:{} timeout:1 attempts:2\n",
            s.port
        ),
        "10.9.9.9 hosted.test\n::1 hosted.test\n10.8.8.8 both.test\n",
    )
}

/// Reads a query: (id, name in text, type, question bytes).
fn parse_query(q: &[u8]) -> Option<(u16, String, u16, Vec<u8>)> {
    let id = u16::from_be_bytes([*q.first()?, *q.get(1)?]);
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let l = *q.get(pos)? as usize;
        pos += 1;
        if l == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(pos..pos + l)?).to_ascii_lowercase());
        pos += l;
    }
    let qtype = u16::from_be_bytes([*q.get(pos)?, *q.get(pos + 1)?]);
    Some((id, labels.join("."), qtype, q.get(12..pos + 4)?.to_vec()))
}

fn wire_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in name.split('.') {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

/// An answer message.
struct Msg {
    id: u16,
    flags: u16,
    question: Vec<u8>,
    answers: Vec<Vec<u8>>,
}

impl Msg {
    fn new(id: u16, rcode: u16, question: &[u8]) -> Msg {
        Msg {
            id,
            flags: 0x8180 | rcode,
            question: question.to_vec(),
            answers: Vec::new(),
        }
    }

    /// A record whose owner is the question's name (compressed pointer).
    fn rr(mut self, rtype: u16, rdata: &[u8]) -> Msg {
        self.answers.push(rr(&[0xC0, 12], rtype, rdata));
        self
    }

    fn rr_named(mut self, owner: &str, rtype: u16, rdata: &[u8]) -> Msg {
        self.answers.push(rr(&wire_name(owner), rtype, rdata));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&self.id.to_be_bytes());
        m.extend_from_slice(&self.flags.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&(self.answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&self.question);
        for a in &self.answers {
            m.extend_from_slice(a);
        }
        m
    }
}

fn rr(owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut v = owner.to_vec();
    v.extend_from_slice(&rtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&60u32.to_be_bytes());
    v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    v.extend_from_slice(rdata);
    v
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

fn serve(index: usize, sock: UdpSocket, log: Arc<Log>) {
    let mut buf = [0u8; 1500];
    let spoofer = UdpSocket::bind((["127.0.0.1", "127.0.0.2", "::1"][index], 0)).unwrap();
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Some((id, name, qtype, question)) = parse_query(&buf[..n]) else {
            continue;
        };
        let seen = {
            let mut c = log.counts.lock().unwrap();
            let e = c.entry((index, name.clone(), qtype)).or_insert(0);
            *e += 1;
            *e
        };
        for reply in respond(index, id, &name, qtype, &question, seen, false) {
            match reply {
                Reply::Send(m) => {
                    let _ = sock.send_to(&m, from);
                }
                Reply::Spoof(m) => {
                    let _ = spoofer.send_to(&m, from);
                }
            }
        }
    }
}

/// The same zone over TCP (RFC 7766 framing), one query per connection.
/// Queries are logged under the server index plus 10.
fn serve_tcp(index: usize, l: TcpListener, log: Arc<Log>) {
    for conn in l.incoming() {
        let Ok(mut c) = conn else { continue };
        let mut len = [0u8; 2];
        if c.read_exact(&mut len).is_err() {
            continue;
        }
        let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
        if c.read_exact(&mut q).is_err() {
            continue;
        }
        let Some((id, name, qtype, question)) = parse_query(&q) else {
            continue;
        };
        let seen = {
            let mut c = log.counts.lock().unwrap();
            let e = c.entry((index + 10, name.clone(), qtype)).or_insert(0);
            *e += 1;
            *e
        };
        if let Some(Reply::Send(m)) = respond(index, id, &name, qtype, &question, seen, true)
            .into_iter()
            .last()
        {
            let _ = c.write_all(&(m.len() as u16).to_be_bytes());
            let _ = c.write_all(&m);
        }
    }
}

enum Reply {
    Send(Vec<u8>),
    /// Sent from another port of the same address.
    Spoof(Vec<u8>),
}

/// The zone. Server 1 (index 1, 127.0.0.2) answers like server 0 except
/// where noted.
fn respond(
    index: usize,
    id: u16,
    name: &str,
    qtype: u16,
    q: &[u8],
    seen: usize,
    tcp: bool,
) -> Vec<Reply> {
    use Reply::Send;
    let ok = |m: Msg| vec![Send(m.bytes())];
    let nodata = Msg::new(id, 0, q);
    match (name, qtype) {
        ("www.test" | "short.test", A) => ok(Msg::new(id, 0, q)
            .rr(A, &[10, 0, 0, 1])
            .rr(A, &[10, 0, 0, 2])),
        ("www.test" | "short.test", AAAA) => ok(Msg::new(id, 0, q).rr(AAAA, &v6("fd00::1"))),
        ("v4only.test", A) => ok(Msg::new(id, 0, q).rr(A, &[10, 1, 1, 1])),
        ("v6only.test", AAAA) => ok(Msg::new(id, 0, q).rr(AAAA, &v6("fd00::6"))),
        ("v4only.test", _) | ("v6only.test", _) => ok(nodata),
        ("alias.test", A) => ok(Msg::new(id, 0, q)
            .rr(CNAME, &wire_name("mid.test"))
            .rr_named("mid.test", CNAME, &wire_name("end.test"))
            .rr_named("end.test", A, &[10, 2, 2, 2])),
        ("alias.test", AAAA) => ok(Msg::new(id, 0, q).rr(CNAME, &wire_name("mid.test"))),
        ("both.test", A) => ok(Msg::new(id, 0, q).rr(A, &[10, 7, 7, 7])),
        ("both.test", AAAA) => ok(Msg::new(id, 0, q).rr(AAAA, &v6("fd00::7"))),
        // Wrong id, wrong question and a spoofed source come first; the
        // resolver must skip them all.
        ("picky.test", _) => {
            let mut wrong_q = q.to_vec();
            wrong_q[1] = b'x'; // "xicky.test"
            let good = if qtype == A {
                Msg::new(id, 0, q).rr(A, &[10, 3, 3, 3])
            } else {
                Msg::new(id, 0, q)
            };
            let bad_addr = if qtype == A {
                Msg::new(id, 0, q).rr(A, &[6, 6, 6, 6])
            } else {
                Msg::new(id, 0, q)
            };
            vec![
                Send(
                    Msg::new(id.wrapping_add(1), 0, q)
                        .rr(A, &[6, 6, 6, 6])
                        .bytes(),
                ),
                Send(Msg::new(id, 0, &wrong_q).rr(A, &[6, 6, 6, 6]).bytes()),
                Reply::Spoof(bad_addr.bytes()),
                Send(good.bytes()),
            ]
        }
        // Silent on server 0 for the first try, then answers.
        ("retry.test", A) if index == 0 && seen == 1 => vec![],
        ("retry.test", A) => ok(Msg::new(id, 0, q).rr(A, &[10, 4, 4, 4])),
        // Server 0 fails these; server 1 answers.
        ("servfail.test" | "malformed.test" | "truncated.test", A) if index == 1 => {
            ok(Msg::new(id, 0, q).rr(A, &[10, 5, 5, 5]))
        }
        ("servfail.test", _) => ok(Msg::new(id, 2, q)),
        ("refused.test", _) => ok(Msg::new(id, 5, q)),
        ("malformed.test", _) => {
            // An answer whose owner name points at itself.
            let mut m = Msg::new(id, 0, q).bytes();
            m[7] = 1;
            let at = m.len() as u16;
            m.extend_from_slice(&(0xC000 | at).to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 6, 6, 6, 6]);
            vec![Send(m)]
        }
        // Truncated with no record on server 0.
        ("truncated.test", _) => {
            let mut m = Msg::new(id, 0, q);
            m.flags |= 0x0200;
            ok(m)
        }
        // Over TCP: the whole answer of a truncated one.
        ("partial.test", A) if tcp => ok(Msg::new(id, 0, q)
            .rr(A, &[10, 6, 6, 6])
            .rr(A, &[10, 6, 6, 7])),
        ("tcponly.test", A) if tcp => ok(Msg::new(id, 0, q)
            .rr(A, &[10, 11, 0, 1])
            .rr(A, &[10, 11, 0, 2])
            .rr(A, &[10, 11, 0, 3])),
        ("tcponly.test", A) => {
            let mut m = Msg::new(id, 0, q);
            m.flags |= 0x0200;
            ok(m)
        }
        // Too big for the resolver's UDP buffer (300 records); fine over TCP.
        ("huge.test", A) => {
            let mut m = Msg::new(id, 0, q);
            for i in 0..300u16 {
                let [hi, lo] = i.to_be_bytes();
                m = m.rr(A, &[10, 20, hi, lo]);
            }
            ok(m)
        }
        // Truncated with one record; TCP closes without answering.
        ("tcpfail.test", A) if tcp => vec![],
        ("tcpfail.test", A) => {
            let mut m = Msg::new(id, 0, q).rr(A, &[10, 12, 12, 12]);
            m.flags |= 0x0200;
            ok(m)
        }
        ("tcponly.test" | "huge.test" | "tcpfail.test", _) => ok(nodata),
        // Truncated, but with one whole record.
        ("partial.test", A) => {
            let mut m = Msg::new(id, 0, q).rr(A, &[10, 6, 6, 6]);
            m.flags |= 0x0200;
            ok(m)
        }
        ("partial.test", _) => ok(nodata),
        ("silent.test", _) => vec![],
        // AAAA queries are lost somewhere; A works.
        ("nov6answer.test", A) => ok(Msg::new(id, 0, q).rr(A, &[10, 10, 10, 10])),
        ("nov6answer.test", _) => vec![],
        // Loopback over IPv4; AAAA queries lost.
        ("lo4.test", A) => ok(Msg::new(id, 0, q).rr(A, &[127, 0, 0, 1])),
        ("lo4.test", _) => vec![],
        _ => ok(Msg::new(id, 3, q)),
    }
}

/// Descriptors open in this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
