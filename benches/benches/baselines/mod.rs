//! The other runtimes the benchmarks measure dill against, set up the same
//! way everywhere: one thread, as dill.

/// Runs `f` in a may coroutine on may's scheduler, configured with one
/// worker thread, and returns its result.
#[allow(dead_code)]
pub fn on_may<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    static CONFIG: std::sync::Once = std::sync::Once::new();
    CONFIG.call_once(|| {
        may::config().set_workers(1);
    });
    may::go!(f).join().unwrap()
}

/// A single-threaded tokio runtime.
#[allow(dead_code)]
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Inside [`on_may`]: `iters` 1-byte round trips from `a` to an echoing may
/// coroutine holding `b`, timed on `a`'s side (the same loop for every
/// kind of may stream).
#[allow(dead_code)]
pub fn may_pingpong<S>(mut a: S, mut b: S, iters: u64) -> std::time::Duration
where
    S: std::io::Read + std::io::Write + Send + 'static,
{
    let echo = may::go!(move || {
        let mut buf = [0u8; 1];
        for _ in 0..iters {
            b.read_exact(&mut buf).unwrap();
            b.write_all(&buf).unwrap();
        }
    });
    let mut buf = [0u8; 1];
    let start = std::time::Instant::now();
    for _ in 0..iters {
        a.write_all(b"x").unwrap();
        a.read_exact(&mut buf).unwrap();
    }
    let t = start.elapsed();
    echo.join().unwrap();
    t
}
