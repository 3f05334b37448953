//! A bounded lock-free multi-producer multi-consumer queue: the buffer of a
//! buffered shared channel.
//!
//! Each slot carries a *stamp* saying what it waits for, after Dmitry
//! Vyukov's bounded MPMC queue: a producer at position `p` may write the
//! slot when its stamp is `p`, and leaves `p + 1`; a consumer at position
//! `p` may read it when the stamp is `p + 1`, and leaves the position the
//! slot has one lap later. Producers and consumers race only on their own
//! position word (one compare-and-swap each), and the two words live on
//! separate 128-byte blocks (two cache lines, for CPUs that fetch lines in
//! pairs), so a producer and a consumer on different cores share nothing
//! per message but the slot itself.
//!
//! The capacity is exact: a position is `lap + index` with `index < cap`
//! and laps counted in steps of a power of two above `cap`, so no modulo
//! and no rounding up. The bit between the index and the lap in the
//! producers' position is the *mark*: once set ([`Ring::mark`]), every
//! push fails, which makes "no more sends" atomic with respect to pushes:
//! a push either happened before the mark, and is counted in the position,
//! or fails.
//!
//! The queue has no notion of waiting; the shared channel builds blocking
//! on top of it (see `shared.rs`). Positions are `usize`s that would wrap
//! after 2^63 operations on a 64-bit target; they do not in practice.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// Aligns its content to 128 bytes, so that two of them never share a
/// cache line (nor the pair of lines some CPUs prefetch together).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// One cell of the queue.
struct Slot<T> {
    /// The position this slot waits for (see the module docs).
    stamp: AtomicUsize,
    val: UnsafeCell<MaybeUninit<T>>,
}

/// What [`Ring::pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pop<T> {
    /// The oldest value, now the caller's.
    Value(T),
    /// Nothing to take: the queue is empty, or the oldest push is still
    /// being written (its producer will be done in a few instructions).
    Empty,
    /// The queue is empty and marked: nothing will ever come.
    Closed,
}

/// Why [`Ring::push`] gave the value back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError<T> {
    /// No free slot (or the oldest slot is still being read).
    Full(T),
    /// The queue is marked.
    Closed(T),
}

/// A bounded MPMC queue of exactly `cap` values (`cap > 0`).
pub(crate) struct Ring<T> {
    /// Consumers' position: the next value to take.
    head: Padded<AtomicUsize>,
    /// Producers' position: where the next push goes, plus the mark bit.
    tail: Padded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    /// The mark bit of `tail`, a power of two above every index.
    mark: usize,
    /// The step from one lap to the next: twice `mark`.
    one_lap: usize,
}

