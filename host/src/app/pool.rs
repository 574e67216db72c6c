//! The worker pool that runs every app's actor: a fixed number of threads (by default
//! one per CPU), not one thread per app, so that a node with ten thousand apps has a
//! few threads, not ten thousand.
//!
//! An actor is a task on the pool (futures' thread pool: plain threads, apart from the
//! runtime of the sockets, so that a hook's blocking WASI calls may wait as on any
//! thread): it wakes when its queue gets an input and runs on whichever worker is
//! free, so one app's inputs are still handled one at a time and in order. A hook is a
//! synchronous call into WebAssembly: while it runs (at most until its deadline) it
//! holds its worker, and the other workers serve the apps waiting behind it. Fairness
//! between busy apps: an actor that has handled [`FAIR_SHARE`] inputs in a row goes
//! to the back of the pool's queue ([`yield_now`]).
//!
//! The workers run in the batch scheduling class (see `sched`): a woken worker does
//! not preempt the socket thread that woke it.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use futures_executor::ThreadPool;

/// Inputs an actor handles in a row before it lets the other apps have its worker.
pub(crate) const FAIR_SHARE: usize = 64;

static POOL: OnceLock<ThreadPool> = OnceLock::new();

/// The number of workers the pool starts with when none is configured: one per CPU.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Starts the pool with `workers` threads (0: one per CPU) if it is not running yet;
/// returns how many it has (a pool, once started, keeps its size for the process's
/// life).
///
/// # Errors
/// The OS refused the threads.
pub(crate) fn start(workers: usize) -> std::io::Result<usize> {
    static SIZE: OnceLock<usize> = OnceLock::new();
    if POOL.get().is_none() {
        let workers = if workers == 0 {
            default_workers()
        } else {
            workers
        };
        let pool = ThreadPool::builder()
            .pool_size(workers)
            .name_prefix("wsgate-apps-")
            .after_start(|_| super::sched::batch_class_for_this_thread())
            .create()?;
        // Another gateway of this process may have started one meanwhile: it wins.
        if POOL.set(pool).is_ok() {
            let _ = SIZE.set(workers);
        }
    }
    Ok(SIZE.get().copied().unwrap_or(0))
}

/// Runs `actor` on the pool (started with one worker per CPU if it was not).
///
/// # Errors
/// The pool could not be started.
pub(crate) fn spawn<F>(actor: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    start(0)?;
    if let Some(pool) = POOL.get() {
        pool.spawn_ok(actor);
    }
    Ok(())
}

/// Lets the pool's other tasks run before this one goes on.
pub(crate) fn yield_now() -> impl Future<Output = ()> {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false)
}
