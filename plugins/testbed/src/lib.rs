//! Testbed: a plugin for the gateway's integration tests, driven by text commands.
//!
//! Handshake (`on-accept`), from the query string:
//! - `deny=STATUS` → deny with that HTTP status and the reason `denied by testbed`;
//! - `choose=NAME` → select subprotocol NAME (even one the client did not offer);
//! - otherwise the first offered subprotocol is selected.
//!
//! Messages (`on-message`); anything else is echoed back:
//! - `whoami` → the sender's connection id;
//! - `close CODE REASON…` → close the sender with CODE and REASON;
//! - `send ID TEXT…` → send TEXT to connection ID (which may be of another app);
//! - `broadcast TEXT…` / `broadcast-others TEXT…` → to all / all but the sender;
//! - `request` → the sender's handshake request as JSON (path, query, headers,
//!   remote address, subprotocols);
//! - `events` → a JSON list of the `on-close` and `on-error` calls seen so far;
//! - `panic` → panic (the instance traps);
//! - `poison` → the next `snapshot` returns `trap-in-restore`, which makes the
//!   `restore` of the next version (a testbed too) panic.
//!
//! State (`snapshot`/`restore`): the hook log, as JSON. `restore` refuses state that
//! is not a testbed's (for example the chat's).
//!
//! Binary messages are broadcast to every other connection. Every `on-close` is also
//! logged, as `testbed on-close CONN CODE` (the command-line tests read it).

use std::collections::HashMap;

use wsgate_plugin::{Accept, Command, ConnectionError, ConnectionId, Plugin, Request};

/// The testbed's memory of what happened.
#[derive(Default)]
pub struct Testbed {
    events: Vec<serde_json::Value>,
    requests: HashMap<ConnectionId, serde_json::Value>,
    poisoned: bool,
}

/// The snapshot that makes `restore` trap.
const POISON: &[u8] = b"trap-in-restore";

impl Plugin for Testbed {
    fn on_accept(&mut self, conn: ConnectionId, request: Request) -> Accept {
        let seen = serde_json::json!({
            "path": request.path,
            "query": request.query,
            "headers": request.headers,
            "remote_addr": request.remote_addr,
            "subprotocols": request.subprotocols,
        });
        self.requests.insert(conn, seen);
        if let Some(status) = request.query_param("deny") {
            return Accept::deny(status.parse().unwrap_or(403), "denied by testbed");
        }
        if let Some(choice) = request.query_param("choose") {
            return Accept::allow_subprotocol(choice);
        }
        match request.subprotocols.first() {
            Some(first) => Accept::allow_subprotocol(first.clone()),
            None => Accept::allow(),
        }
    }

    fn on_message(&mut self, conn: ConnectionId, text: String) -> Vec<Command> {
        let (verb, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        match verb {
            "whoami" => vec![Command::send(conn, conn.0.to_string())],
            "close" => {
                let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                vec![Command::close(conn, code.parse().unwrap_or(0), reason)]
            }
            "send" => {
                let (id, text) = rest.split_once(' ').unwrap_or((rest, ""));
                vec![Command::send(ConnectionId(id.parse().unwrap_or(0)), text)]
            }
            "broadcast" => vec![Command::broadcast(rest)],
            "broadcast-others" => vec![Command::broadcast_except(rest, conn)],
            "request" => {
                let seen = self.requests.get(&conn).cloned().unwrap_or_default();
                vec![Command::send(conn, seen.to_string())]
            }
            "events" => vec![Command::send(
                conn,
                serde_json::Value::from(self.events.clone()).to_string(),
            )],
            #[allow(clippy::panic, reason = "the point: a hook that traps")]
            "panic" => panic!("testbed was asked to panic"),
            "poison" => {
                self.poisoned = true;
                vec![Command::send(conn, "poisoned")]
            }
            _ => vec![Command::send(conn, text)],
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        if self.poisoned {
            return POISON.to_vec();
        }
        serde_json::to_vec(&self.events).unwrap_or_default()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        #[allow(clippy::panic, reason = "the point: a restore that traps")]
        if state == POISON {
            panic!("testbed was handed a poisoned snapshot");
        }
        if !state.is_empty() {
            self.events = serde_json::from_slice(state)
                .map_err(|e| format!("not a testbed snapshot: {e}"))?;
        }
        Ok(())
    }

    fn on_binary(&mut self, conn: ConnectionId, data: Vec<u8>) -> Vec<Command> {
        vec![Command::broadcast_binary_except(data, conn)]
    }

    fn on_close(&mut self, conn: ConnectionId, code: u16, reason: String) -> Vec<Command> {
        wsgate_plugin::log::info(&format!("testbed on-close {} {code}", conn.0));
        self.requests.remove(&conn);
        self.events.push(
            serde_json::json!({"hook": "close", "conn": conn.0, "code": code, "reason": reason}),
        );
        Vec::new()
    }

    fn on_error(&mut self, conn: ConnectionId, error: ConnectionError) -> Vec<Command> {
        let kind = format!("{:?}", error.kind);
        self.events
            .push(serde_json::json!({"hook": "error", "conn": conn.0, "kind": kind}));
        Vec::new()
    }
}

wsgate_plugin::export!(Testbed);
