//! `blocking` reports the failure to start a helper thread when none
//! exists (EAGAIN, from the thread library), runs nothing, and works again
//! once threads can be started.
//!
//! Runs without the test harness (one thread, no helper started before),
//! with the address space limited just above its current size so that a
//! new thread's stack cannot be mapped. Not run under valgrind or
//! AddressSanitizer, which need mappings of their own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dill::errno::EAGAIN;
use dill::{blocking, chmake_shared, go, yield_now};

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

fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn limit_address_space(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
}

fn main() {
    if let Some(tool) = memory_tool() {
        println!("blocking_spawn_failure: not run under {tool}, which needs mappings of its own");
        return;
    }
    // Everything this thread needs later exists before the limit: its
    // scheduler, reactor and doorbell (by blocking on a shared channel).
    // The sender is a coroutine of this thread that yields first, so the
    // receive blocks; no thread is started (its stack would be cached and
    // reused by the next thread).
    let (a, b) = chmake_shared::<u32>(0).unwrap();
    let sender = go(move || {
        yield_now().unwrap();
        a.send(1, -1).unwrap();
    })
    .unwrap();
    assert_eq!(b.recv(-1).unwrap(), 1);
    sender.join(-1).unwrap();

    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    // A new thread's stack (2 MiB) does not fit in 512 KiB of room.
    limit_address_space(vm_size() + (512 << 10));
    let err = blocking(move || r.fetch_add(1, Ordering::SeqCst), -1).unwrap_err();
    limit_address_space(libc::RLIM_INFINITY);
    assert_eq!(err.raw_os_error(), Some(EAGAIN), "{err}");
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    // Threads can be started again: the pool works.
    let r = ran.clone();
    assert_eq!(
        blocking(move || r.fetch_add(1, Ordering::SeqCst), -1).unwrap(),
        0
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    println!("blocking_spawn_failure: ok");
}
