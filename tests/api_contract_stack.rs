//! The stack-size part of the contract (API.md, "Runtime, continued"):
//! the signatures, and the behaviour attached to them. One test, because the
//! default is process-wide.

use std::io;

use dill::*;

mod util;
use util::assert_errno;

/// Uses most of a `bytes`-byte stack, one 1 KiB frame at a time.
fn use_stack(bytes: usize) -> usize {
    let frame = std::hint::black_box([1u8; 1024]);
    if bytes <= 1024 {
        return usize::from(frame[0]);
    }
    use_stack(bytes - 1024) + usize::from(std::hint::black_box(frame)[1])
}

#[test]
fn default_stack_size_is_process_wide_and_checked() {
    let set: fn(usize) -> io::Result<()> = set_default_stack_size;
    let get: fn() -> usize = default_stack_size;
    assert_eq!(get(), DEFAULT_STACK_SIZE);

    // EINVAL outside MIN_STACK_SIZE..=MAX_STACK_SIZE; the default stays.
    assert_errno(set(MIN_STACK_SIZE - 1), errno::EINVAL);
    assert_errno(set(MAX_STACK_SIZE + 1), errno::EINVAL);
    assert_errno(set(0), errno::EINVAL);
    assert_eq!(get(), DEFAULT_STACK_SIZE);

    // Both ends of the range are accepted.
    set(MIN_STACK_SIZE).unwrap();
    assert_eq!(get(), MIN_STACK_SIZE);
    set(MAX_STACK_SIZE).unwrap();
    assert_eq!(get(), MAX_STACK_SIZE);

    // Coroutines run on the new default (that they really get that size
    // is shown by tests/rt_stack_overflow.rs, mode "set_default").
    set(2 << 20).unwrap();
    let deep = go(|| use_stack(64 * 1024)).unwrap();
    assert!(deep.join(-1).unwrap() >= 1);
    let b = bundle().unwrap();
    b.go(|| assert!(use_stack(64 * 1024) >= 1)).unwrap();
    b.wait(-1).unwrap();

    // Seen from every thread.
    assert_eq!(
        std::thread::spawn(default_stack_size).join().unwrap(),
        2 << 20
    );
    set(64 * 1024).unwrap();
    assert_eq!(
        std::thread::spawn(default_stack_size).join().unwrap(),
        64 * 1024
    );
    // Explicit sizes are not affected.
    let h = go_with_stack_size(1 << 20, || use_stack(64 * 1024)).unwrap();
    assert!(h.join(-1).unwrap() >= 1);
    set(DEFAULT_STACK_SIZE).unwrap();
}