// SAFETY: values of `T` are moved between threads through the slots (hence
// `T: Send`); a slot's value is only touched by the one producer or
// consumer that won its position with a compare-and-swap, and the stamp
// (release store, acquire load) orders the value's write before its read.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// An empty queue for exactly `cap` values; `None` when `cap` is 0 or
    /// too large to allocate.
    pub(crate) fn new(cap: usize) -> Option<Ring<T>> {
        if cap == 0 {
            return None;
        }
        let mark = cap.checked_add(1)?.checked_next_power_of_two()?;
        let one_lap = mark.checked_mul(2)?;
        let mut v: Vec<Slot<T>> = Vec::new();
        v.try_reserve_exact(cap).ok()?;
        v.extend((0..cap).map(|i| Slot {
            stamp: AtomicUsize::new(i),
            val: UnsafeCell::new(MaybeUninit::uninit()),
        }));
        Some(Ring {
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            slots: v.into_boxed_slice(),
            mark,
            one_lap,
        })
    }

    /// The number of values it holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The position after `pos` (which carries no mark).
    #[inline]
    fn next(&self, pos: usize) -> usize {
        let index = pos & (self.mark - 1);
        if index + 1 < self.slots.len() {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// The slot of position `pos`.
    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        // SAFETY: the index bits of a position are below `cap`.
        unsafe { self.slots.get_unchecked(pos & (self.mark - 1)) }
    }

    /// Appends `v`, or gives it back when the queue is full or marked.
    ///
    /// The slot's final stamp store is sequentially consistent: a caller
    /// that then reads a "someone waits" flag (sequentially consistent too)
    /// either sees a waiter that announced itself before, or that waiter
    /// sees this value when it looks again after announcing.
    #[inline]
    pub(crate) fn push(&self, v: T) -> Result<(), PushError<T>> {
        let mut tail = self.tail.0.load(Relaxed);
        loop {
            if tail & self.mark != 0 {
                return Err(PushError::Closed(v));
            }
            let slot = self.slot(tail);
            let stamp = slot.stamp.load(Acquire);
            if stamp == tail {
                match self
                    .tail
                    .0
                    .compare_exchange_weak(tail, self.next(tail), SeqCst, Relaxed)
                {
                    Ok(_) => {
                        // SAFETY: winning the position makes the slot ours
                        // until we publish it with the stamp; its stamp
                        // said it is empty (its last value was taken).
                        unsafe { (*slot.val.get()).write(v) };
                        slot.stamp.store(tail + 1, SeqCst);
                        return Ok(());
                    }
                    Err(t) => tail = t,
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds the value of the previous lap: the
                // queue is full, or that value is being taken right now.
                // Either way there is no room yet.
                let t = self.tail.0.load(SeqCst);
                if t == tail {
                    return Err(PushError::Full(v));
                }
                tail = t;
            } else {
                // Another producer took this position; look again.
                std::hint::spin_loop();
                tail = self.tail.0.load(Relaxed);
            }
        }
    }

    /// Takes the oldest value.
    ///
    /// As for [`push`](Ring::push), the stamp store that frees the slot is
    /// sequentially consistent.
    #[inline]
    pub(crate) fn pop(&self) -> Pop<T> {
        let mut head = self.head.0.load(Relaxed);
        loop {
            let slot = self.slot(head);
            let stamp = slot.stamp.load(Acquire);
            if stamp == head + 1 {
                let next = self.next(head);
                match self
                    .head
                    .0
                    .compare_exchange_weak(head, next, SeqCst, Relaxed)
                {
                    Ok(_) => {
                        // SAFETY: winning the position makes the slot ours;
                        // its stamp (acquire) says the value was written.
                        let v = unsafe { (*slot.val.get()).assume_init_read() };
                        slot.stamp.store(head.wrapping_add(self.one_lap), SeqCst);
                        return Pop::Value(v);
                    }
                    Err(h) => head = h,
                }
            } else if stamp == head {
                // Not written in this lap: empty, or a push is under way.
                let tail = self.tail.0.load(SeqCst);
                let h = self.head.0.load(Relaxed);
                if h != head {
                    head = h;
                    continue;
                }
                return if tail == head | self.mark {
                    Pop::Closed
                } else {
                    Pop::Empty
                };
            } else {
                // Another consumer took this position; look again.
                std::hint::spin_loop();
                head = self.head.0.load(Relaxed);
            }
        }
    }

    /// Could a pop complete now (a value is ready, or the queue is empty
    /// and marked)? Sequentially consistent loads: see [`push`](Ring::push).
    pub(crate) fn can_pop(&self) -> bool {
        let head = self.head.0.load(SeqCst);
        if self.slot(head).stamp.load(SeqCst) == head + 1 {
            return true;
        }
        self.tail.0.load(SeqCst) == head | self.mark
    }

    /// Could a push complete now (the next slot is free, or the queue is
    /// marked, so that a push fails at once)? Sequentially consistent
    /// loads: see [`push`](Ring::push).
    pub(crate) fn can_push(&self) -> bool {
        let tail = self.tail.0.load(SeqCst);
        tail & self.mark != 0 || self.slot(tail).stamp.load(SeqCst) == tail
    }

    /// Refuses every later push. Pushes that won their position before
    /// still complete.
    pub(crate) fn mark(&self) {
        self.tail.0.fetch_or(self.mark, SeqCst);
    }

    /// The number of values pushed and not yet taken (a snapshot).
    pub(crate) fn len(&self) -> usize {
        let lin = |pos: usize| (pos / self.one_lap) * self.slots.len() + (pos & (self.mark - 1));
        loop {
            let tail = self.tail.0.load(SeqCst) & !self.mark;
            let head = self.head.0.load(SeqCst);
            if self.tail.0.load(SeqCst) & !self.mark == tail {
                return lin(tail).wrapping_sub(lin(head)).min(self.slots.len());
            }
        }
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: no push or pop is under way, so every value between
        // the two positions is written.
        while let Pop::Value(v) = self.pop() {
            drop(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn exact_capacity_and_fifo() {
        for cap in [1, 2, 3, 5, 7, 8, 128] {
            let r = Ring::new(cap).unwrap();
            assert_eq!(r.capacity(), cap);
            for lap in 0..4 {
                for i in 0..cap {
                    assert!(r.can_push());
                    r.push(lap * 1000 + i).unwrap();
                    assert_eq!(r.len(), i + 1);
                }
                assert!(!r.can_push());
                assert_eq!(r.push(7), Err(PushError::Full(7)));
                for i in 0..cap {
                    assert!(r.can_pop());
                    assert_eq!(r.pop(), Pop::Value(lap * 1000 + i));
                }
                assert!(!r.can_pop());
                assert_eq!(r.pop(), Pop::Empty);
                assert_eq!(r.len(), 0);
            }
        }
        assert!(Ring::<u8>::new(0).is_none());
        assert!(Ring::<u8>::new(usize::MAX).is_none());
    }

    #[test]
    fn mark_refuses_pushes_and_drains() {
        let r = Ring::new(3).unwrap();
        r.push(1).unwrap();
        r.push(2).unwrap();
        r.mark();
        assert!(r.can_push(), "a push would fail at once");
        assert_eq!(r.push(3), Err(PushError::Closed(3)));
        assert_eq!(r.len(), 2);
        assert_eq!(r.pop(), Pop::Value(1));
        assert_eq!(r.pop(), Pop::Value(2));
        assert!(r.can_pop(), "a pop would fail at once");
        assert_eq!(r.pop(), Pop::Closed);
    }

    #[test]
    fn values_left_are_dropped_once() {
        let v = Arc::new(());
        {
            let r = Ring::new(4).unwrap();
            for _ in 0..3 {
                r.push(v.clone()).unwrap();
            }
            drop(r.pop());
            assert_eq!(Arc::strong_count(&v), 3);
        }
        assert_eq!(Arc::strong_count(&v), 1);
    }

    /// Several producers and consumers on threads: every value comes out
    /// exactly once, and each producer's values in order.
    #[test]
    fn mpmc_counts_and_order() {
        const PER: usize = 20_000;
        const P: usize = 3;
        const C: usize = 3;
        let r = Arc::new(Ring::new(5).unwrap());
        let producers: Vec<_> = (0..P)
            .map(|p| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        let mut v = (p, i);
                        loop {
                            match r.push(v) {
                                Ok(()) => break,
                                Err(PushError::Full(x)) => {
                                    v = x;
                                    std::thread::yield_now();
                                }
                                Err(PushError::Closed(_)) => unreachable!(),
                            }
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..C)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    let mut last = [None::<usize>; P];
                    let mut got = Vec::new();
                    loop {
                        match r.pop() {
                            Pop::Value((p, i)) => {
                                assert!(last[p].is_none_or(|l| l < i), "per-producer order");
                                last[p] = Some(i);
                                got.push((p, i));
                            }
                            Pop::Empty => std::thread::yield_now(),
                            Pop::Closed => return got,
                        }
                    }
                })
            })
            .collect();
        for t in producers {
            t.join().unwrap();
        }
        r.mark();
        let mut all: Vec<(usize, usize)> = Vec::new();
        for t in consumers {
            all.extend(t.join().unwrap());
        }
        all.sort_unstable();
        assert_eq!(all.len(), P * PER);
        let want: Vec<(usize, usize)> =
            (0..P).flat_map(|p| (0..PER).map(move |i| (p, i))).collect();
        assert_eq!(all, want);
    }

    /// The mark lands while producers push and consumers pop: every push
    /// that succeeded is taken exactly once before consumers see `Closed`,
    /// and every push after the mark fails.
    #[test]
    fn mark_races_pushes() {
        for round in 0..200 {
            let r = Arc::new(Ring::new(1 + round % 4).unwrap());
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let r = r.clone();
                    std::thread::spawn(move || {
                        let mut pushed = Vec::new();
                        for i in 0.. {
                            match r.push((p, i)) {
                                Ok(()) => pushed.push((p, i)),
                                Err(PushError::Full(_)) => std::thread::yield_now(),
                                Err(PushError::Closed(_)) => return pushed,
                            }
                        }
                        unreachable!()
                    })
                })
                .collect();
            let consumer = {
                let r = r.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match r.pop() {
                            Pop::Value(v) => got.push(v),
                            Pop::Empty => std::thread::yield_now(),
                            Pop::Closed => return got,
                        }
                    }
                })
            };
            // Let some values through, then close.
            while r.len() == 0 {
                std::thread::yield_now();
            }
            r.mark();
            let mut pushed: Vec<(usize, usize)> = Vec::new();
            for p in producers {
                pushed.extend(p.join().unwrap());
            }
            let mut got = consumer.join().unwrap();
            assert_eq!(r.pop(), Pop::Closed);
            pushed.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, pushed);
        }
    }
}
