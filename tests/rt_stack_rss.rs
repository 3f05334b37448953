//! RSS falls back after a burst: when 100,000 coroutines have ended, the
//! memory their stacks touched is given back to the kernel (all but the
//! per-thread cache of idle stacks, `DILL_STACK_CACHE`), and the next burst
//! reuses the same address space.
//!
//! One test in this binary, so that nothing else moves the process's RSS.

use dill::testing::reserved_stack_bytes;
use dill::{chmake, go, Coroutine};

/// Resident set size of this process, in bytes.
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// Runs `n` coroutines that each touch 4 KiB of their stack and park, then
/// wakes them all; returns the RSS measured while they were all alive.
fn burst(n: usize) -> usize {
    let (tx, rx) = chmake::<()>().unwrap();
    let hs: Vec<Coroutine<u8>> = (0..n)
        .map(|i| {
            let rx = rx.clone();
            go(move || {
                let buf = std::hint::black_box([i as u8; 4096]);
                rx.recv(-1).unwrap();
                buf[100]
            })
            .unwrap()
        })
        .collect();
    let peak = rss();
    for _ in 0..n {
        tx.send((), -1).unwrap();
    }
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(h.join(-1).unwrap(), i as u8);
    }
    peak
}

/// The memory checker this test runs under, if any: valgrind (its preload
/// library is in `LD_PRELOAD`) or AddressSanitizer (on x86-64 its shadow
/// memory leaves an inaccessible gap at 0x8fff7000..0x2008fff7000).
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

#[test]
fn rss_falls_after_a_burst_of_coroutines_ends() {
    if let Some(tool) = memory_tool() {
        // Their allocators and shadow memory make RSS say little about ours.
        println!("not run under {tool}");
        return;
    }
    let n: usize = std::env::var("DILL_SCALE_N")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(100_000, |v| v.min(100_000));
    // A first burst, so that the second one can be seen to reuse its
    // address space.
    burst(n);
    dill::msleep(dill::now() + 1).unwrap();
    let reserved = reserved_stack_bytes();
    let base = rss();
    let peak = burst(n);
    // Idle stacks beyond 16 times the cache are released at once, the rest
    // as soon as the thread has nothing to run: let it idle for a moment.
    dill::msleep(dill::now() + 1).unwrap();
    let after = rss();
    let grown = peak.saturating_sub(base);
    println!(
        "{n} coroutines: RSS {} MiB before, {} MiB at the peak, {} MiB after",
        base >> 20,
        peak >> 20,
        after >> 20
    );
    // Each coroutine touched at least 4 KiB of stack.
    assert!(
        grown >= n * 4096,
        "the burst grew RSS by only {grown} bytes"
    );
    // What is left is the cache of idle stacks (1024 by default, a page or
    // two each) and small change: well under a tenth of the burst, and
    // under 32 MiB. The task table and the queues are given back too,
    // though glibc's malloc may keep some of that memory for reuse (its
    // mmap threshold rises after the first burst frees a large block).
    assert!(
        after < base + (grown / 10).min(32 << 20),
        "RSS did not fall: {base} before, {peak} at the peak, {after} after"
    );
    // The second burst reused the first one's address space.
    assert_eq!(reserved_stack_bytes(), reserved);
}
