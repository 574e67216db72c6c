//! Bridges the generated `Guest` trait (static functions) to a [`Plugin`] value kept
//! in a thread-local slot of the plugin crate (see [`export!`](crate::export)).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::thread::LocalKey;

use crate::bindings::{wit, wit_handler};
use crate::event::ConnectionId;
use crate::plugin::Plugin;

/// The plugin value of one component instance; implemented by [`export!`](crate::export).
pub trait Instance {
    /// The plugin type.
    type Plugin: Plugin;
    /// Runs `f` on the instance's plugin value, creating it on first use.
    fn with<R>(f: impl FnOnce(&mut Self::Plugin) -> R) -> R;
}

/// Runs `f` on the plugin in `slot`, creating it with [`Default`] first if needed.
pub fn with_instance<P: Plugin, R>(
    slot: &'static LocalKey<RefCell<Option<P>>>,
    f: impl FnOnce(&mut P) -> R,
) -> R {
    slot.with(|cell| {
        let mut plugin = cell.borrow_mut();
        f(plugin.get_or_insert_with(P::default))
    })
}

/// Implements the generated `Guest` trait for the instance `I`.
pub struct Adapter<I>(PhantomData<I>);

fn lower(commands: Vec<crate::Command>) -> Vec<wit::Command> {
    commands.into_iter().map(Into::into).collect()
}

impl<I: Instance> wit_handler::Guest for Adapter<I> {
    fn on_accept(conn: u64, request: wit::Request) -> wit::AcceptDecision {
        I::with(|p| p.on_accept(ConnectionId(conn), request.into())).into()
    }

    fn on_connect(conn: u64) -> Vec<wit::Command> {
        lower(I::with(|p| p.on_connect(ConnectionId(conn))))
    }

    fn on_message(conn: u64, text: String) -> Vec<wit::Command> {
        lower(I::with(|p| p.on_message(ConnectionId(conn), text)))
    }

    fn on_binary(conn: u64, data: Vec<u8>) -> Vec<wit::Command> {
        lower(I::with(|p| p.on_binary(ConnectionId(conn), data)))
    }

    fn on_close(conn: u64, code: u16, reason: String) -> Vec<wit::Command> {
        lower(I::with(|p| p.on_close(ConnectionId(conn), code, reason)))
    }

    fn on_error(conn: u64, error: wit::ConnectionError) -> Vec<wit::Command> {
        lower(I::with(|p| p.on_error(ConnectionId(conn), error.into())))
    }

    fn snapshot() -> Vec<u8> {
        I::with(|p| p.snapshot())
    }

    fn restore(state: Vec<u8>) -> Result<(), String> {
        I::with(|p| p.restore(&state))
    }
}
