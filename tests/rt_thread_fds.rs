//! Threads, their signals and shared listeners leave no descriptor behind.
//! One test in its own binary, so that nothing else opens descriptors while
//! it counts them.

use dill::*;

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
fn threads_and_shared_listeners_leak_no_descriptor() {
    // Warm up what is created once per process (the main thread's reactor
    // is made on first use and stays).
    let t = spawn_thread(|| ()).unwrap();
    t.join(-1).unwrap();
    let before = fd_count();

    // Joined, cancelled, dropped, timed-out threads.
    for _ in 0..10 {
        spawn_thread(|| 1).unwrap().join(-1).unwrap();
        let t = spawn_thread(|| msleep(-1)).unwrap();
        t.cancel();
        let _ = t.join(-1).unwrap();
        drop(spawn_thread(|| msleep(-1)).unwrap());
        let t = spawn_thread(|| msleep(-1)).unwrap();
        let _ = t.join(after(1));
        let ts = spawn_threads(3, |_| msleep(-1)).unwrap();
        drop(ts);
    }
    assert_eq!(fd_count(), before, "thread handles leak descriptors");

    // Three threads serving one listening socket, cancelled mid-wait.
    let path = std::env::temp_dir().join(format!("dill-thread-fds-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    for _ in 0..5 {
        let l = ipc_listen(&path, 16).unwrap();
        let fds =
            std::sync::Mutex::new((0..3).map(|_| Some(l.share().unwrap())).collect::<Vec<_>>());
        drop(l);
        let ts = spawn_threads(3, move |i| {
            let l = ipc_listener_fromfd(fds.lock().unwrap()[i].take().unwrap()).unwrap();
            while let Ok(mut s) = ipc_accept(&l, -1) {
                let _ = bsend(&mut s, b"!", -1);
            }
        })
        .unwrap();
        for _ in 0..6 {
            let mut c = ipc_connect(&path, after(10_000)).unwrap();
            brecv(&mut c, &mut [0u8; 1], after(10_000)).unwrap();
        }
        ts.cancel();
        ts.join(-1).unwrap();
        std::fs::remove_file(&path).unwrap();
    }
    assert_eq!(fd_count(), before, "shared listeners leak descriptors");
}
