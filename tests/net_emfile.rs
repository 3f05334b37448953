//! EMFILE from `udp_open`, from a lookup that cannot get its socket and
//! from `happyeyeballs_connect`.
//! Its own binary without the test harness: it lowers the process's
//! descriptor limit, which would break tests running beside it.

use dill::*;

fn main() {
    // No hosts file and a name server that will never be asked.
    let conf = std::env::temp_dir().join(format!("dill-emfile-{}.conf", std::process::id()));
    std::fs::write(&conf, "nameserver 127.0.0.1\noptions port:9\n").unwrap();
    std::env::set_var("DILL_RESOLV_CONF", &conf);
    std::env::set_var("DILL_HOSTS", "/nonexistent/dill-hosts");

    let mut held = Vec::new();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let lim = libc::rlimit {
        rlim_cur: open + 8,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to rlimit structures.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let lim = libc::rlimit {
            rlim_max: old.rlim_max,
            ..lim
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let err = loop {
        match udp_open(None, None) {
            Ok(s) => held.push(s),
            Err(e) => break e,
        }
        assert!(held.len() < 100, "the limit had no effect");
    };
    assert_eq!(err.raw_os_error(), Some(errno::EMFILE));
    let err = ipaddr_remote("www.example.test", 80, IpMode::PreferIpv4, after(5000)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno::EMFILE));
    // A connect race needs sockets too.
    let err = happyeyeballs_connect("127.0.0.1", 9, after(5000)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno::EMFILE));
    let err = happyeyeballs_connect("localhost", 9, after(5000)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno::EMFILE));
    // Literals and localhost need no descriptor.
    assert!(ipaddr_remote("127.0.0.1", 80, IpMode::Ipv4, -1).is_ok());
    assert!(ipaddr_remote("localhost", 80, IpMode::Ipv4, -1).is_ok());
    // Room again: everything works.
    held.pop();
    held.pop();
    assert!(udp_open(None, None).is_ok());
    drop(held);
    // SAFETY: a valid pointer to an rlimit structure.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    let _ = std::fs::remove_file(&conf);
    println!("net_emfile: ok");
}
