//! The timer heap: a binary min-heap of `(deadline, seq)` keys, each owned by
//! one task, with O(log n) removal.
//!
//! Every task waits on at most one timer at a time, so the heap records the
//! position of each task's entry through [`Positions`]; a task that is woken
//! by something else removes its timer at once instead of leaving a stale
//! entry behind. The sequence number makes equal deadlines fire in the order
//! they were armed.

/// Where the heap writes the position of each owner's entry.
pub(crate) trait Positions {
    /// Records that `owner`'s entry now sits at `pos` (`NONE` when removed).
    fn set_pos(&mut self, owner: usize, pos: usize);
}

/// Position value meaning "not in the heap".
pub(crate) const NONE: usize = usize::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    deadline: i64,
    seq: u64,
    owner: usize,
}

impl Entry {
    #[inline]
    fn key(&self) -> (i64, u64) {
        (self.deadline, self.seq)
    }
}

/// Min-heap of timers.
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: Vec<Entry>,
    seq: u64,
}

impl TimerHeap {
    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The deadline of the entry at heap position `pos`.
    pub(crate) fn deadline_at(&self, pos: usize) -> Option<i64> {
        self.heap.get(pos).map(|e| e.deadline)
    }

    /// Gives back the memory of a heap that has grown large and emptied.
    #[cold]
    pub(crate) fn shrink(&mut self) {
        if self.heap.capacity() > 64 && self.heap.len() < 16 {
            self.heap.shrink_to(64);
        }
    }

    /// The earliest deadline, if any.
    #[inline]
    pub(crate) fn next_deadline(&self) -> Option<i64> {
        self.heap.first().map(|e| e.deadline)
    }

    /// Arms a timer for `owner`.
    pub(crate) fn push(&mut self, deadline: i64, owner: usize, pos: &mut impl Positions) {
        self.seq += 1;
        let i = self.heap.len();
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            owner,
        });
        pos.set_pos(owner, i);
        self.sift_up(i, pos);
    }

    /// Removes and returns the owner of the earliest timer if its deadline is
    /// at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: i64, pos: &mut impl Positions) -> Option<usize> {
        match self.heap.first() {
            Some(e) if e.deadline <= now => {
                let owner = e.owner;
                self.remove(0, pos);
                Some(owner)
            }
            _ => None,
        }
    }

    /// Removes the entry at heap position `i`.
    pub(crate) fn remove(&mut self, i: usize, pos: &mut impl Positions) {
        let removed = self.heap.swap_remove(i);
        pos.set_pos(removed.owner, NONE);
        if i < self.heap.len() {
            pos.set_pos(self.heap[i].owner, i);
            if i > 0 && self.heap[i].key() < self.heap[(i - 1) / 2].key() {
                self.sift_up(i, pos);
            } else {
                self.sift_down(i, pos);
            }
        }
    }

    fn sift_up(&mut self, mut i: usize, pos: &mut impl Positions) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[i].key() >= self.heap[parent].key() {
                break;
            }
            self.swap(i, parent, pos);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize, pos: &mut impl Positions) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let child = if r < n && self.heap[r].key() < self.heap[l].key() {
                r
            } else {
                l
            };
            if self.heap[child].key() >= self.heap[i].key() {
                break;
            }
            self.swap(i, child, pos);
            i = child;
        }
    }

    #[inline]
    fn swap(&mut self, a: usize, b: usize, pos: &mut impl Positions) {
        self.heap.swap(a, b);
        pos.set_pos(self.heap[a].owner, a);
        pos.set_pos(self.heap[b].owner, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pos(Vec<usize>);
    impl Positions for Pos {
        fn set_pos(&mut self, owner: usize, pos: usize) {
            self.0[owner] = pos;
        }
    }

    fn check_positions(h: &TimerHeap, p: &Pos) {
        for (i, e) in h.heap.iter().enumerate() {
            assert_eq!(p.0[e.owner], i);
            if i > 0 {
                assert!(
                    h.heap[(i - 1) / 2].key() <= e.key(),
                    "heap order broken at {i}"
                );
            }
        }
    }

    #[test]
    fn pops_in_deadline_then_arming_order() {
        let mut h = TimerHeap::default();
        let mut p = Pos(vec![NONE; 6]);
        for (owner, d) in [(0, 50), (1, 10), (2, 50), (3, 30), (4, 10), (5, 40)] {
            h.push(d, owner, &mut p);
            check_positions(&h, &p);
        }
        let mut order = Vec::new();
        while let Some(o) = h.pop_expired(i64::MAX, &mut p) {
            check_positions(&h, &p);
            assert_eq!(p.0[o], NONE);
            order.push(o);
        }
        assert_eq!(order, vec![1, 4, 3, 5, 0, 2]);
    }

    #[test]
    fn pop_respects_now() {
        let mut h = TimerHeap::default();
        let mut p = Pos(vec![NONE; 2]);
        h.push(100, 0, &mut p);
        h.push(200, 1, &mut p);
        assert_eq!(h.pop_expired(99, &mut p), None);
        assert_eq!(h.pop_expired(100, &mut p), Some(0));
        assert_eq!(h.pop_expired(150, &mut p), None);
        assert_eq!(h.next_deadline(), Some(200));
    }

    #[test]
    fn removal_from_the_middle_keeps_the_heap_valid() {
        // Deterministic pseudo-random workload.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let n = 500;
        let mut h = TimerHeap::default();
        let mut p = Pos(vec![NONE; n]);
        let deadlines: Vec<i64> = (0..n).map(|_| (rnd() % 1000) as i64).collect();
        for (owner, &d) in deadlines.iter().enumerate() {
            h.push(d, owner, &mut p);
        }
        check_positions(&h, &p);
        for owner in (0..n).step_by(3) {
            let i = p.0[owner];
            h.remove(i, &mut p);
            assert_eq!(p.0[owner], NONE);
            check_positions(&h, &p);
        }
        assert_eq!(h.len(), n - n.div_ceil(3));
        let mut last = i64::MIN;
        while let Some(o) = h.pop_expired(i64::MAX, &mut p) {
            assert!(o % 3 != 0, "removed timer {o} fired");
            assert!(deadlines[o] >= last, "timers fired out of order");
            last = deadlines[o];
        }
        assert_eq!(h.len(), 0);
    }
}
