//! One listening TCP socket, several threads: TcpListener::share and
//! tcp_listener_fromfd, every client served exactly once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use dill::*;

#[test]
fn tcp_clients_served_exactly_once_on_3_threads() {
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 256).unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    let fds = Mutex::new((0..3).map(|_| Some(l.share().unwrap())).collect::<Vec<_>>());
    drop(l);
    let log: Arc<Mutex<Vec<(u32, usize)>>> = Arc::default();
    let servers = spawn_threads(3, {
        let log = Arc::clone(&log);
        move |i| {
            let l = tcp_listener_fromfd(fds.lock().unwrap()[i].take().unwrap()).unwrap();
            assert_eq!(l.local_addr().unwrap(), addr);
            let handlers = bundle().unwrap();
            while let Ok((mut s, _peer)) = tcp_accept(&l, -1) {
                let log = Arc::clone(&log);
                handlers
                    .go(move || {
                        let mut id = [0u8; 4];
                        if brecv(&mut s, &mut id, -1).is_ok() && bsend(&mut s, &id, -1).is_ok() {
                            log.lock().unwrap().push((u32::from_le_bytes(id), i));
                        }
                    })
                    .unwrap();
            }
        }
    })
    .unwrap();

    let n = 300u32;
    let clients = bundle().unwrap();
    for id in 0..n {
        clients
            .go(move || {
                let mut c = tcp_connect(addr, after(60_000)).unwrap();
                bsend(&mut c, &id.to_le_bytes(), -1).unwrap();
                let mut back = [0u8; 4];
                brecv(&mut c, &mut back, after(60_000)).unwrap();
                assert_eq!(u32::from_le_bytes(back), id);
            })
            .unwrap();
    }
    clients.wait(after(120_000)).unwrap();
    servers.cancel();
    servers.join(-1).unwrap();

    let log = log.lock().unwrap();
    let mut seen = vec![0u32; n as usize];
    let mut per_thread = [0usize; 3];
    for &(id, t) in log.iter() {
        seen[id as usize] += 1;
        per_thread[t] += 1;
    }
    assert!(seen.iter().all(|&k| k == 1), "each client served once");
    eprintln!("TCP, served per thread: {per_thread:?}");
}

#[test]
fn tcp_share_gives_a_new_descriptor_for_the_same_socket() {
    use std::os::fd::AsRawFd;
    let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 8).unwrap();
    let addr = l.local_addr().unwrap();
    let fd = l.share().unwrap();
    assert_ne!(fd.as_raw_fd(), l.as_raw_fd());
    drop(l);
    let l2 = tcp_listener_fromfd(fd).unwrap();
    assert_eq!(l2.local_addr().unwrap(), addr);
    let _c = tcp_connect(addr, after(5000)).unwrap();
    tcp_accept(&l2, after(5000)).unwrap();
}
