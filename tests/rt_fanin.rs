//! Fan-in trees (skynet): a task about to wait for a child that has been
//! woken runs it at once, so finished children give their stacks back
//! right away instead of all waiting for the scheduler loop. Without that,
//! a tree of 111,111 coroutines whose leaves block sending to their parent
//! keeps every one of their stacks until the whole tree is built.
//!
//! One test in this binary: it reads the process-wide count of reserved
//! stack address space.

use dill::testing::reserved_stack_bytes;
use dill::{chmake, go, Chan, Coroutine};

/// Leaves of the tree: 100,000, or 10,000 under valgrind or
/// AddressSanitizer (many times slower).
fn size() -> u64 {
    let preload = std::env::var("LD_PRELOAD").unwrap_or_default();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let asan = cfg!(target_arch = "x86_64")
        && maps.lines().any(|l| l.starts_with("8fff7000-2008fff7000 "));
    if preload.contains("vgpreload") || asan {
        10_000
    } else {
        100_000
    }
}

/// Children send their sums up a channel; the parent drops their handles
/// (each drop waits for that child to finish).
fn by_channel(tx: Chan<u64>, num: u64, size: u64) {
    if size == 1 {
        tx.send(num, -1).unwrap();
        return;
    }
    let (ctx, crx) = chmake::<u64>().unwrap();
    let sub = size / 10;
    let hs: Vec<Coroutine<()>> = (0..10)
        .map(|i| {
            let c = ctx.clone();
            go(move || by_channel(c, num + i * sub, sub)).unwrap()
        })
        .collect();
    let sum = (0..10).map(|_| crx.recv(-1).unwrap()).sum();
    drop(hs);
    tx.send(sum, -1).unwrap();
}

/// Children send their numbers up a channel and the parent joins each.
fn by_join(tx: Chan<u64>, num: u64, size: u64) -> u64 {
    if size == 1 {
        tx.send(num, -1).unwrap();
        return num;
    }
    let (ctx, crx) = chmake::<u64>().unwrap();
    let sub = size / 10;
    let hs: Vec<Coroutine<u64>> = (0..10)
        .map(|i| {
            let c = ctx.clone();
            go(move || by_join(c, num + i * sub, sub)).unwrap()
        })
        .collect();
    let sent: u64 = (0..10).map(|_| crx.recv(-1).unwrap()).sum();
    let joined: u64 = hs.into_iter().map(|h| h.join(-1).unwrap()).sum();
    assert_eq!(sent, joined);
    tx.send(joined, -1).unwrap();
    joined
}

#[test]
fn fan_in_trees_do_not_hold_every_stack() {
    let size = size();
    let expected = size * (size - 1) / 2;
    let (tx, rx) = chmake::<u64>().unwrap();
    let root = go(move || by_channel(tx, 0, size)).unwrap();
    assert_eq!(rx.recv(-1).unwrap(), expected);
    root.join(-1).unwrap();

    let (tx, rx) = chmake::<u64>().unwrap();
    let root = go(move || by_join(tx, 0, size)).unwrap();
    assert_eq!(rx.recv(-1).unwrap(), expected);
    assert_eq!(root.join(-1).unwrap(), expected);

    // A few hundred stacks at most were ever needed at once (the first
    // regions hold 64, 128, 256, ... stacks of 260 KiB); holding the whole
    // tree would have reserved some 28 GiB.
    let reserved = reserved_stack_bytes();
    assert!(
        reserved < 1 << 30,
        "{} MiB of stacks reserved for a tree of {} coroutines",
        reserved >> 20,
        size * 10 / 9
    );
}
