//! The TLS example's pieces, checked: the full run, a certificate the
//! client does not trust, a name the certificate does not cover, a
//! connection cut without `close_notify`, and a handshake bounded by a
//! deadline from outside (`io::Read` has none).
//!
//! Run with `cargo test -p dill-example-tls` (the member is not a default
//! one, so the root `cargo test` does not build rustls).

use std::io::{self, Read};
use std::net::SocketAddr;

use dill::*;
use dill_example_tls::*;
use rustls::{AlertDescription, CertificateError, ServerConnection, StreamOwned};

/// The rustls error inside an `io::Error`, if there is one.
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref())
}

fn loopback() -> TcpListener<'static> {
    tcp_listen(SocketAddr::from(([127, 0, 0, 1], 0)), 16).unwrap()
}

#[test]
fn sessions_interleave_and_every_echo_matches() {
    let s = run(5, 20, 20_000).unwrap();
    assert_eq!(s.sessions, 5);
    assert_eq!(s.rounds, 20);
    // All five clients were inside rustls's handshake at once.
    assert_eq!(s.parked, 5);
    let expected: u64 = (0..5)
        .flat_map(|c| (0..20).map(move |r| message(c, r).len() as u64))
        .sum();
    assert_eq!(s.bytes, expected);
    assert_eq!(s.version, "TLSv1_3");
    assert!(s.cipher_suite.starts_with("TLS13_"), "{}", s.cipher_suite);
}

#[test]
fn messages_span_records_and_differ_between_sessions() {
    let lens: Vec<usize> = (0..50).map(|r| message(0, r).len()).collect();
    assert!(lens.iter().all(|&n| (1..=MAX_MESSAGE).contains(&n)));
    assert!(lens.iter().any(|&n| n > 16 * 1024), "{lens:?}");
    assert!(lens.iter().any(|&n| n < 1024), "{lens:?}");
    let (a, b) = (message(1, 3), message(2, 3));
    assert_ne!(a[..a.len().min(b.len())], b[..a.len().min(b.len())]);
}

/// Runs one client against `serve` with the given configurations and
/// returns both outcomes.
fn one_session(
    server_id: Identity,
    pinned: rustls::pki_types::CertificateDer<'static>,
    name: &str,
) -> (io::Result<SessionReport>, io::Result<ServerReport>) {
    let listener = loopback();
    let addr = listener.local_addr().unwrap();
    let cfg = server_config(server_id).unwrap();
    let hs = Handshakes::default();
    let deadline = after(10_000);
    let server = {
        let hs = hs.clone();
        go(move || serve(listener, cfg, 1, &hs, deadline)).unwrap()
    };
    let client_cfg = client_config(pinned).unwrap();
    let c = client(addr, client_cfg, name, 0, 3, &hs, deadline);
    let s = server.join(deadline).unwrap();
    assert_eq!(hs.now(), 0);
    (c, s)
}

#[test]
fn a_certificate_other_than_the_pinned_one_is_refused() {
    let real = self_signed("localhost").unwrap();
    let impostor = self_signed("localhost").unwrap();
    let (c, s) = one_session(impostor, real.cert, "localhost");
    let c = c.unwrap_err();
    assert_eq!(c.kind(), io::ErrorKind::InvalidData);
    // rcgen's simple certificates all carry the same subject, so webpki
    // takes the pinned certificate for the impostor's issuer and the
    // signature check fails; a different subject would be UnknownIssuer.
    let cert_err = match rustls_error(&c) {
        Some(rustls::Error::InvalidCertificate(
            e @ (CertificateError::BadSignature | CertificateError::UnknownIssuer),
        )) => e.clone(),
        _ => panic!("{c:?}"),
    };
    // The client told the server why, with the matching alert.
    let s = s.unwrap_err();
    assert_eq!(
        rustls_error(&s),
        Some(&rustls::Error::AlertReceived(AlertDescription::from(
            cert_err
        ))),
        "{s:?}"
    );
}

#[test]
fn a_name_the_certificate_does_not_cover_is_refused() {
    let id = self_signed("localhost").unwrap();
    let pinned = id.cert.clone();
    let (c, s) = one_session(id, pinned, "example.com");
    let c = c.unwrap_err();
    assert!(
        matches!(
            rustls_error(&c),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{c}"
    );
    let s = s.unwrap_err();
    assert_eq!(
        rustls_error(&s),
        Some(&rustls::Error::AlertReceived(
            AlertDescription::BadCertificate
        )),
        "{s:?}"
    );
}

#[test]
fn a_connection_cut_without_close_notify_is_unexpected_eof() {
    let id = self_signed("localhost").unwrap();
    let client_cfg = client_config(id.cert.clone()).unwrap();
    let cfg = server_config(id).unwrap();
    let listener = loopback();
    let addr = listener.local_addr().unwrap();
    // A server that completes the handshake, reads the first message (one
    // byte: message(0, 0)) and then ends the TCP stream in order, but
    // without a TLS close_notify.
    let server = go(move || -> io::Result<usize> {
        let (tcp, _) = tcp_accept(&listener, after(10_000))?;
        let conn = ServerConnection::new(cfg).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, tcp);
        let mut buf = [0u8; 64];
        let n = tls.read(&mut buf)?;
        tcp_close(tls.sock, after(10_000))?;
        Ok(n)
    })
    .unwrap();
    assert_eq!(message(0, 0).len(), 1);
    let hs = Handshakes::default();
    let e = client(addr, client_cfg, "localhost", 0, 1, &hs, after(10_000)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    assert_eq!(server.join(after(10_000)).unwrap().unwrap(), 1);
}

#[test]
fn a_deadline_on_join_bounds_a_handshake_that_never_ends() {
    let id = self_signed("localhost").unwrap();
    let client_cfg = client_config(id.cert).unwrap();
    let listener = loopback();
    let addr = listener.local_addr().unwrap();
    // Accepts, then never answers the ClientHello.
    let (accepted_tx, accepted_rx) = chmake_buffered::<TcpStream<'static>>(1).unwrap();
    let acceptor = go(move || -> io::Result<()> {
        let (tcp, _) = tcp_accept(&listener, after(10_000))?;
        accepted_tx.send(tcp, -1)
    })
    .unwrap();
    let hs = Handshakes::default();
    let (outcome_tx, outcome_rx) = chmake_buffered::<Option<i32>>(1).unwrap();
    let c = {
        let hs = hs.clone();
        go(move || {
            let r = client(addr, client_cfg, "localhost", 0, 1, &hs, -1);
            outcome_tx
                .send(r.err().and_then(|e| e.raw_os_error()), -1)
                .unwrap();
        })
        .unwrap()
    };
    let _held = accepted_rx.recv(after(10_000)).unwrap();
    acceptor.join(after(10_000)).unwrap().unwrap();
    let deadline = after(150);
    let e = c.join(deadline).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(errno::ETIMEDOUT));
    assert!(now() >= deadline, "join returned before its deadline");
    // The client's blocked rustls read failed with ECANCELED when the join
    // gave up, and its handshake is no longer counted.
    assert_eq!(outcome_rx.recv(0).unwrap(), Some(errno::ECANCELED));
    assert_eq!(hs.now(), 0);
}
