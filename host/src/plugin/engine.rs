//! The one wasmtime [`Engine`] of the gateway, its [`Linker`], and the thread that
//! advances the epoch so that a hook that runs too long is interrupted.

use std::path::Path;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::PluginError;
use super::bindings::{v0_1, v0_2};
use super::state::StoreState;

/// How often the epoch advances: the granularity of hook deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Compiles plugins and links their imports; shared by every app.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: std::sync::Arc<Linker<StoreState>>,
    /// Compiled plugins in use, shared by the apps with the same bytes.
    pub(crate) shared: super::shared::SharedCode,
}

impl PluginEngine {
    /// Creates the engine, without a compile cache, and starts its epoch thread
    /// (which ends with the engine).
    ///
    /// # Errors
    /// [`PluginError::Engine`] if wasmtime cannot be set up on this machine.
    pub fn new() -> Result<Self, PluginError> {
        Self::with_cache(None)
    }

    /// Creates the engine; compiled plugins are kept in `cache_dir` (an absolute
    /// path) and a plugin compiled before, with the same bytes and engine settings,
    /// is loaded from there instead of compiled. A cache that cannot be set up is
    /// logged and left out: plugins are then compiled every time.
    ///
    /// # Errors
    /// [`PluginError::Engine`] if wasmtime cannot be set up on this machine.
    pub fn with_cache(cache_dir: Option<&Path>) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        if let Some(dir) = cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            match wasmtime::Cache::new(cache) {
                Ok(cache) => {
                    config.cache(Some(cache));
                    tracing::debug!(dir = %dir.display(), "compiled plugins are cached");
                }
                Err(e) => tracing::warn!(
                    dir = %dir.display(),
                    "no compile cache (plugins are compiled at every start): {e:#}"
                ),
            }
        }
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        v0_1::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        v0_2::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        super::budget::bound_clock_waits(&mut linker)
            .map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        spawn_epoch_ticker(&engine);
        Ok(Self {
            engine,
            linker: std::sync::Arc::new(linker),
            shared: super::shared::SharedCode::default(),
        })
    }

    /// The epoch deadline (in ticks from now) that interrupts a call no sooner than
    /// `timeout` after it starts, and less than two ticks after it.
    ///
    /// The call starts anywhere between two ticks, so the first tick may come at
    /// once: a deadline of `n` ticks fires between `n - 1` and `n` ticks later. One
    /// tick more than `timeout` spans keeps the earliest interrupt at `timeout` (a
    /// deadline of exactly ⌈timeout ÷ tick⌉ once trapped a 3 ms hook under a 5 ms
    /// limit in 11 of 20 calls).
    ///
    /// It runs at every hook call: the arithmetic is 64-bit (a 128-bit division is a
    /// library call).
    pub(crate) fn ticks(timeout: Duration) -> u64 {
        const TICK_MICROS: u64 = EPOCH_TICK.as_micros() as u64;
        let micros = u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX);
        micros.div_ceil(TICK_MICROS).saturating_add(1)
    }
}

fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("wsgate-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the epoch thread; hook time limits are off: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{EPOCH_TICK, PluginEngine};

    /// The earliest a deadline of `ticks` can fire: the first tick may come at once.
    fn earliest(ticks: u64) -> Duration {
        EPOCH_TICK * u32::try_from(ticks - 1).unwrap_or(u32::MAX)
    }

    #[test]
    fn a_deadline_never_fires_before_the_timeout_nor_more_than_a_tick_after() {
        for ms in [1, 2, 4, 5, 6, 10, 99, 100, 101, 60_000] {
            let timeout = Duration::from_millis(ms);
            let ticks = PluginEngine::ticks(timeout);
            assert!(
                earliest(ticks) >= timeout,
                "{ms} ms: {ticks} ticks fire early"
            );
            let latest = EPOCH_TICK * u32::try_from(ticks).unwrap_or(u32::MAX);
            assert!(
                latest < timeout + EPOCH_TICK * 2,
                "{ms} ms: {ticks} ticks fire too late"
            );
        }
    }
}
