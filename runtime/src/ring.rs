//! The ready queue: a FIFO of task ids in a power-of-two ring.
//!
//! `VecDeque` would do, but this queue sits on the path of every switch and
//! the mask arithmetic halves its cost.

/// FIFO of task ids.
#[derive(Debug)]
pub(crate) struct Ring {
    buf: Box<[usize]>,
    head: usize,
    len: usize,
}

impl Ring {
    /// An empty queue with room for `cap` (rounded up to a power of two)
    /// entries before it grows.
    pub(crate) fn with_capacity(cap: usize) -> Ring {
        Ring {
            buf: vec![0; cap.next_power_of_two().max(2)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Number of queued ids.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The queued ids, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mask = self.buf.len() - 1;
        (0..self.len).map(move |i| self.buf[(self.head + i) & mask])
    }

    /// Appends `id`.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, id: usize) {
        if self.len == self.buf.len() {
            self.grow();
        }
        let mask = self.buf.len() - 1;
        self.buf[(self.head + self.len) & mask] = id;
        self.len += 1;
    }

    /// Removes the oldest id.
    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let id = self.buf[self.head];
        self.head = (self.head + 1) & (self.buf.len() - 1);
        self.len -= 1;
        Some(id)
    }

    #[cold]
    fn grow(&mut self) {
        let old = self.buf.len();
        let mut buf = vec![0; old * 2].into_boxed_slice();
        for (i, slot) in buf.iter_mut().take(self.len).enumerate() {
            *slot = self.buf[(self.head + i) & (old - 1)];
        }
        self.buf = buf;
        self.head = 0;
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
}
