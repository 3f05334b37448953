//! A coroutine's closure may capture values of any size (a TLS session, a
//! big array): `go`, `go_with_stack_size`, `Bundle::go`, `Scope::go` and
//! `Bundle::go_with_stack_size` all start it, and it sees exactly what was captured.

use dill::*;

/// A capture of `N` bytes whose content is checked inside the coroutine.
fn pattern<const N: usize>() -> [u8; N] {
    let mut a = [0u8; N];
    for (i, b) in a.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    a
}

fn checksum(a: &[u8]) -> u64 {
    a.iter()
        .enumerate()
        .map(|(i, &b)| (i as u64 + 1) * u64::from(b))
        .sum()
}

#[test]
fn go_takes_closures_larger_than_the_inline_limit() {
    // Around the inline limit, beyond corosensei's own 1 KiB limit, and
    // well beyond it (the capture still lives on the coroutine's stack
    // once it runs, a few copies of it in a debug build: a capture near
    // the stack size overflows it, as any big local would).
    macro_rules! check {
        ($n:expr) => {{
            let big = pattern::<$n>();
            let want = checksum(&big);
            let h = go(move || checksum(&big)).unwrap();
            assert_eq!(
                h.join(after(5000)).unwrap(),
                want,
                "capture of {} bytes",
                $n
            );
        }};
    }
    check!(8);
    check!(500);
    check!(520);
    check!(1024);
    check!(1100);
    check!(4096);
    check!(16384);
}

#[test]
fn every_way_to_start_a_coroutine_takes_a_big_closure() {
    let big = pattern::<4096>();
    let want = checksum(&big);

    let h = go_with_stack_size(128 * 1024, move || checksum(&big)).unwrap();
    assert_eq!(h.join(after(5000)).unwrap(), want);

    let (tx, rx) = chmake_buffered::<u64>(4).unwrap();
    let b = bundle().unwrap();
    let tx2 = tx.clone();
    b.go(move || tx2.send(checksum(&big), -1).unwrap()).unwrap();
    let tx3 = tx.clone();
    b.go_with_stack_size(128 * 1024, move || tx3.send(checksum(&big), -1).unwrap())
        .unwrap();
    b.wait(after(5000)).unwrap();
    assert_eq!(rx.recv(after(5000)).unwrap(), want);
    assert_eq!(rx.recv(after(5000)).unwrap(), want);

    drop(tx);

    let mut got = 0;
    scope(|s| {
        s.go(|| got = checksum(&big)).unwrap();
    })
    .unwrap();
    assert_eq!(got, want);
}

#[test]
fn a_big_closure_is_dropped_once_when_cancelled_before_it_runs_to_the_end() {
    use std::cell::Cell;
    use std::rc::Rc;

    struct Counted(Rc<Cell<u32>>, [u8; 2048]);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let drops = Rc::new(Cell::new(0));
    let c = Counted(drops.clone(), pattern::<2048>());
    let h = go(move || {
        let c = c;
        // Blocks until cancelled: the drop of `h` below.
        let r = msleep(-1);
        assert_eq!(checksum(&c.1), checksum(&pattern::<2048>()));
        r
    })
    .unwrap();
    assert_eq!(drops.get(), 0);
    drop(h);
    assert_eq!(drops.get(), 1);
}
