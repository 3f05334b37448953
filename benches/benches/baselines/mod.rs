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
