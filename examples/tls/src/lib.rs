//! TLS 1.3 over dill's [`TcpStream`] with `rustls`: a blocking-I/O crate
//! working unchanged inside coroutines.
//!
//! dill's `TcpStream` implements [`io::Read`] and [`io::Write`]; a call that
//! would block parks only the calling coroutine while the others of the
//! thread run. So `rustls::StreamOwned`, written for blocking sockets, is
//! used here as it is: no async adapter, no thread per connection.
//!
//! [`run`] plays both sides on one thread, with one scheduler: a server
//! coroutine that echoes what it receives, and several client coroutines
//! whose sessions interleave. To make the point, the server answers no
//! ClientHello until it has accepted every session and read the start of
//! each one's ClientHello: by then every client coroutine is parked inside
//! rustls's handshake (a blocking call, from rustls's point of view), and
//! the thread is still free to run the server. [`Summary::parked`] counts
//! them; the run completes only because handshakes block just their own
//! coroutine.
//!
//! The certificate is self-signed and made at run time with `rcgen`; the
//! client trusts exactly that certificate (it is the only root in its
//! store). Only TLS 1.3 is offered, with rustls's `ring` provider.
//!
//! `io::Read` and `io::Write` take no deadline. Bound them from outside:
//! [`run`] joins every coroutine with one deadline, and a join that times
//! out cancels the coroutine, whose blocked read or write then fails with
//! `ECANCELED`.

#![deny(missing_docs, missing_debug_implementations)]

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dill::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned,
};

/// A TLS client session over a dill TCP stream.
pub type TlsClient = StreamOwned<ClientConnection, TcpStream<'static>>;
/// A TLS server session over a dill TCP stream.
pub type TlsServer = StreamOwned<ServerConnection, TcpStream<'static>>;

/// The largest message a client sends: more than one TLS record (16 KiB).
pub const MAX_MESSAGE: usize = 20_000;

/// A certificate and its private key.
#[derive(Debug)]
pub struct Identity {
    /// The certificate, DER-encoded.
    pub cert: CertificateDer<'static>,
    /// Its private key, PKCS#8 DER.
    pub key: PrivateKeyDer<'static>,
}

/// Makes a self-signed certificate for `name` (an ECDSA P-256 key).
///
/// # Errors
///
/// `InvalidInput` if `name` cannot be a subject alternative name.
pub fn self_signed(name: &str) -> io::Result<Identity> {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec![name.to_string()])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(Identity {
        cert: cert.der().clone(),
        key: signing_key.into(),
    })
}

/// Turns a rustls error into the `io::Error` rustls itself would give.
fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration that offers TLS 1.3 only and presents `id`.
///
/// # Errors
///
/// `InvalidData` if the key does not match the certificate or is not
/// usable.
pub fn server_config(id: Identity) -> io::Result<Arc<ServerConfig>> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(vec![id.cert], id.key)
        .map_err(tls_err)?;
    Ok(Arc::new(config))
}

/// A client configuration that offers TLS 1.3 only and trusts exactly the
/// certificate `pinned`.
///
/// # Errors
///
/// `InvalidData` if `pinned` is not a usable certificate.
pub fn client_config(pinned: CertificateDer<'static>) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.add(pinned).map_err(tls_err)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Turns Nagle's algorithm off (`TCP_NODELAY`). dill leaves TCP sockets
/// as libdill does, with Nagle on; TLS hands records to the socket as it
/// makes them, and in a request/response exchange a small last record
/// would otherwise wait for the peer's delayed ACK (tens of milliseconds).
///
/// # Errors
///
/// Those of `setsockopt`.
pub fn set_nodelay(tcp: &TcpStream<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `tcp` keeps the descriptor open for the call; the option
    // value is a live `c_int` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Counts the coroutines that are inside a TLS handshake right now.
#[derive(Debug, Default, Clone)]
pub struct Handshakes(Rc<Cell<usize>>);

impl Handshakes {
    /// How many handshakes are under way.
    pub fn now(&self) -> usize {
        self.0.get()
    }

    /// Counts one more handshake until the guard is dropped.
    fn enter(&self) -> InHandshake<'_> {
        self.0.set(self.0.get() + 1);
        InHandshake(&self.0)
    }
}

/// One handshake counted by [`Handshakes`].
struct InHandshake<'a>(&'a Cell<usize>);

