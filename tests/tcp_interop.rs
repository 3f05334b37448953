//! Interoperability with another implementation: python3's `socket`
//! module as TCP server and as TCP client, with half-close and orderly
//! close on both sides.

mod ipc_util;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use dill::*;

const PY_SERVER: &str = r#"
import socket
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, peer = srv.accept()
data = b""
while True:
    chunk = conn.recv(65536)
    if not chunk:
        break
    data += chunk
assert data == bytes(i % 253 for i in range(300000)), len(data)
conn.sendall(b"got %d bytes from %s:%d" % (len(data), peer[0].encode(), peer[1]))
conn.shutdown(socket.SHUT_WR)
assert conn.recv(1) == b""
conn.close()
srv.close()
"#;

const PY_CLIENT: &str = r#"
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"ping" * 25000)
got = b""
while len(got) < 100000:
    d = c.recv(100000 - len(got))
    assert d, "early EOF"
    got += d
assert got == b"PONG" * 25000
c.shutdown(socket.SHUT_WR)
assert c.recv(1) == b""
c.close()
print("done", flush=True)
"#;

#[test]
fn dill_client_python_server() {
    let mut child = Command::new("python3")
        .args(["-c", PY_SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = tcp_connect(addr, after(10_000)).unwrap();
    let data: Vec<u8> = (0..300_000).map(|i| (i % 253) as u8).collect();
    bsend(&mut s, &data, after(10_000)).unwrap();
    tcp_done(&mut s, after(10_000)).unwrap();
    let local = s.local_addr().unwrap();
    let want = format!("got 300000 bytes from {}:{}", local.ip(), local.port());
    let mut buf = vec![0u8; want.len()];
    brecv(&mut s, &mut buf, after(10_000)).unwrap();
    assert_eq!(String::from_utf8(buf).unwrap(), want);
    tcp_close(s, after(10_000)).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn python_client_dill_server() {
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    let port = l.local_addr().unwrap().port();
    let mut child = Command::new("python3")
        .args(["-c", PY_CLIENT, &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let (s, _) = tcp_accept(&l, after(20_000)).unwrap();
    // A reader and a writer coroutine on the two halves.
    let (mut rx, mut tx) = s.split();
    let (to_writer, from_reader) = chmake::<Vec<u8>>().unwrap();
    let reader = go(move || -> std::io::Result<()> {
        let mut buf = [0u8; 4];
        loop {
            match brecv(&mut rx, &mut buf, after(20_000)) {
                Ok(()) => {
                    assert_eq!(&buf, b"ping");
                    to_writer.send(b"PONG".to_vec(), -1)?;
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return to_writer.done(),
                Err(e) => return Err(e),
            }
        }
    })
    .unwrap();
    let writer = go(move || -> std::io::Result<()> {
        loop {
            match from_reader.recv(-1) {
                Ok(msg) => bsend(&mut tx, &msg, after(20_000))?,
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return tx.done(-1),
                Err(e) => return Err(e),
            }
        }
    })
    .unwrap();
    reader.join(-1).unwrap().unwrap();
    writer.join(-1).unwrap().unwrap();
    let mut out = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut out)
        .unwrap();
    assert_eq!(out.trim(), "done");
    assert!(child.wait().unwrap().success());
}
