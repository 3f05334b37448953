//! The dump on a signal and the stall detector, each in a child process (the
//! test binary itself, re-run with `DILL_INSPECT_CHILD` set) whose stderr is
//! checked: SIGQUIT prints every thread's dump and the program carries on;
//! a coroutine that blocks its thread in `std::thread::sleep` or spins is
//! reported by name and spawn location.
//!
//! Runs without the test harness: each scenario must be the only thing its
//! process does.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dill::*;

const CHILD_ENV: &str = "DILL_INSPECT_CHILD";

fn main() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("sigquit") => child_sigquit(),
        Ok("stall-sleep") => child_stall_sleep(),
        Ok("stall-spin") => child_stall_spin(),
        Ok("stall-at-start") => child_stall_at_start(),
        Ok(other) => panic!("unknown child scenario {other}"),
        Err(_) => {
            parent_sigquit();
            println!("inspect_signal: sigquit ok");
            parent_stall_sleep();
            println!("inspect_signal: stall (sleep) ok");
            parent_stall_spin();
            println!("inspect_signal: stall (spin) ok");
            parent_stall_at_start();
            println!("inspect_signal: stall (before any poll) ok");
        }
    }
}

fn spawn_child(scenario: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, scenario)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// Collects a pipe's text on a thread; the receiver gets each chunk.
fn collect(mut r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx
                        .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Reads from `rx` into `acc` until `done(acc)` or 60 s pass.
fn wait_for(rx: &mpsc::Receiver<String>, acc: &mut String, done: impl Fn(&str) -> bool) -> bool {
    let t0 = Instant::now();
    while !done(acc) {
        let left = Duration::from_secs(60).saturating_sub(t0.elapsed());
        match rx.recv_timeout(left) {
            Ok(s) => acc.push_str(&s),
            Err(_) => return done(acc),
        }
    }
    true
}

fn finish(mut child: Child, err_rx: &mpsc::Receiver<String>, err: &mut String) -> (i32, String) {
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    while let Ok(s) = err_rx.recv_timeout(Duration::from_secs(5)) {
        err.push_str(&s);
    }
    (status.code().unwrap_or(-1), out)
}

// ---------------------------------------------------------------------------
// SIGQUIT

#[inline(never)]
fn parked_in_child_main(ch: Chan<u32>) -> u32 {
    ch.recv(-1).unwrap() * 3
}

#[inline(never)]
fn parked_in_child_thread(fd: i32) -> u32 {
    fdin(fd, -1).unwrap();
    let mut b = [0u8; 1];
    // SAFETY: reading one byte from our pipe into a valid buffer.
    assert_eq!(unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) }, 1);
    b[0] as u32
}

fn child_sigquit() {
    dump_on_sigquit().unwrap();
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are new and ours.
    let (rfd, wfd) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let (ready_tx, ready_rx) = mpsc::channel();
    let rraw = rfd.as_raw_fd();
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            let c = Builder::new()
                .name("thread-parked")
                .go(move || parked_in_child_thread(rraw))
                .unwrap();
            // One reactor turn registers the thread's wake-up descriptor.
            msleep(after(1)).unwrap();
            ready_tx.send(()).unwrap();
            let v = c.join(-1).unwrap();
            fdclean(rraw);
            drop(rfd);
            v
        })
        .unwrap();
    ready_rx.recv().unwrap();
    // A thread that never sleeps in its reactor: two coroutines yield to
    // each other until told to stop. Its scheduler sees the signal at the
    // poll it makes every millisecond even with coroutines ready.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (busy_tx, busy_rx) = mpsc::channel();
    let stop2 = stop.clone();
    let busy = std::thread::Builder::new()
        .name("busy".into())
        .spawn(move || {
            let spin = |stop: std::sync::Arc<std::sync::atomic::AtomicBool>| {
                move || {
                    let mut n = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        yield_now().unwrap();
                        n += 1;
                    }
                    n
                }
            };
            let a = Builder::new()
                .name("busy-a")
                .go(spin(stop2.clone()))
                .unwrap();
            let b = Builder::new().name("busy-b").go(spin(stop2)).unwrap();
            let mut told = false;
            let mut last = 0;
            while !told {
                yield_now().unwrap();
                // Told once the scheduler has polled (and so registered its
                // wake-up descriptor).
                let p = counters().polls;
                if p > last && p > 0 {
                    busy_tx.send(()).unwrap();
                    told = true;
                }
                last = p;
            }
            a.join(-1).unwrap() + b.join(-1).unwrap()
        })
        .unwrap();
    busy_rx.recv().unwrap();
    let (tx, rx) = chmake::<u32>().unwrap();
    let c = Builder::new()
        .name("main-parked")
        .go(move || parked_in_child_main(rx))
        .unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    // Carry on as a program would: wait for input on stdin.
    fdin(0, -1).unwrap();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "go");
    tx.send(14, -1).unwrap();
    let a = c.join(-1).unwrap();
    // SAFETY: writing one byte from a valid buffer to our pipe.
    assert_eq!(
        unsafe { libc::write(wfd.as_raw_fd(), [5u8].as_ptr().cast(), 1) },
        1
    );
    let b = worker.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(busy.join().unwrap() > 0);
    println!("result {}", a + b);
}

