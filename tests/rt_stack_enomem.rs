//! Spawning until no stack can be had without eating into the headroom kept
//! for the rest of the process: `go` fails with ENOMEM, `malloc`, threads
//! and the scheduler keep working, and once coroutines are gone `go` works
//! again.
//!
//! Stacks come from reserved regions, so the old limit (two mappings per
//! stack against `vm.max_map_count`, about 32k coroutines) is gone; the
//! limits left are tested in child processes, one per mode:
//!
//! * `as`: a finite `RLIMIT_AS` (address space), with `MADV_GUARD_INSTALL`
//!   guards where the kernel has them;
//! * `maps`: the `mprotect` guard fallback (`DILL_STACK_GUARD=mprotect`),
//!   where every stack still splits its region's mapping, against
//!   `vm.max_map_count`.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::Instant;

use dill::testing::stack_guards_use_madvise;
use dill::{bundle, go_with_stack_size, msleep, now, Coroutine};

const CHILD_ENV: &str = "DILL_RT_STACK_ENOMEM_CHILD";
const STACK: usize = 16 * 1024;
const MAX_SPAWNS: usize = 2_000_000;

/// Virtual memory size of this process in bytes.
fn vm_size() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// Limits this process's address space to what it uses now plus `extra`.
pub fn limit_address_space(extra: usize) {
    let lim = libc::rlimit {
        rlim_cur: (vm_size() + extra) as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
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

fn child(mode: &str) {
    let started = Instant::now();
    match mode {
        "as" => limit_address_space(768 << 20),
        "maps" => assert!(!stack_guards_use_madvise()),
        other => panic!("unknown mode {other}"),
    }
    let cancelled = Rc::new(Cell::new(0usize));
    let mut hs: Vec<Coroutine<()>> = Vec::with_capacity(MAX_SPAWNS);
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
        assert!(hs.len() < MAX_SPAWNS, "the stack limit was never reached");
    };
    assert_eq!(err.raw_os_error(), Some(libc::ENOMEM), "got {err:?}");
    let spawned = hs.len();
    assert!(spawned > 10_000, "only {spawned} coroutines before ENOMEM");

    // Out of stacks, the rest of the process still works: the allocator
    // (a 16 MiB block, touched), formatting, a new OS thread, the scheduler.
    let mut big = vec![0u8; 16 << 20];
    big.iter_mut().step_by(4096).for_each(|b| *b = 1);
    assert_eq!(big.iter().step_by(4096).count(), 4096);
    drop(big);
    let text = format!("{spawned} coroutines");
    assert!(text.ends_with("coroutines"));
    assert_eq!(std::thread::spawn(|| 6 * 7).join().unwrap(), 42);
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

    // As many as before fit again (the pool reuses the stacks).
    let more: Vec<_> = (0..spawned - 10)
        .map(|_| go_with_stack_size(STACK, || msleep(-1)).unwrap())
        .collect();
    drop(more);
    let h = go_with_stack_size(STACK, || "back").unwrap();
    assert_eq!(h.join(-1).unwrap(), "back");

    println!(
        "rt_stack_enomem[{mode}]: ENOMEM after {spawned} coroutines, {:?}: ok",
        started.elapsed()
    );
}

fn main() {
    // Exhausting the address space or the memory mappings starves the
    // tool's own: valgrind aborts ("VG_N_SEGMENTS is too low"), and so does
    // ASan ("failed to mmap"); ASan's shadow memory also needs an unlimited
    // RLIMIT_AS.
    if let Some(tool) = memory_tool() {
        println!("rt_stack_enomem: not run under {tool}, which needs mappings of its own");
        return;
    }
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child(&mode);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for mode in ["as", "maps"] {
        let mut cmd = Command::new(&exe);
        cmd.env(CHILD_ENV, mode);
        if mode == "maps" {
            cmd.env("DILL_STACK_GUARD", "mprotect");
        }
        let out = cmd.output().expect("spawn child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains(": ok"),
            "mode {mode}: child ended with {:?}\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        print!("{stdout}");
    }
}
