//! The tokio runtimes the command line builds around library calls, each with every driver
//! (I/O, time) enabled.

use tokio::runtime::{Builder, Runtime};

/// One worker per core: the server and the store commands.
pub fn multi_thread() -> std::io::Result<Runtime> {
    Builder::new_multi_thread().enable_all().build()
}

/// A multi-thread runtime with one worker. Unlike a current-thread runtime, its worker runs
/// spawned tasks, I/O and timers while no thread is inside `Runtime::block_on`, so
/// `Handle::block_on` works from any thread (the blocking image pipelines of `crypt` and
/// `scan`).
pub fn single_worker() -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
}

/// Runs on the calling thread only: client commands that wait on one request at a time.
pub fn current_thread() -> std::io::Result<Runtime> {
    Builder::new_current_thread().enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_runs_a_future() {
        for rt in [multi_thread(), single_worker(), current_thread()] {
            let rt = rt.unwrap();
            let n = rt.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                tokio::spawn(async { 41 }).await.unwrap() + 1
            });
            assert_eq!(n, 42);
        }
    }
}
