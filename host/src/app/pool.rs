//! The worker pool that runs every app's actor: a fixed number of threads (one per
//! CPU this process may use), not one thread per app, so that a node with ten
//! thousand apps has a few threads, not ten thousand.
//!
//! An actor is a task on the pool (an `async-executor` run by plain threads, apart
//! from the runtime of the sockets, so that a hook's blocking WASI calls may wait as
//! on any thread): it wakes when its queue gets an input and runs on whichever worker
//! is free, so one app's inputs are still handled one at a time and in order.
//! Fairness between busy apps: an actor that has handled [`FAIR_SHARE`] inputs in a
//! row goes to the back of the pool's queue ([`yield_now`]).
//!
//! A hook is a synchronous call into WebAssembly: while it runs (at most until its
//! deadline) it holds its worker, and the other workers serve the apps behind it.
//! When every worker has been held by one actor for [`STALL`] or more (as many apps
//! as workers looping at once), the pool grows by a worker, up to [`MAX_EXTRA`] more
//! than it started with: slow apps never hold the others.
//!
//! The workers run in the batch scheduling class (see `sched`): a woken worker does
//! not preempt the socket thread that woke it.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_executor::Executor;

/// Inputs an actor handles in a row before it lets the other apps have its worker.
pub(crate) const FAIR_SHARE: usize = 64;

/// How long every worker must have been held before the pool grows.
pub(crate) const STALL: Duration = Duration::from_millis(50);

/// Workers the pool may add to those it started with.
pub(crate) const MAX_EXTRA: usize = 16;

/// The pool: its executor, and what each worker is doing.
struct Pool {
    executor: Executor<'static>,
    /// Workers running.
    workers: AtomicUsize,
    /// Per worker slot: when its current task started running (ms since `epoch`,
    /// plus one), or 0 when it is idle.
    busy_since: Vec<AtomicU64>,
    epoch: Instant,
}

static POOL: OnceLock<&'static Pool> = OnceLock::new();

thread_local! {
    /// The slot of the worker this thread is (none off the pool).
    static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

impl Pool {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Starts worker `slot`.
    fn add_worker(&'static self, slot: usize) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name(format!("wsgate-apps-{slot}"))
            .spawn(move || {
                super::sched::batch_class_for_this_thread();
                SLOT.with(|s| s.set(Some(slot)));
                futures_lite::future::block_on(self.executor.run(std::future::pending::<()>()));
            })?;
        self.workers.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Every [`STALL`] / 2: adds a worker when every worker is held.
    fn watch(&'static self) {
        loop {
            std::thread::sleep(STALL / 2);
            let workers = self.workers.load(Ordering::Acquire);
            if workers >= self.busy_since.len() {
                continue;
            }
            let now = self.now_ms();
            let stall = u64::try_from(STALL.as_millis()).unwrap_or(u64::MAX);
            let held = self.busy_since[..workers]
                .iter()
                .map(|since| since.load(Ordering::Acquire))
                .filter(|&since| since != 0 && now.saturating_sub(since - 1) >= stall)
                .count();
            if held == workers {
                match self.add_worker(workers) {
                    Ok(()) => tracing::warn!(
                        workers = workers + 1,
                        "every app worker has been held by one app for {} ms or more (slow hooks): one more worker",
                        STALL.as_millis()
                    ),
                    Err(e) => tracing::warn!("cannot add an app worker: {e}"),
                }
            }
        }
    }
}

/// The pool, started with one worker per CPU this process may use if it was not.
fn pool() -> std::io::Result<&'static Pool> {
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = STARTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(pool) = POOL.get() {
        return Ok(pool);
    }
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let pool: &'static Pool = Box::leak(Box::new(Pool {
        executor: Executor::new(),
        workers: AtomicUsize::new(0),
        busy_since: (0..workers + MAX_EXTRA)
            .map(|_| AtomicU64::new(0))
            .collect(),
        epoch: Instant::now(),
    }));
    for slot in 0..workers {
        pool.add_worker(slot)?;
    }
    std::thread::Builder::new()
        .name("wsgate-apps-watch".into())
        .spawn(move || pool.watch())?;
    let _ = POOL.set(pool);
    Ok(pool)
}

/// The number of workers running now (starting the pool if it was not).
///
/// # Errors
/// The OS refused the pool's threads.
pub fn workers() -> std::io::Result<usize> {
    Ok(pool()?.workers.load(Ordering::Acquire))
}

/// An actor, marking its worker busy while it runs.
struct Tracked(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for Tracked {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let slot = SLOT.with(Cell::get);
        let pool = POOL.get();
        if let (Some(slot), Some(pool)) = (slot, pool) {
            pool.busy_since[slot].store(pool.now_ms() + 1, Ordering::Release);
        }
        let poll = self.0.as_mut().poll(cx);
        if let (Some(slot), Some(pool)) = (slot, pool) {
            pool.busy_since[slot].store(0, Ordering::Release);
        }
        poll
    }
}

/// Runs `actor` on the pool.
///
/// # Errors
/// The pool could not be started.
pub(crate) fn spawn<F>(actor: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    pool()?.executor.spawn(Tracked(Box::pin(actor))).detach();
    Ok(())
}

/// Lets the pool's other tasks run before this one goes on.
pub(crate) use futures_lite::future::yield_now;
