//! Numeric settings read from the environment once per process
//! (`DILL_STACK_CACHE`, `DILL_STACK_POPULATE`, `DILL_SHARED_WAIT_US`,
//! `DILL_IDLE_YIELDS`).

use std::sync::atomic::{AtomicU64, Ordering};

/// A setting: its variable, and the value's cache (`u64::MAX` until read).
pub(crate) struct Knob {
    name: &'static str,
    value: AtomicU64,
}

impl Knob {
    /// The setting named `name`, not read yet.
    pub(crate) const fn new(name: &'static str) -> Knob {
        Knob {
            name,
            value: AtomicU64::new(u64::MAX),
        }
    }

    /// The setting's value: on the first call, `make` turns what the
    /// variable holds (`None` when it is unset or not a number) into it;
    /// later calls return that (threads that race on the first call compute
    /// the same value). `make` must not return `u64::MAX`.
    #[inline]
    pub(crate) fn get(&self, make: impl FnOnce(Option<u64>) -> u64) -> u64 {
        let v = self.value.load(Ordering::Relaxed);
        if v != u64::MAX {
            return v;
        }
        self.read(make)
    }

    #[cold]
    fn read(&self, make: impl FnOnce(Option<u64>) -> u64) -> u64 {
        let raw = std::env::var(self.name)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let v = make(raw).min(u64::MAX - 1);
        self.value.store(v, Ordering::Relaxed);
        v
    }
}
