//! The networking contract (API.md) for addresses, name resolution and
//! UDP: every function coerced to the exact signature the contract gives,
//! and exercised, so a drift fails here before it breaks a user.

#![allow(clippy::type_complexity)]

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};

use dill::*;

fn is_socket<T: AsRawFd + AsFd + std::fmt::Debug + MsgStream>() {}

#[test]
fn address_signatures_match_the_contract() {
    let local: fn(Option<&str>, u16, IpMode) -> io::Result<SocketAddr> = ipaddr_local;
    let remote: fn(&str, u16, IpMode, i64) -> io::Result<SocketAddr> = ipaddr_remote;
    let remotes: fn(&str, u16, IpMode, i64) -> io::Result<Vec<SocketAddr>> = ipaddr_remotes;
    assert_eq!(IpMode::default(), IpMode::PreferIpv4);
    let modes = [
        IpMode::Ipv4,
        IpMode::Ipv6,
        IpMode::PreferIpv4,
        IpMode::PreferIpv6,
    ];
    assert_eq!(format!("{:?}", modes[1]), "Ipv6");
    assert_eq!(local(None, 1, modes[0]).unwrap().to_string(), "0.0.0.0:1");
    assert_eq!(
        remote("::1", 2, modes[1], 0).unwrap().to_string(),
        "[::1]:2"
    );
    assert_eq!(remotes("localhost", 3, modes[3], 0).unwrap().len(), 2);
}

#[test]
fn udp_signatures_match_the_contract() {
    let open: fn(Option<SocketAddr>, Option<SocketAddr>) -> io::Result<UdpSocket> = udp_open;
    let send: fn(&mut UdpSocket, Option<SocketAddr>, &[u8]) -> io::Result<()> = udp_send;
    let recv: fn(&mut UdpSocket, &mut [u8], i64) -> io::Result<(usize, SocketAddr)> = udp_recv;
    let sendl: fn(&mut UdpSocket, Option<SocketAddr>, &[IoSlice<'_>]) -> io::Result<()> = udp_sendl;
    let recvl: fn(&mut UdpSocket, &mut [IoSliceMut<'_>], i64) -> io::Result<(usize, SocketAddr)> =
        udp_recvl;
    let addr: fn(&UdpSocket) -> io::Result<SocketAddr> = UdpSocket::local_addr;
    // Beyond the contract: the remote address given to udp_open.
    let remote: fn(&UdpSocket) -> Option<SocketAddr> = UdpSocket::remote_addr;
    is_socket::<UdpSocket>();

    let mut a = open(Some("127.0.0.1:0".parse().unwrap()), None).unwrap();
    let mut b = open(None, Some(addr(&a).unwrap())).unwrap();
    assert_eq!(remote(&b), Some(addr(&a).unwrap()));
    assert_eq!(remote(&a), None);
    send(&mut b, None, b"1").unwrap();
    sendl(&mut b, None, &[IoSlice::new(b"2")]).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(recv(&mut a, &mut buf, after(5000)).unwrap().0, 1);
    assert_eq!(
        recvl(&mut a, &mut [IoSliceMut::new(&mut buf)], after(5000))
            .unwrap()
            .0,
        1
    );
    assert_eq!(buf[0], b'2');
}

#[test]
fn happyeyeballs_signature_matches_the_contract() {
    let he: fn(&str, u16, i64) -> io::Result<TcpStream<'static>> = happyeyeballs_connect;
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    let s = he("127.0.0.1", l.local_addr().unwrap().port(), after(5000)).unwrap();
    assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
}
