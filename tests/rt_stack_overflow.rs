//! A coroutine that overflows its stack hits the guard page and the process
//! dies with a message naming the coroutine stack, never silent corruption.
//!
//! Stacks are carved side by side from reserved regions, each with a guard
//! page below it (`MADV_GUARD_INSTALL` where the kernel has it, else an
//! `mprotect`ed page): the test runs every mode with both kinds of guard.
//!
//! The test re-executes its own binary in a child mode that overflows, and
//! checks how the child died.

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const CHILD_ENV: &str = "DILL_RT_STACK_OVERFLOW_CHILD";

/// Recurses forever, each frame holding a buffer the optimiser cannot drop.
fn recurse(depth: u64) -> u64 {
    let buf = black_box([depth as u8; 1024]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(buf[0]) + black_box(1)
}

fn child(mode: &str) {
    let h = match mode {
        "small" => dill::go_with_stack_size(dill::MIN_STACK_SIZE, || recurse(0)).unwrap(),
        "default" => dill::go(|| recurse(0)).unwrap(),
        // Overflow after the coroutine has blocked once and been resumed by
        // the scheduler loop rather than by `go`.
        "resumed" => dill::go(|| {
            dill::msleep(dill::now() + 1).unwrap();
            recurse(0)
        })
        .unwrap(),
        // Overflow into the region's neighbouring stack, which belongs to
        // a live coroutine: the guard page between them must catch it.
        "neighbour" => {
            let below: Vec<_> = (0..3)
                .map(|_| dill::go(|| dill::msleep(-1)).unwrap())
                .collect();
            std::mem::forget(below);
            dill::go(|| recurse(0)).unwrap()
        }
        // The process-wide default applies to `go`: the message names it.
        "set_default" => {
            dill::set_default_stack_size(dill::MIN_STACK_SIZE).unwrap();
            dill::go(|| recurse(0)).unwrap()
        }
        other => panic!("unknown mode {other}"),
    };
    let _ = h.join(-1);
    // Not reached.
    std::process::exit(0);
}

fn run_child(mode: &str, guard: &str) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.env(CHILD_ENV, mode);
    if guard == "mprotect" {
        cmd.env("DILL_STACK_GUARD", "mprotect");
    }
    let out = cmd.output().expect("spawn child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let sig = out.status.signal();
    assert!(
        sig == Some(libc::SIGABRT) || sig == Some(libc::SIGSEGV),
        "mode {mode}: child ended with {:?}, stderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains("dill: coroutine stack overflow"),
        "mode {mode}: stderr does not name the overflow: {stderr}"
    );
    if mode == "small" || mode == "set_default" {
        let size = format!("its {}-byte stack", dill::MIN_STACK_SIZE);
        assert!(
            stderr.contains(&size),
            "mode {mode}: expected {size:?}: {stderr}"
        );
    }
    println!("rt_stack_overflow[{mode}, {guard}]: {:?}: ok", out.status);
}

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child(&mode);
        return;
    }
    let guard = if dill::testing::stack_guards_use_madvise() {
        "madvise"
    } else {
        "mprotect"
    };
    for g in [guard, "mprotect"] {
        for mode in ["small", "default", "resumed", "neighbour", "set_default"] {
            run_child(mode, g);
        }
    }
}
