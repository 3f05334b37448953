//! `ipaddr_local` and the parts of `ipaddr_remote[s]` that need no name
//! server: literals, `localhost`, argument checks.

use std::net::SocketAddr;

use dill::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn local_any() {
    assert_eq!(
        ipaddr_local(None, 80, IpMode::Ipv4).unwrap(),
        sa("0.0.0.0:80")
    );
    assert_eq!(
        ipaddr_local(None, 80, IpMode::PreferIpv4).unwrap(),
        sa("0.0.0.0:80")
    );
    assert_eq!(ipaddr_local(None, 80, IpMode::Ipv6).unwrap(), sa("[::]:80"));
    assert_eq!(
        ipaddr_local(None, 0, IpMode::PreferIpv6).unwrap(),
        sa("[::]:0")
    );
    assert_eq!(
        ipaddr_local(None, 1, IpMode::default()).unwrap(),
        sa("0.0.0.0:1")
    );
}

#[test]
fn local_literals() {
    let l = |n, m| ipaddr_local(Some(n), 5555, m);
    assert_eq!(
        l("192.168.0.111", IpMode::PreferIpv6).unwrap(),
        sa("192.168.0.111:5555")
    );
    assert_eq!(l("::1", IpMode::PreferIpv4).unwrap(), sa("[::1]:5555"));
    assert_eq!(l("::1", IpMode::Ipv6).unwrap(), sa("[::1]:5555"));
    assert_eq!(
        l("fe80::1%1", IpMode::Ipv6).unwrap(),
        sa("[fe80::1%1]:5555")
    );
    // A literal of the family the mode excludes.
    assert_eq!(errno_of(l("::1", IpMode::Ipv4)), libc::EADDRNOTAVAIL);
    assert_eq!(errno_of(l("127.0.0.1", IpMode::Ipv6)), libc::EADDRNOTAVAIL);
}

#[test]
fn local_interface_names() {
    let lo = |m| ipaddr_local(Some("lo"), 7, m);
    assert_eq!(lo(IpMode::Ipv4).unwrap(), sa("127.0.0.1:7"));
    assert_eq!(lo(IpMode::PreferIpv4).unwrap(), sa("127.0.0.1:7"));
    // Loopback has ::1 wherever IPv6 is enabled.
    if std::net::UdpSocket::bind("[::1]:0").is_ok() {
        assert_eq!(lo(IpMode::Ipv6).unwrap(), sa("[::1]:7"));
        assert_eq!(lo(IpMode::PreferIpv6).unwrap(), sa("[::1]:7"));
    }
    for name in ["no-such-if0", "", "lo0lo0lo0lo0lo0lo0", "eth\u{e9}"] {
        assert_eq!(
            errno_of(ipaddr_local(Some(name), 7, IpMode::PreferIpv4)),
            libc::ENODEV,
            "{name:?}"
        );
    }
    // A zone that names no interface.
    assert_eq!(
        errno_of(ipaddr_local(Some("fe80::1%nope0"), 7, IpMode::Ipv6)),
        libc::ENODEV
    );
}

#[test]
fn remote_literals_need_no_io() {
    // Deadline 0 would fail any lookup that had to wait.
    let r = |n, m| ipaddr_remote(n, 80, m, 0);
    assert_eq!(r("10.1.2.3", IpMode::Ipv4).unwrap(), sa("10.1.2.3:80"));
    assert_eq!(
        r("10.1.2.3", IpMode::PreferIpv6).unwrap(),
        sa("10.1.2.3:80")
    );
    assert_eq!(
        r("2001:db8::1", IpMode::PreferIpv4).unwrap(),
        sa("[2001:db8::1]:80")
    );
    assert_eq!(
        ipaddr_remotes("2001:db8::1", 80, IpMode::Ipv6, -1).unwrap(),
        [sa("[2001:db8::1]:80")]
    );
    assert_eq!(errno_of(r("10.1.2.3", IpMode::Ipv6)), libc::EADDRNOTAVAIL);
    assert_eq!(
        errno_of(ipaddr_remotes("::1", 80, IpMode::Ipv4, 0)),
        libc::EADDRNOTAVAIL
    );
}

#[test]
fn localhost_is_loopback() {
    assert_eq!(
        ipaddr_remote("localhost", 9, IpMode::Ipv4, 0).unwrap(),
        sa("127.0.0.1:9")
    );
    assert_eq!(
        ipaddr_remote("localhost", 9, IpMode::Ipv6, 0).unwrap(),
        sa("[::1]:9")
    );
    assert_eq!(
        ipaddr_remote("LocalHost.", 9, IpMode::PreferIpv6, 0).unwrap(),
        sa("[::1]:9")
    );
    assert_eq!(
        ipaddr_remotes("x.y.localhost", 9, IpMode::PreferIpv4, 0).unwrap(),
        [sa("127.0.0.1:9"), sa("[::1]:9")]
    );
}

#[test]
fn bad_arguments_are_einval() {
    let long = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(62),
    ]
    .join(".");
    assert_eq!(long.len(), 254);
    let bad = [
        "".to_string(),
        ".".to_string(),
        "a..b".to_string(),
        ".lead".to_string(),
        "has space".to_string(),
        "nul\0byte".to_string(),
        "under/score".to_string(),
        "x".repeat(64) + ".test",
        long,
    ];
    for name in &bad {
        assert_eq!(
            errno_of(ipaddr_remote(name, 80, IpMode::Ipv4, -1)),
            libc::EINVAL,
            "{name:?}"
        );
        assert_eq!(
            errno_of(ipaddr_remotes(name, 80, IpMode::Ipv4, -1)),
            libc::EINVAL,
            "{name:?}"
        );
    }
    // Bad deadlines, even for literals.
    assert_eq!(
        errno_of(ipaddr_remote("127.0.0.1", 80, IpMode::Ipv4, -2)),
        libc::EINVAL
    );
    assert_eq!(
        errno_of(ipaddr_remotes("localhost", 80, IpMode::Ipv4, i64::MIN)),
        libc::EINVAL
    );
}

#[test]
fn literals_and_localhost_work_in_a_cancelled_coroutine() {
    use std::cell::Cell;
    use std::rc::Rc;
    let out = Rc::new(Cell::new(None));
    let o = out.clone();
    let c = go(move || {
        let _ = msleep(-1); // until cancelled
        o.set(Some((
            ipaddr_remote("127.0.0.1", 1, IpMode::Ipv4, -1).is_ok(),
            ipaddr_local(None, 1, IpMode::Ipv4).is_ok(),
            ipaddr_remote("localhost", 1, IpMode::Ipv4, -1).is_ok(),
        )));
    })
    .unwrap();
    drop(c);
    let (lit, local, lh) = out.get().unwrap();
    assert!(lit && local && lh);
}
