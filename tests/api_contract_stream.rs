//! The contract (API.md) for the shared stream core's public users: IPC
//! split halves, peer credentials, descriptors taken back out, and the
//! TCP family, each coerced to the exact signature API.md gives.

#![allow(clippy::type_complexity)]

use std::io::{self, Read, Write};
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};

use dill::*;

fn is_debug<T: std::fmt::Debug>() {}
fn is_default<T: Default>() {}
fn is_stream<'m, T: AsRawFd + AsFd + Read + Write + ByteStream + std::fmt::Debug + 'm>() {}
fn is_read_half<T: ByteStream + Read + AsRawFd + AsFd + std::fmt::Debug>()
where
    for<'a> &'a T: ByteStream + Read,
{
}
fn is_write_half<T: ByteStream + Write + AsRawFd + AsFd + std::fmt::Debug>()
where
    for<'a> &'a T: ByteStream + Write,
{
}
fn into_fd<T: IntoRawFd + Into<OwnedFd>>() {}

#[test]
fn ipc_additions_match_the_contract() {
    let split: fn(IpcStream<'static>) -> (IpcReadHalf<'static>, IpcWriteHalf<'static>) =
        IpcStream::split;
    let cred: fn(&IpcStream<'static>) -> io::Result<PeerCred> = IpcStream::peer_cred;
    is_read_half::<IpcReadHalf<'static>>();
    is_write_half::<IpcWriteHalf<'static>>();
    into_fd::<IpcStream<'static>>();
    is_debug::<PeerCred>();
    fn shared<T>()
    where
        for<'a> &'a T: ByteStream + Read + Write,
    {
    }
    shared::<IpcStream<'static>>();

    let (a, _b) = ipc_pair().unwrap();
    let c = cred(&a).unwrap();
    assert_eq!(c.pid, Some(std::process::id() as i32));
    let (mut r, _w) = split(a);
    assert_eq!(
        bsend(&mut r, b"x", 0).unwrap_err().raw_os_error(),
        Some(errno::ENOTSUP)
    );
}

#[test]
fn scope_matches_its_page() {
    is_debug::<Scope<'static, 'static>>();
    let mut n = 0;
    let m = &mut n;
    let r: io::Result<u8> = scope(|s: &Scope<'_, '_>| {
        let r: io::Result<()> = s.go(move || *m += 1);
        r.unwrap();
        7
    });
    assert_eq!(r.unwrap(), 7);
    assert_eq!(n, 1);
}

#[test]
fn tcp_signatures_match_the_contract() {
    let _: usize = TCP_SIZE;
    let _: usize = TCP_LISTENER_SIZE;
    assert_eq!(TCP_SIZE, size_of::<TcpMem>());
    assert_eq!(TCP_LISTENER_SIZE, size_of::<TcpListenerMem>());
    let _m = const { TcpMem::new() };
    let _l = const { TcpListenerMem::new() };
    is_default::<TcpMem>();
    is_default::<TcpListenerMem>();
    is_debug::<TcpMem>();
    is_debug::<TcpListenerMem>();
    is_debug::<TcpListener<'static>>();
    is_stream::<TcpStream<'static>>();
    is_read_half::<TcpReadHalf<'static>>();
    is_write_half::<TcpWriteHalf<'static>>();
    into_fd::<TcpStream<'static>>();
    into_fd::<TcpListener<'static>>();
    fn listener_fd<T: AsRawFd + AsFd>() {}
    listener_fd::<TcpListener<'static>>();

    let listen: fn(SocketAddr, i32) -> io::Result<TcpListener<'static>> = tcp_listen;
    let _: for<'m> fn(SocketAddr, &'m mut TcpListenerMem, i32) -> io::Result<TcpListener<'m>> =
        tcp_listen_mem;
    let accept: for<'a> fn(
        &'a TcpListener<'a>,
        i64,
    ) -> io::Result<(TcpStream<'static>, SocketAddr)> = tcp_accept;
    let _: for<'a, 'm> fn(
        &'a TcpListener<'a>,
        &'m mut TcpMem,
        i64,
    ) -> io::Result<(TcpStream<'m>, SocketAddr)> = tcp_accept_mem;
    let connect: fn(SocketAddr, i64) -> io::Result<TcpStream<'static>> = tcp_connect;
    let _: for<'m> fn(SocketAddr, &'m mut TcpMem, i64) -> io::Result<TcpStream<'m>> =
        tcp_connect_mem;
    let done: for<'a, 'm> fn(&'a mut TcpStream<'m>, i64) -> io::Result<()> = tcp_done;
    let close: for<'m> fn(TcpStream<'m>, i64) -> io::Result<()> = tcp_close;
    let _: fn(OwnedFd) -> io::Result<TcpStream<'static>> = tcp_fromfd;
    let _: fn(OwnedFd) -> io::Result<TcpListener<'static>> = tcp_listener_fromfd;
    let laddr: fn(&TcpListener<'static>) -> io::Result<SocketAddr> = TcpListener::local_addr;
    let _: fn(&TcpStream<'static>) -> io::Result<SocketAddr> = TcpStream::local_addr;
    let paddr: fn(&TcpStream<'static>) -> io::Result<SocketAddr> = TcpStream::peer_addr;
    let split: fn(TcpStream<'static>) -> (TcpReadHalf<'static>, TcpWriteHalf<'static>) =
        TcpStream::split;

    // Through the pointers: a round trip.
    let l = listen("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    let addr = laddr(&l).unwrap();
    let mut c = connect(addr, after(10_000)).unwrap();
    let (s, from) = accept(&l, after(10_000)).unwrap();
    assert_eq!(paddr(&s).unwrap(), from);
    done(&mut c, -1).unwrap();
    let (mut r, w) = split(s);
    let mut buf = [0u8; 1];
    assert_eq!(
        brecv(&mut r, &mut buf, after(10_000))
            .unwrap_err()
            .raw_os_error(),
        Some(errno::EPIPE)
    );
    drop((r, w));
    assert_eq!(
        close(c, after(10_000)).map_err(|e| e.raw_os_error()),
        Ok(())
    );
}
