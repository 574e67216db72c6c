//! Bridges the generated `Guest` trait (static functions) to a [`Plugin`] value kept
//! in a thread-local slot of the plugin crate (see [`export!`](crate::export)): the
//! gateway's batches of events become one method call per event, in order, each
//! seeing what the earlier ones' commands changed (see [`batch`](crate::batch)).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::thread::LocalKey;

use crate::batch;
use crate::bindings::{wit, wit_handler, wit_packed};
use crate::event::ConnectionId;
use crate::packed;
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

/// Hands one event to its method.
fn dispatch<P: Plugin>(p: &mut P, event: wit::Event) -> Vec<crate::Command> {
    match event {
        wit::Event::Connect(c) => p.on_connect(c.into()),
        wit::Event::Message(m) => p.on_message(m.conn.into(), m.text),
        wit::Event::Binary(b) => p.on_binary(b.conn.into(), b.data),
        wit::Event::Error(e) => p.on_error(e.conn.into(), e.error.into()),
        wit::Event::Close(c) => p.on_close(c.conn.into(), c.code, c.reason),
        wit::Event::Timer(t) => p.on_timer(t.key, t.data),
        wit::Event::Backend(b) => p.on_backend(b.name, b.payload),
    }
}

impl<I: Instance> wit_handler::Guest for Adapter<I> {
    fn on_accept(conn: u64, request: wit::Request) -> wit::AcceptDecision {
        I::with(|p| p.on_accept(ConnectionId(conn), request.into())).into()
    }

    fn handle(events: Vec<wit::Event>) -> Vec<wit::Command> {
        I::with(|p| {
            // Each event's commands go straight into the call's answer (no list of
            // their own in between).
            let lower =
                |commands: Vec<crate::Command>| commands.into_iter().map(wit::Command::from);
            if events.len() > 1 {
                // Several waiting messages: each sees what the earlier ones' commands
                // changed (see `batch`).
                return batch::run::<batch::Imports, _>(events, |event| lower(dispatch(p, event)));
            }
            events
                .into_iter()
                .next()
                .map(|event| lower(dispatch(p, event)).collect())
                .unwrap_or_default()
        })
    }

    fn snapshot() -> Vec<u8> {
        I::with(|p| p.snapshot())
    }

    fn restore(state: Vec<u8>) -> Result<(), String> {
        I::with(|p| p.restore(&state))
    }
}

impl<I: Instance> wit_packed::Guest for Adapter<I> {
    fn handle_packed(events: Vec<u8>) -> wit_packed::PackedAnswer {
        let events = packed::decode(&events);
        packed::encode(<Self as wit_handler::Guest>::handle(events))
    }
}
