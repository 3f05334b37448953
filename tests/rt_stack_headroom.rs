//! When stacks run out, the process is not starved: a program that panics
//! right there gets its message and a symbolised backtrace printed (which
//! needs the allocator and fresh mappings) and exits cleanly, without the
//! deadlock in std's out-of-memory path that exhausting the mappings used
//! to cause.
//!
//! The parent re-executes this binary in a child mode that limits its
//! address space, spawns default-size coroutines until `go` fails, and
//! panics with `RUST_BACKTRACE=1`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "DILL_RT_STACK_HEADROOM_CHILD";

fn vm_size() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// The memory checker this test runs under, if any (see rt_stack_enomem.rs):
/// both need address space of their own, which RLIMIT_AS would take away.
fn memory_tool() -> Option<&'static str> {
    let preload = std::env::var("LD_PRELOAD").unwrap_or_default();
    if preload.contains("vgpreload") {
        return Some("valgrind");
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    if cfg!(target_arch = "x86_64") && maps.lines().any(|l| l.starts_with("8fff7000-2008fff7000 "))
    {
        return Some("AddressSanitizer");
    }
    None
}

#[inline(never)]
fn exhaust_stacks_then_panic() {
    let lim = libc::rlimit {
        rlim_cur: (vm_size() + (512 << 20)) as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
    let mut hs = Vec::with_capacity(100_000);
    loop {
        match dill::go(|| dill::msleep(-1)) {
            Ok(h) => hs.push(h),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
                panic!("out of stacks after {} coroutines: {e}", hs.len());
            }
        }
        assert!(hs.len() < 100_000, "the limit was never reached");
    }
}

fn main() {
    if let Some(tool) = memory_tool() {
        println!("rt_stack_headroom: not run under {tool}, which needs address space of its own");
        return;
    }
    if std::env::var(CHILD_ENV).is_ok() {
        exhaust_stacks_then_panic();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut stderr = child.stderr.take().unwrap();
    // Read stderr on a thread so that the wait below can time out.
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child hangs after running out of stacks (deadlock)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap();
    assert_eq!(
        status.code(),
        Some(101),
        "child ended with {status:?}: {stderr}"
    );
    assert!(
        stderr.contains("out of stacks after"),
        "no panic message: {stderr}"
    );
    assert!(stderr.contains("stack backtrace"), "no backtrace: {stderr}");
    assert!(
        stderr.contains("exhaust_stacks_then_panic"),
        "backtrace not symbolised: {stderr}"
    );
    println!(
        "rt_stack_headroom: child panicked with a backtrace and exited in {:?}: ok",
        started.elapsed()
    );
}
