//! Passing descriptors with ipc_sendfd/ipc_recvfd, interleaved with bytes.

mod ipc_util;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use dill::*;
use ipc_util::*;

fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two fresh descriptors.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

fn same_file(a: RawFd, b: RawFd) -> bool {
    // SAFETY: `stat` is plain data; fstat writes it.
    let (mut sa, mut sb): (libc::stat, libc::stat) = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to stat buffers.
    unsafe {
        assert_eq!(libc::fstat(a, &mut sa), 0);
        assert_eq!(libc::fstat(b, &mut sb), 0);
    }
    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
}

#[test]
fn descriptors_interleave_with_bytes() {
    let (mut a, mut b) = ipc_pair().unwrap();
    let (mut pr, pw) = pipe();
    let mut tmp = tempfile_like();
    bsend(&mut a, b"abc", -1).unwrap();
    ipc_sendfd(&mut a, pw.as_fd(), -1).unwrap();
    bsend(&mut a, b"def", -1).unwrap();
    ipc_sendfd(&mut a, tmp.as_fd(), -1).unwrap();
    ipc_sendfd(&mut a, tmp.as_fd(), -1).unwrap();
    bsend(&mut a, b"g", -1).unwrap();

    let mut buf = [0u8; 3];
    brecv(&mut b, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"abc");
    let got_pw = ipc_recvfd(&mut b, -1).unwrap();
    brecv(&mut b, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"def");
    let got_tmp = ipc_recvfd(&mut b, -1).unwrap();
    let got_tmp2 = ipc_recvfd(&mut b, -1).unwrap();
    let mut g = [0u8; 1];
    brecv(&mut b, &mut g, -1).unwrap();
    assert_eq!(&g, b"g");

    // The descriptors refer to the same open files and are close-on-exec.
    assert!(same_file(got_pw.as_raw_fd(), pw.as_raw_fd()));
    assert!(same_file(got_tmp.as_raw_fd(), tmp.as_raw_fd()));
    assert!(same_file(got_tmp2.as_raw_fd(), tmp.as_raw_fd()));
    for fd in [&got_pw, &got_tmp, &got_tmp2] {
        assert!(is_cloexec(fd.as_raw_fd()));
    }
    let mut w = File::from(got_pw);
    w.write_all(b"through the pipe").unwrap();
    drop((w, pw));
    let mut s = String::new();
    pr.read_to_string(&mut s).unwrap();
    assert_eq!(s, "through the pipe");
    File::from(got_tmp).write_all(b"shared offset").unwrap();
    tmp.rewind().unwrap();
    let mut t = String::new();
    tmp.read_to_string(&mut t).unwrap();
    assert_eq!(t, "shared offset");
}

/// An anonymous temporary file.
fn tempfile_like() -> File {
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        "dill-fdpass-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f
}

#[test]
fn descriptors_pass_while_the_sender_blocks() {
    let (a, mut b) = ipc_pair().unwrap();
    let big = vec![9u8; 1 << 20];
    let (_pr, pw) = pipe();
    let pw_raw = pw.as_raw_fd();
    let sender = go(move || {
        let mut a = a;
        for _ in 0..3 {
            bsend(&mut a, &big, -1).unwrap();
            ipc_sendfd(&mut a, pw.as_fd(), -1).unwrap();
        }
        (a, pw)
    })
    .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..3 {
        brecv(&mut b, &mut buf, -1).unwrap();
        assert!(buf.iter().all(|&x| x == 9));
        let fd = ipc_recvfd(&mut b, -1).unwrap();
        assert!(same_file(fd.as_raw_fd(), pw_raw));
    }
    let _ = sender.join(-1).unwrap();
}

#[test]
fn many_descriptors_in_a_row() {
    let (mut a, mut b) = ipc_pair().unwrap();
    let (_pr, pw) = pipe();
    let sender = go(move || {
        for _ in 0..200 {
            ipc_sendfd(&mut a, pw.as_fd(), -1).unwrap();
        }
        a
    })
    .unwrap();
    let got: Vec<OwnedFd> = (0..200).map(|_| ipc_recvfd(&mut b, -1).unwrap()).collect();
    assert_eq!(got.len(), 200);
    let _a = sender.join(-1).unwrap();
}

#[test]
fn a_plain_byte_where_a_descriptor_was_expected_is_eproto() {
    let (mut a, mut b) = ipc_pair().unwrap();
    bsend(&mut a, b"xy", -1).unwrap();
    assert_errno(ipc_recvfd(&mut b, -1), libc::EPROTO, "data byte");
    // The inbound direction is out of step from now on.
    assert_errno(
        brecv(&mut b, &mut [0u8; 1], -1),
        libc::ECONNRESET,
        "after EPROTO",
    );
    bsend(&mut b, b"ok", -1).unwrap();
}

#[test]
fn two_descriptors_in_one_message_is_eproto() {
    let (mut a, mut b) = ipc_pair().unwrap();
    let (_pr, pw) = pipe();
    send_byte_with_fds(a.as_raw_fd(), &[pw.as_raw_fd(), pw.as_raw_fd()]);
    assert_errno(ipc_recvfd(&mut b, -1), libc::EPROTO, "two descriptors");
    bsend(&mut a, b"x", -1).unwrap();
}

#[test]
fn recvfd_errors() {
    let (mut a, mut b) = ipc_pair().unwrap();
    let deadline = now() + 20;
    assert_errno(ipc_recvfd(&mut b, deadline), libc::ETIMEDOUT, "timeout");
    assert!(now() >= deadline);
    assert_errno(ipc_recvfd(&mut b, -1), libc::ECONNRESET, "after timeout");

    let (mut c, mut d) = ipc_pair().unwrap();
    ipc_done(&mut c, -1).unwrap();
    assert_errno(ipc_recvfd(&mut d, -1), libc::EPIPE, "EOF");
    assert_errno(ipc_recvfd(&mut d, -3), libc::EPIPE, "EOF stays");
    assert_errno(
        ipc_sendfd(&mut c, a.as_fd(), -1),
        libc::EPIPE,
        "sendfd after done",
    );

    let (mut e, f) = ipc_pair().unwrap();
    drop(f);
    assert_errno(
        ipc_sendfd(&mut e, a.as_fd(), -1),
        libc::ECONNRESET,
        "closed peer",
    );
    assert_errno(ipc_sendfd(&mut a, e.as_fd(), -2), libc::EINVAL, "deadline");
    ipc_sendfd(&mut a, e.as_fd(), 0).unwrap();
}
