//! Spawn locations cost no allocation: `go` + `join` and `Bundle::go` of
//! unnamed coroutines allocate nothing once the scheduler has warmed up,
//! and neither do `coroutines`-free channel waits that record their state.
//!
//! Runs without the test harness (one thread, nothing else allocating)
//! under a counting global allocator.

mod alloc_counter;

use alloc_counter::{allocs, Counting};
use dill::{bundle, chmake, go, go_with_stack_size, msleep, now, yield_now, Builder};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn round(b: &dill::Bundle) {
    for i in 0..50u64 {
        assert_eq!(go(move || i + 1).unwrap().join(-1).unwrap(), i + 1);
        let h = go(move || {
            yield_now().unwrap();
            i
        })
        .unwrap();
        assert_eq!(h.join(-1).unwrap(), i);
        go_with_stack_size(32 * 1024, || ())
            .unwrap()
            .join(-1)
            .unwrap();
        b.go(|| {
            let _ = msleep(now() + 1);
        })
        .unwrap();
    }
    b.wait(-1).unwrap();
}

fn main() {
    let b = bundle().unwrap();
    // Warm up: the task table, the bundle's member list, the ready queue,
    // the timer heap and the stack pool grow past anything a round needs,
    // however the rounds' timers interleave (under valgrind they fire at
    // other points than natively): 200 coroutines of the bundle wait at
    // once, each with a timer armed, until they are sent their wake-up (a
    // shared sleep deadline could pass before the last of them arms its
    // timer when spawning is slow, as under valgrind, and leave the heap
    // small).
    let (wake, woken) = chmake::<()>().unwrap();
    let d = now() + 600_000;
    for _ in 0..200 {
        let woken = woken.clone();
        b.go(move || {
            let _ = woken.recv(d);
            let _ = yield_now();
        })
        .unwrap();
    }
    for _ in 0..200 {
        wake.send((), -1).unwrap();
    }
    let small: Vec<_> = (0..20)
        .map(|_| go_with_stack_size(32 * 1024, || msleep(-1)).unwrap())
        .collect();
    drop(small);
    b.wait(-1).unwrap();
    round(&b);
    round(&b);
    let before = allocs();
    for _ in 0..5 {
        round(&b);
    }
    assert_eq!(allocs() - before, 0, "go/join/Bundle::go allocated");

    // Channel waits record what they wait for without allocating.
    let (a, z) = chmake::<u32>().unwrap();
    let echo = go(move || {
        while let Ok(v) = z.recv(-1) {
            if z.send(v, -1).is_err() {
                break;
            }
        }
    })
    .unwrap();
    for i in 0..10 {
        a.send(i, -1).unwrap();
        assert_eq!(a.recv(-1).unwrap(), i);
    }
    let before = allocs();
    for i in 0..100 {
        a.send(i, -1).unwrap();
        assert_eq!(a.recv(-1).unwrap(), i);
    }
    assert_eq!(allocs() - before, 0, "channel waits allocated");
    drop(a);
    echo.join(-1).unwrap();

    // A named coroutine allocates its name (and only that, once started).
    let before = allocs();
    Builder::new()
        .name("n")
        .go(|| ())
        .unwrap()
        .join(-1)
        .unwrap();
    assert!(allocs() > before, "a name is allocated");
    println!("inspect_noalloc: ok");
}