impl Drop for InHandshake<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Message `round` of client `session`: its length varies from 1 byte to
/// [`MAX_MESSAGE`] and its bytes depend on both numbers, so an echo from
/// the wrong session or round, or a corrupted one, is caught.
pub fn message(session: usize, round: usize) -> Vec<u8> {
    let len = 1 + (session * 7919 + round * 104_729) % MAX_MESSAGE;
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ session.wrapping_mul(131) ^ round.wrapping_mul(17)) as u8)
        .collect()
}

/// What one client session saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// Bytes sent, each of them echoed back and checked.
    pub bytes: u64,
    /// The negotiated protocol version.
    pub version: String,
    /// The negotiated cipher suite.
    pub cipher_suite: String,
}

/// A client session: connects to `addr`, completes the handshake
/// (verifying that the server is `server_name`), sends `rounds` messages
/// from [`message`], checks each echo, and closes in order: TLS
/// `close_notify` both ways, then `tcp_close`.
///
/// `deadline` bounds the connect and the final `tcp_close`; the TLS
/// traffic in between goes through `io::Read`/`io::Write`, which have no
/// deadline: bound it by joining the coroutine with one.
///
/// # Errors
///
/// Those of `tcp_connect` and `tcp_close`; `InvalidData` (wrapping a
/// `rustls::Error`) when the handshake fails, for instance on a
/// certificate the client does not trust, or when an echo differs from
/// what was sent; `UnexpectedEof` when the server closes the connection
/// without `close_notify`; `ECANCELED` when the coroutine is cancelled.
pub fn client(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    server_name: &str,
    session: usize,
    rounds: usize,
    handshakes: &Handshakes,
    deadline: i64,
) -> io::Result<SessionReport> {
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tcp = tcp_connect(addr, deadline)?;
    set_nodelay(&tcp)?;
    let conn = ClientConnection::new(config, name).map_err(tls_err)?;
    let mut tls: TlsClient = StreamOwned::new(conn, tcp);
    {
        // Blocks this coroutine only: the others, the server included, run.
        let _counted = handshakes.enter();
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
    }
    let version = format!("{:?}", tls.conn.protocol_version().expect("handshake done"));
    let cipher_suite = format!(
        "{:?}",
        tls.conn
            .negotiated_cipher_suite()
            .expect("handshake done")
            .suite()
    );

    let mut bytes = 0;
    let mut reply = Vec::with_capacity(MAX_MESSAGE);
    for round in 0..rounds {
        let msg = message(session, round);
        tls.write_all(&msg)?;
        reply.resize(msg.len(), 0);
        tls.read_exact(&mut reply)?;
        if reply != msg {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("session {session}, round {round}: the echo differs from the message"),
            ));
        }
        bytes += msg.len() as u64;
    }

    // Orderly end: our close_notify, then the server's (read gives Ok(0)
    // only for a close_notify; a bare TCP end of stream is UnexpectedEof).
    tls.conn.send_close_notify();
    tls.flush()?;
    let mut extra = [0u8; 1];
    if tls.read(&mut extra)? != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("session {session}: data after the last echo"),
        ));
    }
    tcp_close(tls.sock, deadline)?;
    Ok(SessionReport {
        bytes,
        version,
        cipher_suite,
    })
}

/// Serves one session whose handshake may have begun: finishes the
/// handshake, echoes everything until the client's `close_notify`, answers
/// with its own and closes in order with `tcp_close` (bounded by
/// `deadline`). Returns the number of bytes echoed.
///
/// # Errors
///
/// `InvalidData` when the handshake fails (the client rejects the
/// certificate, say) or the client sends garbage; `UnexpectedEof` when the
/// client closes the connection without `close_notify`; those of
/// `tcp_close`; `ECANCELED` when the coroutine is cancelled.
pub fn echo(mut tls: TlsServer, deadline: i64) -> io::Result<u64> {
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut bytes = 0;
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            break; // close_notify
        }
        tls.write_all(&buf[..n])?;
        bytes += n as u64;
    }
    tls.conn.send_close_notify();
    tls.flush()?;
    tcp_close(tls.sock, deadline)?;
    Ok(bytes)
}

/// What the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    /// Client handshakes under way when the server began to answer.
    pub parked: usize,
    /// Bytes echoed, all sessions together.
    pub bytes: u64,
}

