//! Thread teardown frees the scheduler and unmaps its stack regions, also
//! when handles kept in thread-locals outlive the scheduler's own
//! thread-local (they are dropped after it: the last one frees it).
//!
//! One test in this binary, so that no other thread uses dill while the
//! process-wide counters are read.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use dill::testing::{live_schedulers, reserved_stack_bytes};
use dill::{bundle, go, msleep, Bundle, Coroutine};

thread_local! {
    static H: RefCell<Vec<Coroutine<()>>> = const { RefCell::new(Vec::new()) };
    static B: RefCell<Option<Bundle>> = const { RefCell::new(None) };
}

/// Starts coroutines that sleep until cancelled, counting cancellations.
fn sleeper(cancelled: &Arc<AtomicUsize>) -> impl FnOnce() + 'static {
    let c = cancelled.clone();
    move || {
        if msleep(-1).is_err() {
            c.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn schedulers_and_stack_regions_are_freed_when_the_last_handle_goes() {
    assert_eq!(live_schedulers(), 0, "this test's thread must not use dill");
    assert_eq!(reserved_stack_bytes(), 0);

    // Plain thread exit: the scheduler's own destructor frees it.
    thread::spawn(|| {
        let hs: Vec<_> = (0..100).map(|_| go(|| msleep(-1)).unwrap()).collect();
        assert_eq!(live_schedulers(), 1);
        assert!(reserved_stack_bytes() > 0);
        drop(hs);
    })
    .join()
    .unwrap();
    assert_eq!(live_schedulers(), 0);
    assert_eq!(reserved_stack_bytes(), 0);

    // Handles in thread-locals registered before the scheduler's: they are
    // dropped after it, and the last of them frees it.
    let cancelled = Arc::new(AtomicUsize::new(0));
    for round in 0..20 {
        let c = cancelled.clone();
        thread::spawn(move || {
            H.with(|_| ());
            B.with(|_| ());
            let hs: Vec<_> = (0..50).map(|_| go(sleeper(&c)).unwrap()).collect();
            H.with(|slot| *slot.borrow_mut() = hs);
            let b = bundle().unwrap();
            for _ in 0..50 {
                b.go(sleeper(&c)).unwrap();
            }
            B.with(|slot| *slot.borrow_mut() = Some(b));
        })
        .join()
        .unwrap();
        assert_eq!(cancelled.load(Ordering::SeqCst), (round + 1) * 100);
        assert_eq!(live_schedulers(), 0, "round {round}: scheduler leaked");
        assert_eq!(reserved_stack_bytes(), 0, "round {round}: regions leaked");
    }
}
