//! A coroutine that overflows its stack hits the guard page and the process
//! dies with a message naming the coroutine stack, never silent corruption.
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
        other => panic!("unknown mode {other}"),
    };
    let _ = h.join(-1);
    // Not reached.
    std::process::exit(0);
}

fn run_child(mode: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .env(CHILD_ENV, mode)
        .output()
        .expect("spawn child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let sig = out.status.signal();
    assert!(
        sig == Some(libc::SIGABRT) || sig == Some(libc::SIGSEGV),
        "mode {mode}: child ended with {:?}, stderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains("coroutine stack overflow"),
        "mode {mode}: stderr does not name the overflow: {stderr}"
    );
    println!("rt_stack_overflow[{mode}]: {:?}: ok", out.status);
}

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child(&mode);
        return;
    }
    for mode in ["small", "default", "resumed"] {
        run_child(mode);
    }
}