/// Accepts `sessions` connections on `listener` and reads the first bytes
/// of each one's ClientHello before answering any of them; then serves
/// each session with [`echo`] in a coroutine of its own and waits for them
/// all.
///
/// # Errors
///
/// Those of `tcp_accept`; `UnexpectedEof` if a client leaves before its
/// ClientHello; the first error of a session (the others are then
/// cancelled); `ECANCELED` when the coroutine is cancelled.
pub fn serve(
    listener: TcpListener<'static>,
    config: Arc<ServerConfig>,
    sessions: usize,
    handshakes: &Handshakes,
    deadline: i64,
) -> io::Result<ServerReport> {
    let mut waiting = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let (mut tcp, _peer) = tcp_accept(&listener, deadline)?;
        set_nodelay(&tcp)?;
        let mut conn = ServerConnection::new(config.clone()).map_err(tls_err)?;
        // Once any of its bytes are here, the client has sent its
        // ClientHello and is blocked in rustls waiting for the answer,
        // which nobody has sent yet.
        if conn.read_tls(&mut tcp)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        conn.process_new_packets().map_err(tls_err)?;
        waiting.push(StreamOwned::new(conn, tcp));
    }
    let parked = handshakes.now();
    let handlers = waiting
        .into_iter()
        .map(|tls| go(move || echo(tls, deadline)))
        .collect::<io::Result<Vec<_>>>()?;
    let mut bytes = 0;
    for h in handlers {
        bytes += h.join(deadline)??;
    }
    Ok(ServerReport { parked, bytes })
}

/// The outcome of [`run`].
#[derive(Debug, Clone)]
pub struct Summary {
    /// Client sessions, all completed.
    pub sessions: usize,
    /// Messages each session sent and had echoed.
    pub rounds: usize,
    /// Bytes echoed, all sessions together.
    pub bytes: u64,
    /// Client handshakes that were under way at once, each parked in its
    /// own coroutine, when the server began to answer.
    pub parked: usize,
    /// The negotiated protocol version.
    pub version: String,
    /// The negotiated cipher suite.
    pub cipher_suite: String,
    /// Wall-clock time of the whole run, certificate generation included.
    pub elapsed: Duration,
}

/// Runs a TLS echo server and `sessions` concurrent clients of `rounds`
/// messages each, all coroutines of the calling thread, over loopback TCP,
/// and checks what they saw. Everything must be done within `within_ms`
/// milliseconds; coroutines still running then are cancelled.
///
/// # Errors
///
/// The first failure of a client or the server; `ETIMEDOUT` if the run
/// takes longer than `within_ms`; `InvalidData` if the server and the
/// clients disagree on the bytes moved.
pub fn run(sessions: usize, rounds: usize, within_ms: i64) -> io::Result<Summary> {
    let start = Instant::now();
    let deadline = after(within_ms);
    let id = self_signed("localhost")?;
    let client_cfg = client_config(id.cert.clone())?;
    let server_cfg = server_config(id)?;

    let listener = tcp_listen(SocketAddr::from(([127, 0, 0, 1], 0)), 128)?;
    let addr = listener.local_addr()?;
    let handshakes = Handshakes::default();
    let server = {
        let handshakes = handshakes.clone();
        go(move || serve(listener, server_cfg, sessions, &handshakes, deadline))?
    };
    let clients = (0..sessions)
        .map(|session| {
            let (cfg, handshakes) = (client_cfg.clone(), handshakes.clone());
            go(move || {
                client(
                    addr,
                    cfg,
                    "localhost",
                    session,
                    rounds,
                    &handshakes,
                    deadline,
                )
            })
        })
        .collect::<io::Result<Vec<_>>>()?;

    let mut reports = Vec::with_capacity(sessions);
    for c in clients {
        reports.push(c.join(deadline)??);
    }
    let server = server.join(deadline)??;

    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    let expected: u64 = (0..sessions)
        .flat_map(|s| (0..rounds).map(move |r| message(s, r).len() as u64))
        .sum();
    if bytes != expected || server.bytes != expected {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "bytes: clients {bytes}, server {}, expected {expected}",
                server.bytes
            ),
        ));
    }
    let first = reports.first();
    Ok(Summary {
        sessions,
        rounds,
        bytes,
        parked: server.parked,
        version: first.map(|r| r.version.clone()).unwrap_or_default(),
        cipher_suite: first.map(|r| r.cipher_suite.clone()).unwrap_or_default(),
        elapsed: start.elapsed(),
    })
}
