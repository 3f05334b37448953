//! Helpers shared by the `msg_*` integration tests: errno checks, a writer
//! that dribbles bytes one at a time, and a python3 peer speaking raw bytes
//! over a socketpair.
#![allow(dead_code)]

use std::fmt::Debug;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use dill::*;

/// The errno of a failed result; panics (showing the value) on success.
#[track_caller]
pub fn errno<T: Debug>(r: io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("error without errno: {e}")),
    }
}

/// Asserts that `r` failed with `code`.
#[track_caller]
pub fn assert_errno<T: Debug>(r: io::Result<T>, code: i32, what: &str) {
    let got = errno(r);
    assert_eq!(
        got,
        code,
        "{what}: expected {}, got {}",
        io::Error::from_raw_os_error(code),
        io::Error::from_raw_os_error(got)
    );
}

/// Receives one message of at most `cap` bytes and returns it.
#[track_caller]
pub fn recv_vec<S: MsgStream + ?Sized>(s: &mut S, cap: usize) -> Vec<u8> {
    let mut buf = vec![0u8; cap];
    let n = mrecv(s, &mut buf, now() + 10_000).expect("mrecv");
    buf.truncate(n);
    buf
}

/// Starts a coroutine that writes `bytes` to `s` one byte at a time,
/// yielding between bytes, so the receiver sees every possible split;
/// it gives the stream back when done.
pub fn dribble(
    mut s: IpcStream<'static>,
    bytes: Vec<u8>,
) -> Coroutine<io::Result<IpcStream<'static>>> {
    go(move || {
        for b in bytes {
            bsend(&mut s, &[b], -1)?;
            yield_now()?;
        }
        Ok(s)
    })
    .unwrap()
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The python3 peer: runs its commands in order on the socket it was given
/// (`send:HEX`, `expect:HEX` (exactly these bytes next), `eof` (the stream
/// ends next), `shut` (half-close), `close`), then prints `ok`.
const PY_PEER: &str = r#"
import socket, sys
if sys.argv[1].startswith('tcp:'):
    s = socket.create_connection(('127.0.0.1', int(sys.argv[1][4:])))
else:
    s = socket.socket(fileno=int(sys.argv[1]))
for cmd in sys.argv[2:]:
    op, _, arg = cmd.partition(':')
    if op == 'send':
        s.sendall(bytes.fromhex(arg))
    elif op == 'expect':
        want = bytes.fromhex(arg)
        got = b''
        while len(got) < len(want):
            d = s.recv(len(want) - len(got))
            if not d:
                sys.exit('EOF after %s, wanted %s' % (got.hex(), want.hex()))
            got += d
        if got != want:
            sys.exit('got %s, wanted %s' % (got.hex(), want.hex()))
    elif op == 'eof':
        d = s.recv(1)
        if d:
            sys.exit('wanted end of stream, got %s' % d.hex())
    elif op == 'shut':
        s.shutdown(socket.SHUT_WR)
    elif op == 'close':
        s.close()
    else:
        sys.exit('bad command ' + cmd)
print('ok', flush=True)
"#;

/// A running python3 peer.
#[derive(Debug)]
pub struct Py(Option<Child>);

impl Py {
    /// Waits for the peer to finish and checks it ran every command.
    #[track_caller]
    pub fn finish(mut self) {
        let out = self.0.take().unwrap().wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout == b"ok\n",
            "python peer failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A socketpair whose one end is an `IpcStream` here and whose other end
/// a python3 process drives with `cmds` (see `PY_PEER`).
pub fn py_peer(cmds: &[String]) -> (IpcStream<'static>, Py) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "socketpair: {}", io::Error::last_os_error());
    // SAFETY: socketpair just gave us these two descriptors to own.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Both ends are close-on-exec, so processes spawned by other tests
    // never inherit them; only this child keeps `theirs`, cleared in it
    // between fork and exec.
    let keep = fds[1];
    let mut cmd = Command::new("python3");
    // SAFETY: the closure only calls fcntl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(keep, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .arg("-c")
        .arg(PY_PEER)
        .arg(fds[1].to_string())
        .args(cmds)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    drop(theirs);
    (ipc_fromfd(ours).unwrap(), Py(Some(child)))
}

/// A python3 peer connected over TCP loopback to a listener here; the
/// accepted end is returned. A reset from us would make the peer fail
/// (`ConnectionResetError`), so `eof` checks for an orderly end.
pub fn py_tcp_peer(cmds: &[String]) -> (TcpStream<'static>, Py) {
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    let port = l.local_addr().unwrap().port();
    let child = Command::new("python3")
        .arg("-c")
        .arg(PY_PEER)
        .arg(format!("tcp:{port}"))
        .args(cmds)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let py = Py(Some(child));
    let (s, _) = tcp_accept(&l, now() + 30_000).expect("python connects");
    (s, py)
}

/// Shorthands for peer commands.
pub fn send(b: &[u8]) -> String {
    format!("send:{}", hex(b))
}
pub fn expect(b: &[u8]) -> String {
    format!("expect:{}", hex(b))
}
