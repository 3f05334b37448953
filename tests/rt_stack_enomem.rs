//! Spawning until the kernel refuses more stacks: `go` fails with ENOMEM,
//! the scheduler keeps working, and once coroutines are gone `go` works
//! again.
//!
//! Runs on the main thread (`harness = false`) so that nothing else in the
//! process competes for memory mappings while the limit is reached.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use dill::{bundle, go_with_stack_size, msleep, now, Coroutine};

const STACK: usize = 16 * 1024;

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

fn main() {
    // Exhausting the process's memory mappings starves the tool's own: valgrind
    // aborts ("VG_N_SEGMENTS is too low"), and so does ASan ("failed to mmap").
    if let Some(tool) = memory_tool() {
        println!("rt_stack_enomem: not run under {tool}, which needs mappings of its own");
        return;
    }
    let started = Instant::now();
    let cancelled = Rc::new(Cell::new(0usize));

    // Room for every handle up front: a growing Vec would need new
    // mappings exactly when none are left.
    let mut hs: Vec<Coroutine<()>> = Vec::with_capacity(200_000);
    let err = loop {
        let c = cancelled.clone();
        match go_with_stack_size(STACK, move || {
            if msleep(-1).is_err() {
                c.set(c.get() + 1);
            }
        }) {
            Ok(h) => hs.push(h),
            Err(e) => break e,
        }
        assert!(hs.len() < 200_000, "the stack limit was never reached");
    };
    assert_eq!(err.raw_os_error(), Some(libc::ENOMEM), "got {err:?}");
    let spawned = hs.len();
    assert!(spawned > 1000, "only {spawned} coroutines before ENOMEM");

    // Out of stacks, the scheduler still works.
    let d = now() + 5;
    msleep(d).unwrap();
    assert!(now() >= d);
    // A second attempt fails the same way, and is no crash.
    let again = go_with_stack_size(STACK, || ());
    assert_eq!(
        again.err().and_then(|e| e.raw_os_error()),
        Some(libc::ENOMEM)
    );

    // Drop a few: their stacks go back to the pool, and go succeeds.
    for h in hs.drain(hs.len() - 10..) {
        drop(h);
    }
    assert_eq!(cancelled.get(), 10);
    let h = go_with_stack_size(STACK, || 42).unwrap();
    assert_eq!(h.join(-1).unwrap(), 42);
    let b = bundle().unwrap();
    b.go_with_stack_size(STACK, || msleep(now() + 1).unwrap())
        .unwrap();
    b.wait(-1).unwrap();

    // Drop everything: every coroutine is cancelled and reaped.
    drop(hs);
    assert_eq!(cancelled.get(), spawned);

    // Plenty of room again, with fresh mappings too.
    let more: Vec<_> = (0..1000)
        .map(|_| go_with_stack_size(STACK, || msleep(-1)).unwrap())
        .collect();
    drop(more);
    let h = go_with_stack_size(STACK, || "back").unwrap();
    assert_eq!(h.join(-1).unwrap(), "back");

    let took = started.elapsed();
    assert!(took.as_secs() < 10, "took {took:?}");
    println!("rt_stack_enomem: ENOMEM after {spawned} coroutines, {took:?}: ok");
}
