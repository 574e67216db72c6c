//! End-to-end tests of the gateway: real TCP sockets, real WebSocket clients
//! (tokio-tungstenite) and raw HTTP, real plugin components built from `plugins/`.
//! Each test is named for the property it proves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod accept;
mod api;
mod batches;
mod chat;
mod close;
mod cluster;
mod echo;
mod http;
mod isolation;
mod js;
mod load;
mod metrics;
mod pool;
mod protocol;
mod relay;
mod reload;
mod replies;
mod rfc6455;
mod rooms;
mod sandbox;
mod startup;
mod stuck;
mod tenants;
mod timers;
