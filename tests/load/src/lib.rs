//! Load generator, native baseline server and benchmark runner for wsgate.
//!
//! - [`client`]: opening client connections from chosen loopback source addresses.
//! - [`echo`], [`broadcast`], [`connect`]: the load generator's modes.
//! - [`baseline`]: the native tokio-tungstenite server the gateway is measured against.
//! - [`raw`]: the raw-TCP ceiling (plain bytes, the same frames).
//! - [`tenants`]: many apps of one plugin on one gateway (start, memory per app, wake).
//! - [`suite`]: the one command that runs every server through every scenario.
//! - [`stats`]: latency histograms and the time window a run measures.
//! - [`procfs`]: a server process's CPU time and memory, from `/proc`.

pub mod baseline;
pub mod broadcast;
pub mod client;
pub mod connect;
pub mod echo;
pub mod procfs;
pub mod raw;
pub mod stats;
pub mod suite;
pub mod tenants;
