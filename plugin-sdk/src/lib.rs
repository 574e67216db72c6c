//! Write [wsgate](https://example.invalid/wsgate) plugins in Rust.
//!
//! A plugin is a type that implements [`Plugin`]: every hook has a default, so a plugin
//! overrides only the events it cares about and answers each with a list of
//! [`Command`]s that the gateway carries out. [`export!`] turns the type into a
//! WebAssembly component (build it with `cargo build --target wasm32-wasip2`).
//!
//! ```
//! use wsgate_plugin::{Command, Conn, Plugin};
//!
//! /// Sends every message back to whoever sent it.
//! #[derive(Default)]
//! pub struct Echo;
//!
//! impl Plugin for Echo {
//!     fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
//!         vec![Command::send(&conn, text)]
//!     }
//!     fn on_binary(&mut self, conn: Conn, data: Vec<u8>) -> Vec<Command> {
//!         vec![Command::send_binary(&conn, data)]
//!     }
//! }
//!
//! wsgate_plugin::export!(Echo);
//! # fn main() {
//! # let mut echo = Echo;
//! # assert_eq!(echo.on_message(Conn::new(7), "hi".into()), [Command::send(Conn::new(7).id, "hi")]);
//! # }
//! ```
//!
//! What the gateway holds for the app outlives every plugin instance: rooms
//! ([`Command::join`], [`Command::publish`]), each connection's user
//! ([`Accept::user`]) and attachment ([`Command::set_attachment`], handed back in
//! every [`Conn`]), and timers ([`Command::set_timer`], [`Plugin::on_timer`]). The
//! [`host`] reads (room sizes, members, connection info) answer from it at once.
//!
//! Plugins test natively: call the hooks on a value and compare the commands, no
//! gateway needed (`cargo test -p your-plugin`); [`testing`] stands in for the
//! gateway's state behind the [`host`] reads.
//!
//! # Layout
//! - [`plugin`]: the [`Plugin`] trait, one method per hook.
//! - [`command`]: [`Command`], what a hook asks the gateway to do, and [`close_code`].
//! - [`accept`]: [`Accept`] and [`Request`], the handshake hook's input and answer.
//! - [`event`]: [`Conn`], [`ConnectionId`] and [`ConnectionError`], what events carry.
//! - [`host`]: reads of the gateway's state (rooms, users, connections); `testing`,
//!   its stand-in for native tests.
//! - [`log`]: write to the gateway's log.
//! - [`alloc`]: [`alloc::SmallBlocks`], the global allocator of a wasm build (the
//!   `allocator` feature, on by default), which reuses small blocks.
//! - [`state`]: [`SerdeState`], snapshot/restore in one line for serde state.
//! - `export!`: the macro that makes a type the component's entry point.

extern crate self as wsgate_plugin;

pub mod accept;
pub mod alloc;
pub mod command;
pub mod event;
pub mod host;
pub mod log;
pub mod plugin;
#[cfg(feature = "serde")]
pub mod state;

mod adapter;
mod batch;
mod bindings;
mod packed;

pub use accept::{Accept, Request};
pub use command::{Command, Payload, close_code};
pub use event::{Conn, ConnectionError, ConnectionId, ErrorKind};
#[cfg(not(target_arch = "wasm32"))]
pub use host::testing;
pub use plugin::Plugin;

/// Small blocks reused (see [`alloc`]): the global allocator of a wasm build, unless
/// the `allocator` feature is off.
#[cfg(all(
    feature = "allocator",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
#[global_allocator]
static GLOBAL: alloc::SmallBlocks = alloc::SmallBlocks::new();

/// Implementation details used by [`export!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::adapter::{Adapter, Instance, with_instance};
    pub use crate::bindings::bindings;
    pub use wit_bindgen;
}

/// Makes a [`Plugin`] type the entry point of the component.
///
/// Use it once per plugin crate, at the top level. The type must implement
/// [`Default`]: the gateway creates the plugin with it (and again after a trap).
///
/// ```
/// #[derive(Default)]
/// struct Quiet;
/// impl wsgate_plugin::Plugin for Quiet {}
/// wsgate_plugin::export!(Quiet);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        #[allow(unsafe_code, missing_docs, unreachable_pub)]
        const _: () = {
            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<::std::option::Option<$plugin>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            struct WsgateInstance;
            impl $crate::__private::Instance for WsgateInstance {
                type Plugin = $plugin;
                fn with<R>(f: impl ::std::ops::FnOnce(&mut $plugin) -> R) -> R {
                    $crate::__private::with_instance(&STATE, f)
                }
            }
            type WsgateAdapter = $crate::__private::Adapter<WsgateInstance>;
            // Component exports only exist on wasm: a native build (unit tests) has none.
            #[cfg(target_arch = "wasm32")]
            $crate::__private::bindings::__export_plugin!(
                WsgateAdapter with_types_in $crate::__private::bindings
            );
        };
    };
}
