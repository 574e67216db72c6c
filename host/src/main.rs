//! The `wsgate` command: `wsgate serve [--config FILE] [--listen ADDR] [--no-watch]
//! [--redis URL] [--node NAME]`
//! `wsgate check [--config FILE]`, `wsgate dev [--config FILE] [--listen ADDR]` and
//! `wsgate new NAME [--sdk DIR]`, with
//! `--log-format pretty|json`.

/// jemalloc, with its background thread purging freed pages (10 s decay): with
/// glibc's malloc (and with mimalloc) the memory of 20,000 closed connections stayed
/// resident (~150 MiB) for good; here it goes back within seconds, at the same speed
/// and memory per connection (README, Performance). `_RJEM_MALLOC_CONF` tunes it.
#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use wsgate::Config;
use wsgate::server::{ServeOptions, shutdown_signal};

/// A WebSocket gateway whose application logic runs as WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// How log lines look: `pretty` (for people) or `json` (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The log line format.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

/// A new plugin's language (`wsgate new --lang`).
#[derive(Clone, Copy, clap::ValueEnum)]
enum Lang {
    Rust,
    #[value(alias = "javascript")]
    Js,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the apps of a config file (without one: the built-in demo, chat at /ws
    /// with its page at /, echo at /echo, relay at /relay and the dashboard at /dashboard
    /// on 127.0.0.1:8000).
    Serve {
        /// The config file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Listen on this address instead of the config's `listen` (an IP address
        /// and port, or localhost:PORT).
        #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
        listen: Option<SocketAddr>,
        /// Do not watch plugin files for new versions (SIGHUP still reloads the
        /// config and the plugins that changed).
        #[arg(long)]
        no_watch: bool,
        /// Join the cluster on this Redis (sets `[cluster] redis`), for example
        /// redis://127.0.0.1:6379.
        #[arg(long, value_name = "URL")]
        redis: Option<String>,
        /// This node's name in the cluster (sets `[cluster] node`; default: the
        /// hostname).
        #[arg(long, value_name = "NAME")]
        node: Option<String>,
    },
    /// Build the plugin crates of a config, serve it, and build again at every source
    /// change (hot reload picks each new build up; a failed build is shown and the
    /// previous version keeps serving).
    Dev {
        /// The config file (default: wsgate.toml in this folder, as `wsgate new`
        /// writes it).
        #[arg(long, value_name = "FILE", default_value = "wsgate.toml")]
        config: PathBuf,
        /// Listen on this address instead of the config's `listen`.
        #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
        listen: Option<SocketAddr>,
    },
    /// Print a config file: `--default` writes every key at its default, with what
    /// it does (`wsgate config --default > wsgate.toml` to start from).
    Config {
        /// Every key at its default.
        #[arg(long, required = true)]
        default: bool,
    },
    /// Create a plugin crate NAME in the current folder: the SDK dependency, a
    /// ten-line handler with a unit test, and a config that serves it.
    New {
        /// The plugin's (crate's or npm package's) name.
        name: String,
        /// The plugin's language: `rust` (a crate) or `js` (an npm package built with
        /// componentize-qjs; needs Node.js and npm).
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
        /// The wsgate-plugin SDK folder to depend on (`plugin-sdk`, holding the Rust
        /// crate and `js/`; default: the one this gateway was built with).
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// Load the config and every app's plugin without serving; print one line per
    /// app and exit 0 if every app would start, 1 otherwise.
    Check {
        /// The config file (TOML); without it, the built-in demo.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `--listen`: as `listen` in a config.
fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    wsgate::config::parse_listen(text).ok_or_else(|| {
        format!("{text:?} is not an IP address and port such as 127.0.0.1:8000 (or localhost:8000)")
    })
}

/// `error` and its causes on one line, each cause only where the message before
/// does not say it already (most of this crate's errors include their source).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Pretty => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
    match cli.command {
        Command::Check { config } => check(config),
        Command::Config { default: _ } => {
            print!("{}", wsgate::config::commented_default());
            Ok(())
        }
        Command::Dev { config, listen } => {
            let loaded = Config::load(&config)
                .with_context(|| "wsgate dev serves a config: pass --config FILE, or run it in a folder `wsgate new` made")?;
            let projects = wsgate::dev::plugin_projects(&loaded);
            if projects.is_empty() {
                tracing::warn!(
                    "no plugin of this config is a crate's build (CRATE/target/wasm32-wasip2/release/NAME.wasm) \
                     or an npm package's (beside a package.json with a build script): serving without building"
                );
            }
            wsgate::dev::build_all(&loaded, &projects)?;
            wsgate::dev::rebuild_on_change(projects)?;
            serve(
                Some(config),
                ServeOptions {
                    config_path: None,
                    listen,
                    watch: true,
                    redis: None,
                    node: None,
                },
            )
        }
        Command::New { name, lang, sdk } => {
            let sdk = match sdk {
                Some(dir) => wsgate::scaffold::Sdk::at(&dir)?,
                None => wsgate::scaffold::Sdk::default_for_this_build(),
            };
            let lang = match lang {
                Lang::Rust => wsgate::scaffold::Lang::Rust,
                Lang::Js => wsgate::scaffold::Lang::JavaScript,
            };
            let dir = wsgate::scaffold::new_plugin(Path::new("."), &name, &sdk, lang)?;
            match lang {
                wsgate::scaffold::Lang::Rust => {
                    println!(
                        "created {}, a crate of its own; work on it with",
                        dir.display()
                    );
                    println!("  cd {name} && wsgate dev");
                }
                wsgate::scaffold::Lang::JavaScript => {
                    println!(
                        "created {}, an npm package of its own; work on it with",
                        dir.display()
                    );
                    println!("  cd {name} && npm install && wsgate dev");
                }
            }
            println!(
                "(builds it, serves it on 127.0.0.1:8000, and rebuilds and reloads it at every change)"
            );
            if let Some(repo) = std::env::current_dir().ok().and_then(|cwd| {
                cwd.ancestors()
                    .find(|a| a.join(".git").exists())
                    .map(Path::to_path_buf)
            }) {
                println!(
                    "note: it is inside the git repository at {}: move it out, or add it there",
                    repo.display()
                );
            }
            Ok(())
        }
        Command::Serve {
            config,
            listen,
            no_watch,
            redis,
            node,
        } => serve(
            config,
            ServeOptions {
                config_path: None,
                listen,
                watch: !no_watch,
                redis,
                node,
            },
        ),
    }
}

/// `wsgate check`: one line per app on standard output.
fn check(path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(path)?;
    let checks = wsgate::check::check(&config)?;
    let mut failed = 0;
    for app in &checks {
        match &app.result {
            Ok(took) => println!(
                "ok     {}  {}  {}  (compiled in {:.0} ms)",
                app.app,
                app.route,
                app.plugin,
                took.as_secs_f64() * 1e3
            ),
            Err(e) => {
                failed += 1;
                println!("error  {}  {}  {}: {e}", app.app, app.route, app.plugin);
            }
        }
    }
    for address in wsgate::check::addresses(&config) {
        match address.result {
            Ok(()) => println!("ok     {}  {}  (free)", address.key, address.addr),
            // A gateway serving this config holds its addresses: a warning, not an
            // error (checking a config before a SIGHUP reload is this command's job).
            Err(e) => println!(
                "warn   {}  {}: {e}; another process listens there (if it is this gateway, a \
                 SIGHUP reload keeps it; else stop it or change `{}`)",
                address.key, address.addr, address.key
            ),
        }
    }
    let mut redis_down = false;
    if let Some((redis, result)) = wsgate::check::cluster(&config) {
        match result {
            Ok(()) => println!("ok     cluster  {redis}  (answers)"),
            Err(e) => {
                redis_down = true;
                println!("error  cluster  {redis}: {e}; the node would not start");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} apps cannot start", checks.len());
    }
    if redis_down {
        anyhow::bail!("the cluster's Redis does not answer: the node would not start");
    }
    Ok(())
}

fn load(path: Option<PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(Config::load(&path)?),
        None => demo(),
    }
}

#[cfg(feature = "demo")]
fn demo() -> anyhow::Result<Config> {
    tracing::info!(
        "no --config given: using the built-in demo (chat at /ws and its page at /, echo at /echo, relay at /relay, dashboard at /dashboard)"
    );
    let mut demo = Config::demo();
    demo.server.api = wsgate::config::ApiSettings::from_env().map_err(anyhow::Error::msg)?;
    if demo.server.api.is_some() {
        tracing::info!(
            "the server API is on at /api/v1 ({} is set)",
            wsgate::config::API_TOKEN_ENV
        );
    }
    Ok(demo)
}

#[cfg(not(feature = "demo"))]
fn demo() -> anyhow::Result<Config> {
    anyhow::bail!("this build has no built-in demo (feature `demo` is off): pass --config FILE")
}

fn serve(config_path: Option<PathBuf>, options: ServeOptions) -> anyhow::Result<()> {
    let config = load(config_path.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let options = ServeOptions {
        config_path,
        ..options
    };
    let served = runtime.block_on(wsgate::server::run(config, options, shutdown_signal()));
    // Nothing left may hold the exit up (a config reload still compiling, say).
    runtime.shutdown_timeout(std::time::Duration::from_millis(250));
    Ok(served?)
}
