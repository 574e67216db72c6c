//! The [`Plugin`] trait: one method per hook.

use crate::accept::{Accept, Request};
use crate::command::Command;
use crate::event::{Conn, ConnectionError, ConnectionId};

/// The handler of one app. The gateway creates it with [`Default`] and hands it one
/// event at a time, in the order the events happened, so `&mut self` state needs no
/// locks. Every hook has a default that does nothing (and
/// [`on_accept`](Plugin::on_accept) lets everyone in).
///
/// What the gateway holds (rooms, each connection's user and attachment, timers)
/// survives hot reloads and traps; what the plugin keeps in `self` survives a hot
/// reload only through [`snapshot`](Plugin::snapshot) and [`restore`](Plugin::restore).
///
/// A panic in a hook ends this instance: the gateway closes the connection whose
/// event caused it with 1011 and starts a fresh instance from [`Default`].
pub trait Plugin: Default {
    /// A client asks to connect: look at its request (headers, query, subprotocols)
    /// and answer [`Accept::allow`] (naming its user, attachment and rooms if you
    /// like) or [`Accept::deny`]. Runs before the HTTP 101 answer; `conn` is the id
    /// the connection will get.
    fn on_accept(&mut self, conn: ConnectionId, request: Request) -> Accept {
        let _ = (conn, request);
        Accept::allow()
    }

    /// `conn` is open.
    fn on_connect(&mut self, conn: Conn) -> Vec<Command> {
        let _ = conn;
        Vec::new()
    }

    /// A text message arrived from `conn`.
    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        let _ = (conn, text);
        Vec::new()
    }

    /// A binary message arrived from `conn`.
    fn on_binary(&mut self, conn: Conn, data: Vec<u8>) -> Vec<Command> {
        let _ = (conn, data);
        Vec::new()
    }

    /// `conn` closed with `code` and `reason` (1006 if the transport dropped). Runs
    /// exactly once per connection; `conn` has left its rooms and can no longer be
    /// sent to, but its user and attachment are still there.
    fn on_close(&mut self, conn: Conn, code: u16, reason: String) -> Vec<Command> {
        let _ = (conn, code, reason);
        Vec::new()
    }

    /// Something went wrong on `conn`; [`on_close`](Plugin::on_close) follows.
    fn on_error(&mut self, conn: Conn, error: ConnectionError) -> Vec<Command> {
        let _ = (conn, error);
        Vec::new()
    }

    /// Timer `key` (set with [`Command::set_timer`] or [`Command::repeat_timer`]) is
    /// due; `data` is what it was set with.
    fn on_timer(&mut self, key: String, data: Vec<u8>) -> Vec<Command> {
        let _ = (key, data);
        Vec::new()
    }

    /// A backend sent the app `payload` under `name` through the gateway's server API.
    fn on_backend(&mut self, name: String, payload: Vec<u8>) -> Vec<Command> {
        let _ = (name, payload);
        Vec::new()
    }

    /// Hot reload: the state to hand to the next version of the plugin. Stateless
    /// plugins keep the default (nothing); serde state is one line with
    /// [`serde_state!`](crate::serde_state).
    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Hot reload: take over what the previous version's [`snapshot`](Plugin::snapshot)
    /// returned. An error refuses the new version; the old one keeps serving.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
}
