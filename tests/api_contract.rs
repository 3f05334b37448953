//! The public contract (API.md) pinned down: every function is coerced to
//! the exact signature the contract gives, so a drift fails to compile here
//! before it breaks a user. The assertions check the behaviour the contract
//! attaches to the names (sizes, constness, traits).

// Spelling the signatures out in full is the point of this file.
#![allow(clippy::type_complexity)]

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use dill::*;

fn is_debug<T: std::fmt::Debug>() {}
fn is_default<T: Default>() {}
fn is_stream<'m, T: AsRawFd + AsFd + Read + Write + std::fmt::Debug + 'm>() {}

#[test]
fn runtime_signatures_match_the_contract() {
    let _: fn() -> i64 = now;
    let _: fn(fn() -> u8) -> io::Result<Coroutine<u8>> = go::<fn() -> u8, u8>;
    let _: fn(Coroutine<u8>, i64) -> io::Result<u8> = Coroutine::<u8>::join;
    let _: fn(&Coroutine<u8>) -> bool = Coroutine::<u8>::is_finished;
    let _: fn() -> io::Result<()> = yield_now;
    let sleep: fn(i64) -> io::Result<()> = msleep;
    let _: fn(RawFd, i64) -> io::Result<()> = fdin;
    let _: fn(RawFd, i64) -> io::Result<()> = fdout;
    let _: fn(RawFd) = fdclean;
    let _: fn() -> io::Result<Bundle> = bundle;
    let _: fn(&Bundle, fn()) -> io::Result<()> = Bundle::go::<fn()>;
    let _: fn(&Bundle, i64) -> io::Result<()> = Bundle::wait;
    let make: fn() -> io::Result<(Chan<String>, Chan<String>)> = chmake::<String>;
    let _: fn(&Chan<String>, String, i64) -> io::Result<()> = Chan::<String>::send;
    let _: fn(&Chan<String>, i64) -> io::Result<String> = Chan::<String>::recv;
    let done: fn(&Chan<String>) -> io::Result<()> = Chan::<String>::done;
    is_debug::<Coroutine<u8>>();
    is_debug::<Bundle>();
    is_debug::<Chan<u8>>();

    // The pointers are the real functions: a few contract behaviours
    // through them.
    assert_eq!(sleep(-2).unwrap_err().raw_os_error(), Some(libc::EINVAL));
    assert!(sleep(0).is_ok());
    let (a, b) = make().unwrap();
    done(&a).unwrap();
    assert_eq!(b.recv(0).unwrap_err().raw_os_error(), Some(libc::EPIPE));
    assert_eq!(
        a.send("late".into(), 0).unwrap_err().raw_os_error(),
        Some(libc::EPIPE)
    );
}

#[test]
fn ipc_signatures_match_the_contract() {
    let _: fn(&'static Path, i64) -> io::Result<IpcStream<'static>> = ipc_connect;
    let _: for<'m> fn(&'static Path, &'m mut IpcMem, i64) -> io::Result<IpcStream<'m>> =
        ipc_connect_mem;
    let _: fn(&'static Path, i32) -> io::Result<IpcListener<'static>> = ipc_listen;
    let _: for<'m> fn(&'static Path, &'m mut IpcListenerMem, i32) -> io::Result<IpcListener<'m>> =
        ipc_listen_mem;
    let _: fn(&IpcListener<'_>, i64) -> io::Result<IpcStream<'static>> = ipc_accept;
    let _: for<'m> fn(&IpcListener<'_>, &'m mut IpcMem, i64) -> io::Result<IpcStream<'m>> =
        ipc_accept_mem;
    let pair: fn() -> io::Result<(IpcStream<'static>, IpcStream<'static>)> = ipc_pair;
    let _: for<'a, 'b> fn(
        &'a mut IpcMem,
        &'b mut IpcMem,
    ) -> io::Result<(IpcStream<'a>, IpcStream<'b>)> = ipc_pair_mem;
    let _: fn(OwnedFd) -> io::Result<IpcStream<'static>> = ipc_fromfd;
    let _: fn(&mut IpcStream<'_>, i64) -> io::Result<()> = ipc_done;
    let _: fn(IpcStream<'_>, i64) -> io::Result<()> = ipc_close;
    let _: fn(&mut IpcStream<'_>, BorrowedFd<'_>, i64) -> io::Result<()> = ipc_sendfd;
    let _: fn(&mut IpcStream<'_>, i64) -> io::Result<OwnedFd> = ipc_recvfd;
    let send: fn(&mut IpcStream<'static>, &[u8], i64) -> io::Result<()> =
        bsend::<IpcStream<'static>>;
    let recv: fn(&mut IpcStream<'static>, &mut [u8], i64) -> io::Result<()> =
        brecv::<IpcStream<'static>>;
    let _: fn(&mut (dyn ByteStream + 'static), &[IoSlice<'_>], i64) -> io::Result<()> =
        bsendl::<dyn ByteStream>;
    let _: fn(&mut (dyn ByteStream + 'static), &mut [IoSliceMut<'_>], i64) -> io::Result<()> =
        brecvl::<dyn ByteStream>;
    is_stream::<IpcStream<'static>>();
    is_debug::<IpcListener<'static>>();
    is_debug::<IpcMem>();
    is_debug::<IpcListenerMem>();
    is_default::<IpcMem>();
    is_default::<IpcListenerMem>();
    fn listener_has_fd<T: AsRawFd>() {}
    listener_has_fd::<IpcListener<'static>>();

    // The pointers are the real functions: one round trip through them.
    let (mut a, mut b) = pair().unwrap();
    send(&mut a, b"contract", -1).unwrap();
    let mut buf = [0u8; 8];
    recv(&mut b, &mut buf, -1).unwrap();
    assert_eq!(&buf, b"contract");
    assert_eq!(
        send(&mut a, b"x", -2).unwrap_err().raw_os_error(),
        Some(libc::EINVAL)
    );
}

#[test]
fn memory_sizes_are_the_structure_sizes() {
    const MEM: IpcMem = IpcMem::new();
    const LMEM: IpcListenerMem = IpcListenerMem::new();
    assert_eq!(IPC_SIZE, size_of::<IpcMem>());
    assert_eq!(IPC_LISTENER_SIZE, size_of::<IpcListenerMem>());
    let _ = (MEM, LMEM);
}
