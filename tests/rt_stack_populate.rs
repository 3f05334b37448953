//! Stack pages are faulted in by the batch, not one page fault per `go`:
//! carving fresh slots makes the top pages of the next ones resident at
//! once (as many as were carved before, up to 64, so a thread with few
//! coroutines gets nothing ahead), and reusing idle stacks whose memory was
//! given back makes the next batch of them resident at once. Seen with
//! `mincore` on the top page of each coroutine's stack.
//!
//! One test in this binary, so that nothing else uses this thread's stack
//! pool.

use dill::testing::running_stack_top_page;
use dill::{chmake, msleep, now, Builder, Coroutine};

/// Bytes per page.
fn page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Is the page at `addr` resident?
fn resident(addr: usize) -> bool {
    let mut v = 0u8;
    // SAFETY: one page, one result byte.
    let r = unsafe { libc::mincore(addr as *mut libc::c_void, page(), &mut v) };
    assert_eq!(
        r,
        0,
        "mincore({addr:#x}): {}",
        std::io::Error::last_os_error()
    );
    v & 1 == 1
}

/// Does this kernel populate pages named by `process_madvise` on the
/// process itself (Linux 6.15)? Asked on a scratch page.
fn kernel_populates() -> bool {
    let p = page();
    // SAFETY: a private scratch mapping, unmapped below.
    unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            p,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(m, libc::MAP_FAILED);
        let iov = libc::iovec {
            iov_base: m,
            iov_len: p,
        };
        let r = libc::syscall(libc::SYS_process_madvise, -10001, &iov, 1, 23, 0);
        libc::munmap(m, p);
        r == p as libc::c_long
    }
}

/// Starts `n` coroutines with `size`-byte stacks that report their stack's
/// top page and park; returns their handles, the pages, and the sender
/// that wakes them.
fn park(n: usize, size: usize) -> (Vec<Coroutine<()>>, Vec<usize>, dill::Chan<()>) {
    let (tx, rx) = chmake::<()>().unwrap();
    let (ptx, prx) = chmake::<usize>().unwrap();
    let mut hs = Vec::with_capacity(n);
    let mut tops = Vec::with_capacity(n);
    for _ in 0..n {
        let (rx, ptx) = (rx.clone(), ptx.clone());
        let h = Builder::new()
            .stack_size(size)
            .go(move || {
                ptx.send(running_stack_top_page().unwrap(), -1).unwrap();
                rx.recv(-1).unwrap();
            })
            .unwrap();
        hs.push(h);
        tops.push(prx.recv(-1).unwrap());
    }
    (hs, tops, tx)
}

fn wake_all(hs: Vec<Coroutine<()>>, tx: &dill::Chan<()>) {
    for _ in 0..hs.len() {
        tx.send((), -1).unwrap();
    }
    for h in hs {
        h.join(-1).unwrap();
    }
}

#[test]
fn stack_pages_are_faulted_in_by_the_batch() {
    if !dill::testing::stack_guards_use_madvise() || !kernel_populates() {
        eprintln!("skipped: the kernel has no MADV_GUARD_INSTALL or no process_madvise on itself");
        return;
    }
    let size = 64 * 1024;
    let slot = size + page();

    // A fresh region: one coroutine makes no page resident ahead of use.
    let (hs1, tops, tx1) = park(1, size);
    assert!(
        !resident(tops[0] + slot),
        "a first coroutine populated ahead"
    );

    // Each batch is as large as what the class has carved so far (1, 2,
    // 4, .. 32 slots): after 40 coroutines the top pages of slots 40 to 63
    // (the first region's last) are resident already.
    let (hs, _, tx) = park(39, size);
    for k in 40..64 {
        let top = tops[0] + k * slot;
        assert!(resident(top), "top page of slot {k} is not resident");
    }
    wake_all(hs, &tx);
    wake_all(hs1, &tx1);

    // Given back and reused: 1024 idle stacks keep their memory (the
    // default cache), the 200 coldest give it back when the thread is
    // next idle.
    let n = 1224;
    let (hs, tops, tx) = park(n, size);
    assert!(tops.iter().all(|&t| resident(t)));
    wake_all(hs, &tx);
    msleep(now() + 1).unwrap();
    let cold: Vec<usize> = tops.iter().copied().filter(|&t| !resident(t)).collect();
    assert_eq!(cold.len(), 200, "idle stacks that gave their memory back");

    // The 1024 with memory come back first; the next `go` takes one of the
    // 200 and makes a batch of 64 of them resident with one call.
    let (hs, _, tx) = park(1025, size);
    let still_cold = cold.iter().filter(|&&t| !resident(t)).count();
    assert_eq!(still_cold, 200 - 64, "cold stacks left after one reuse");
    wake_all(hs, &tx);
}