fn parent_sigquit() {
    let mut child = spawn_child("sigquit");
    let err_rx = collect(child.stderr.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let pid = child.id() as i32;
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGQUIT) }, 0);
    let mut err = String::new();
    let all = wait_for(&err_rx, &mut err, |e| {
        e.contains("parked_in_child_main")
            && e.contains("parked_in_child_thread")
            && e.contains("dill: thread 'busy'")
    });
    assert!(all, "every thread's dump on stderr:\n{err}");
    assert!(err.contains("\"busy-a\", ready") || err.contains("\"busy-a\", running"));
    assert!(err.contains("dill: thread 'main'"), "{err}");
    assert!(err.contains("dill: thread 'worker'"), "{err}");
    assert!(err.contains("\"main-parked\", waiting to receive on a channel"));
    assert!(err.contains("\"thread-parked\", waiting for fd"));
    // The root of the main thread waits on stdin.
    assert!(err.contains("coroutine 0 (the thread's own stack), waiting for fd 0 to be readable"));
    // A second signal works as well.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGQUIT) }, 0);
    let first = err.matches("dill: thread 'main'").count();
    assert!(wait_for(&err_rx, &mut err, |e| e
        .matches("dill: thread 'main'")
        .count()
        > first));
    // The program carries on and exits normally.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status:?}\n{err}");
    assert_eq!(rest.trim(), "result 47");
}

// ---------------------------------------------------------------------------
// Stall detector

#[inline(never)]
fn sleepy_function() -> u32 {
    std::thread::sleep(Duration::from_millis(200));
    7
}

#[inline(never)]
fn spinning_function() -> u64 {
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_millis(300) {
        n = std::hint::black_box(n + 1);
    }
    n.min(1)
}

fn child_stall_sleep() {
    // Well below the 200 ms sleep, so a monitor thread that wakes late on
    // a busy machine still sees it.
    stall_detector(60).unwrap();
    // A thread without live coroutines is never reported, however long it
    // runs (one has come and gone).
    assert_eq!(go(|| 1).unwrap().join(-1).unwrap(), 1);
    assert_eq!(spinning_function(), 1);
    let parked = go(|| msleep(-1)).unwrap();
    // Sleeping in the reactor is not a stall.
    msleep(after(300)).unwrap();
    eprintln!("marker: idle done");
    let c = Builder::new()
        .name("sleepy")
        .go(|| {
            msleep(after(1)).unwrap();
            sleepy_function()
        })
        .unwrap();
    let v = c.join(-1).unwrap();
    drop(parked);
    println!("result {v}");
}

fn child_stall_spin() {
    stall_detector(100).unwrap();
    let c = Builder::new()
        .name("spinner")
        .go(|| {
            msleep(after(1)).unwrap();
            spinning_function()
        })
        .unwrap();
    let v = c.join(-1).unwrap();
    println!("result {v}");
}

fn parent_stall_sleep() {
    let mut child = spawn_child("stall-sleep");
    let err_rx = collect(child.stderr.take().unwrap());
    let mut err = String::new();
    let (code, out) = finish(child, &err_rx, &mut err);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "result 7");
    let (idle, rest) = err.split_once("marker: idle done").expect("marker");
    assert!(
        !idle.contains("dill: stall"),
        "reported while idle or without coroutines:\n{idle}"
    );
    assert_eq!(rest.matches("dill: stall").count(), 1, "{err}");
    assert!(rest.contains("thread 'main'"), "{err}");
    assert!(rest.contains("coroutine 3 \"sleepy\""), "{err}");
    assert!(rest.contains(&format!("spawned at {}", file!())), "{err}");
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert!(rest.contains("sleepy_function"), "{err}");
        assert!(rest.contains("std::thread"), "{err}");
    } else {
        assert!(rest.contains("(no backtrace: "), "{err}");
    }
}

fn parent_stall_spin() {
    let mut child = spawn_child("stall-spin");
    let err_rx = collect(child.stderr.take().unwrap());
    let mut err = String::new();
    let (code, out) = finish(child, &err_rx, &mut err);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "result 1");
    assert_eq!(err.matches("dill: stall").count(), 1, "{err}");
    assert!(err.contains("coroutine 1 \"spinner\""), "{err}");
    assert!(err.contains(&format!("spawned at {}", file!())), "{err}");
    assert!(err.contains("(no backtrace: "), "{err}");
}

/// A coroutine that stalls its thread before the scheduler ever polled.
fn child_stall_at_start() {
    stall_detector(100).unwrap();
    let c = Builder::new().name("eager").go(spinning_function).unwrap();
    let v = c.join(-1).unwrap();
    println!("result {v}");
}

fn parent_stall_at_start() {
    let mut child = spawn_child("stall-at-start");
    let err_rx = collect(child.stderr.take().unwrap());
    let mut err = String::new();
    let (code, out) = finish(child, &err_rx, &mut err);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "result 1");
    assert_eq!(err.matches("dill: stall").count(), 1, "{err}");
    assert!(err.contains("coroutine 1 \"eager\""), "{err}");
}
