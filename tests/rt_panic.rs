//! Panics inside coroutines stop at the coroutine's boundary: its stack is
//! unwound, the others keep running, `join` re-raises the panic.

mod util;

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use dill::{bundle, go, msleep, now, yield_now};
use util::after;

struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn quiet_panics() {
    // Panics are expected here; keep the output readable without hiding
    // unexpected ones from other tests' threads (the hook is process-wide,
    // so it only filters our own messages).
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .unwrap_or_default();
            if !msg.starts_with("expected:") {
                prev(info);
            }
        }));
    });
}

#[test]
fn destructors_on_the_stack_run() {
    quiet_panics();
    let dropped = Rc::new(Cell::new(false));
    let d2 = dropped.clone();
    let h = go(move || {
        let _guard = SetOnDrop(d2);
        yield_now().unwrap();
        panic!("expected: boom");
    })
    .unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| h.join(-1)));
    assert!(dropped.get());
    let payload = r.expect_err("join should re-raise");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"expected: boom"));
}

#[test]
fn join_reraises_formatted_panics() {
    quiet_panics();
    let h = go(|| -> u32 {
        let n = 3;
        if n == 3 {
            std::panic::panic_any(format!("custom {n}"));
        }
        n
    })
    .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| h.join(-1))).unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "custom 3");
}

#[test]
fn other_coroutines_keep_running() {
    quiet_panics();
    let ticks = Rc::new(Cell::new(0));
    let t2 = ticks.clone();
    let worker = go(move || {
        for _ in 0..10 {
            msleep(after(1)).unwrap();
            t2.set(t2.get() + 1);
        }
        "worker done"
    })
    .unwrap();
    let bad = go(|| {
        msleep(after(3)).unwrap();
        panic!("expected: mid-run");
    })
    .unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| bad.join(-1))).is_err());
    assert_eq!(worker.join(-1).unwrap(), "worker done");
    assert_eq!(ticks.get(), 10);
    // And new coroutines still work.
    assert_eq!(go(|| 1 + 1).unwrap().join(-1).unwrap(), 2);
}

#[test]
fn dropping_a_panicked_handle_is_quiet() {
    quiet_panics();
    let dropped = Rc::new(Cell::new(false));
    let d2 = dropped.clone();
    let h = go(move || {
        let _g = SetOnDrop(d2);
        panic!("expected: never joined");
    })
    .unwrap();
    assert!(h.is_finished());
    assert!(dropped.get());
    drop(h);
}

#[test]
fn panic_after_cancellation_reaches_nobody_on_drop() {
    quiet_panics();
    let h = go(|| {
        let _ = msleep(-1);
        panic!("expected: after cancel");
    })
    .unwrap();
    drop(h);
    assert_eq!(go(|| 5).unwrap().join(-1).unwrap(), 5);
}

#[test]
fn panicking_bundle_member_does_not_disturb_the_others() {
    quiet_panics();
    let b = bundle().unwrap();
    let done = Rc::new(RefCell::new(Vec::new()));
    let unwound = Rc::new(Cell::new(false));
    for i in 0..5 {
        let done = done.clone();
        b.go(move || {
            msleep(after(i)).unwrap();
            done.borrow_mut().push(i);
        })
        .unwrap();
    }
    let u2 = unwound.clone();
    b.go(move || {
        let _g = SetOnDrop(u2);
        yield_now().unwrap();
        panic!("expected: bundle member");
    })
    .unwrap();
    b.wait(-1).unwrap();
    assert!(unwound.get());
    let mut d = done.borrow().clone();
    d.sort();
    assert_eq!(d, vec![0, 1, 2, 3, 4]);
}

#[test]
fn panic_in_nested_coroutine_is_contained_by_its_parent() {
    quiet_panics();
    let h = go(|| {
        let inner = go(|| {
            yield_now().unwrap();
            panic!("expected: inner");
        })
        .unwrap();
        let caught = catch_unwind(AssertUnwindSafe(|| inner.join(-1))).is_err();
        msleep(after(1)).unwrap();
        caught
    })
    .unwrap();
    assert!(h.join(-1).unwrap());
}

#[test]
fn panic_propagated_through_two_joins() {
    quiet_panics();
    let h = go(|| {
        let inner = go(|| -> i32 { panic!("expected: deep") }).unwrap();
        inner.join(-1).unwrap()
    })
    .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| h.join(-1))).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"expected: deep"));
}

#[test]
fn panic_while_holding_children_cancels_them() {
    quiet_panics();
    let cancelled = Rc::new(Cell::new(0));
    let c2 = cancelled.clone();
    let h = go(move || {
        let c3 = c2.clone();
        let _kid = go(move || {
            if msleep(-1).is_err() {
                c3.set(c3.get() + 1);
            }
        })
        .unwrap();
        yield_now().unwrap();
        panic!("expected: parent");
    })
    .unwrap();
    let t0 = now();
    assert!(catch_unwind(AssertUnwindSafe(|| h.join(-1))).is_err());
    // The child's handle was dropped during the unwind: it is cancelled.
    // It cannot be waited for while unwinding, so let it run now.
    while cancelled.get() == 0 {
        yield_now().unwrap();
        assert!(now() - t0 < 5000);
    }
}

#[test]
fn join_of_panicked_coroutine_with_deadline_zero_reraises() {
    quiet_panics();
    let h = go(|| -> u8 { panic!("expected: small") }).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| h.join(0))).is_err());
    let h = go(|| -> [u64; 64] { panic!("expected: large") }).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| h.join(0))).is_err());
}

#[test]
fn panicking_destructor_of_an_unjoined_value_is_contained() {
    quiet_panics();
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("expected: value drop");
        }
    }
    drop(go(|| PanicOnDrop).unwrap());
    drop(go(|| (PanicOnDrop, [0u64; 64])).unwrap());
    assert_eq!(go(|| 1).unwrap().join(-1).unwrap(), 1);
}
