//! Interoperability with another implementation: python3's `socket` module
//! as server and as client, including descriptor passing
//! (`socket.send_fds`/`socket.recv_fds`).

mod ipc_util;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, FromRawFd};
use std::process::{Command, Stdio};

use dill::*;
use ipc_util::*;

const PY_SERVER: &str = r#"
import os, socket, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
data = b""
while len(data) < 5:
    chunk = conn.recv(5 - len(data))
    assert chunk, "early EOF"
    data += chunk
conn.sendall(data.upper())
r, w = os.pipe()
os.write(w, b"from a python pipe")
os.close(w)
socket.send_fds(conn, [b"\0"], [r])
os.close(r)
conn.shutdown(socket.SHUT_WR)
while conn.recv(4096):
    pass
conn.close()
srv.close()
"#;

const PY_CLIENT: &str = r#"
import os, socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[1])
c.sendall(b"x" * 100000)
got = b""
while len(got) < 100000:
    d = c.recv(100000 - len(got))
    assert d, "early EOF"
    got += d
assert got == b"y" * 100000
msg, fds, flags, addr = socket.recv_fds(c, 1, 1)
assert msg == b"\0" and len(fds) == 1, (msg, fds)
os.write(fds[0], b"hi from python")
os.close(fds[0])
c.shutdown(socket.SHUT_WR)
assert c.recv(1) == b""
c.close()
print("done", flush=True)
"#;

#[test]
fn dill_client_python_server() {
    let p = TempPath::new("py-server");
    let mut child = Command::new("python3")
        .args(["-c", PY_SERVER])
        .arg(&*p)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");

    let mut mem = IpcMem::new();
    let mut s = ipc_connect_mem(&p, &mut mem, now() + 10_000).unwrap();
    bsend(&mut s, b"hello", -1).unwrap();
    let mut buf = [0u8; 5];
    brecv(&mut s, &mut buf, now() + 10_000).unwrap();
    assert_eq!(&buf, b"HELLO");
    let fd = ipc_recvfd(&mut s, now() + 10_000).unwrap();
    assert!(is_cloexec(std::os::fd::AsRawFd::as_raw_fd(&fd)));
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text).unwrap();
    assert_eq!(text, "from a python pipe");
    assert_errno(
        brecv(&mut s, &mut buf[..1], now() + 10_000),
        libc::EPIPE,
        "EOF",
    );
    ipc_close(s, now() + 10_000).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn python_client_dill_server() {
    let p = TempPath::new("py-client");
    let l = ipc_listen(&p, 4).unwrap();
    let child = Command::new("python3")
        .args(["-c", PY_CLIENT])
        .arg(&*p)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut s = ipc_accept(&l, now() + 20_000).unwrap();
    let mut data = vec![0u8; 100_000];
    brecv(&mut s, &mut data, now() + 10_000).unwrap();
    assert!(data.iter().all(|&b| b == b'x'));
    bsend(&mut s, &[b'y'; 100_000], now() + 10_000).unwrap();

    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors from pipe2().
    let (mut r, w) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    ipc_sendfd(&mut s, w.as_fd(), now() + 10_000).unwrap();
    drop(w);
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hi from python");

    assert_errno(
        brecv(&mut s, &mut [0u8; 1], now() + 10_000),
        libc::EPIPE,
        "EOF",
    );
    ipc_close(s, now() + 10_000).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "done");
}
