//! The ready queue: a FIFO of task ids in a power-of-two ring.
//!
//! `VecDeque` would do, but this queue sits on the path of every switch and
//! the mask arithmetic halves its cost.

/// An entry withdrawn with [`Ring::withdraw`]: skipped by `pop_front`.
const TOMBSTONE: usize = usize::MAX;

/// FIFO of task ids.
///
/// Positions are absolute (they count every push since creation), so the
/// position returned by `push_back` names one entry for good: after the
/// entry is popped, the position is below `head` and no longer valid.
#[derive(Debug)]
pub(crate) struct Ring {
    buf: Box<[usize]>,
    /// Absolute position of the oldest entry.
    head: usize,
    /// Absolute position the next push gets.
    tail: usize,
}

impl Ring {
    /// An empty queue with room for `cap` (rounded up to a power of two)
    /// entries before it grows.
    pub(crate) fn with_capacity(cap: usize) -> Ring {
        Ring {
            buf: vec![0; cap.next_power_of_two().max(2)].into_boxed_slice(),
            head: 0,
            tail: 0,
        }
    }

    /// Number of queued ids (withdrawn entries included until popped).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tail - self.head
    }

    /// The queued ids, oldest first (withdrawn entries left out).
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mask = self.buf.len() - 1;
        (self.head..self.tail)
            .map(move |pos| self.buf[pos & mask])
            .filter(|&id| id != TOMBSTONE)
    }

    /// Appends `id`; returns its position.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, id: usize) -> usize {
        if self.tail - self.head == self.buf.len() {
            self.grow();
        }
        let mask = self.buf.len() - 1;
        let pos = self.tail;
        self.buf[pos & mask] = id;
        self.tail = pos + 1;
        pos
    }

    /// Removes the oldest id, skipping withdrawn entries.
    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        let mask = self.buf.len() - 1;
        while self.head != self.tail {
            let id = self.buf[self.head & mask];
            self.head += 1;
            if id != TOMBSTONE {
                return Some(id);
            }
        }
        None
    }

    /// If the entry pushed at `pos` is still queued and holds `id`,
    /// withdraws it (it will be skipped) and returns true.
    #[inline]
    pub(crate) fn withdraw(&mut self, pos: usize, id: usize) -> bool {
        if pos < self.head || pos >= self.tail {
            return false;
        }
        let mask = self.buf.len() - 1;
        let slot = &mut self.buf[pos & mask];
        if *slot != id {
            return false;
        }
        *slot = TOMBSTONE;
        true
    }

    /// Gives back the memory of a large buffer once at most a few entries
    /// are queued (positions stay valid: they are absolute).
    #[cold]
    pub(crate) fn shrink(&mut self) {
        let len = self.tail - self.head;
        let cap = (len * 2).next_power_of_two().max(64);
        if cap >= self.buf.len() {
            return;
        }
        let mut buf = vec![0; cap].into_boxed_slice();
        for pos in self.head..self.tail {
            buf[pos & (cap - 1)] = self.buf[pos & (self.buf.len() - 1)];
        }
        self.buf = buf;
    }

    #[cold]
    fn grow(&mut self) {
        let old = self.buf.len();
        let mut buf = vec![0; old * 2].into_boxed_slice();
        let mask = buf.len() - 1;
        for pos in self.head..self.tail {
            buf[pos & mask] = self.buf[pos & (old - 1)];
        }
        self.buf = buf;
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;
    use std::collections::VecDeque;

    #[test]
    fn behaves_like_a_fifo_across_growth_and_wrap_around() {
        let mut r = Ring::with_capacity(2);
        let mut model = VecDeque::new();
        let mut next = 0;
        for step in 0..10_000usize {
            // Mostly pushes early on, mostly pops later, with wrap-around.
            let push = (step * 7919 % 13) < if step < 5000 { 8 } else { 5 };
            if push {
                r.push_back(next);
                model.push_back(next);
                next += 1;
            } else {
                assert_eq!(r.pop_front(), model.pop_front());
            }
            assert_eq!(r.len(), model.len());
        }
        while let Some(x) = model.pop_front() {
            assert_eq!(r.pop_front(), Some(x));
        }
        assert_eq!(r.pop_front(), None);
    }

    #[test]
    fn withdrawn_entries_are_skipped_and_positions_stay_valid_across_growth() {
        let mut r = Ring::with_capacity(2);
        let pos: Vec<usize> = (0..10).map(|i| r.push_back(i)).collect();
        assert!(r.withdraw(pos[3], 3));
        assert!(!r.withdraw(pos[3], 3), "withdrawn twice");
        assert!(!r.withdraw(pos[4], 5), "wrong id");
        assert_eq!(r.pop_front(), Some(0));
        assert!(!r.withdraw(pos[0], 0), "already popped");
        for _ in 0..100 {
            r.push_back(99);
        }
        assert!(r.withdraw(pos[9], 9));
        let rest: Vec<usize> = std::iter::from_fn(|| r.pop_front()).take(8).collect();
        assert_eq!(rest, vec![1, 2, 4, 5, 6, 7, 8, 99]);
        // Shrinking keeps the entries and their positions.
        while r.len() > 3 {
            r.pop_front();
        }
        let p = r.push_back(7);
        r.shrink();
        assert!(r.buf.len() <= 64);
        assert!(r.withdraw(p, 7));
        assert_eq!(r.len(), 4);
        let rest: Vec<usize> = std::iter::from_fn(|| r.pop_front()).collect();
        assert_eq!(rest, vec![99, 99, 99]);
    }
}
