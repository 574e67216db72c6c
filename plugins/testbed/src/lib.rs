//! Testbed: a plugin for the gateway's integration tests, driven by text commands.
//!
//! Handshake (`on-accept`), from the query string:
//! - `deny=STATUS` → deny with that HTTP status and the reason `denied by testbed`;
//! - `choose=NAME` → select subprotocol NAME (even one the client did not offer);
//! - otherwise the first offered subprotocol is selected;
//! - `user=NAME`, `room=ROOM` (repeatable), `attach=TEXT` → the connection's user,
//!   first rooms and attachment.
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
//! - `sleep MS` → sleep MS milliseconds, then answer `slept` (the app is busy
//!   meanwhile, so that other messages wait for it, and go together in one call);
//! - `poison` → the next `snapshot` returns `trap-in-restore`, which makes the
//!   `restore` of the next version (a testbed too) panic;
//! - `join ROOM` / `leave ROOM` / `join-many N` (rooms `r0`…) → rooms;
//! - `publish ROOM TEXT…` / `publish-others ROOM TEXT…` → to the room (but the sender);
//! - `rooms` / `members ROOM` / `room-size ROOM` / `info` → the host's answer, as JSON;
//! - `attach TEXT…` / `attach-bytes N` → set the sender's attachment;
//! - `me` → the sender as the gateway hands it: `{"id":…,"user":…,"attachment":…}`;
//! - `send-user USER TEXT…` / `close-user USER CODE REASON…` → to a user;
//! - `timer KEY MS [REPEAT_MS]` → a timer that sends `timer KEY` to the sender when due;
//!   `timer-panic KEY MS` → one whose hook panics; `cancel KEY` → cancel it.
//!
//! State (`snapshot`/`restore`): the hook log, as JSON. `restore` refuses state that
//! is not a testbed's (for example the chat's).
//!
//! A backend event (server API) is broadcast as `backend NAME PAYLOAD`. Binary
//! messages are broadcast to every other connection. Every `on-close` is also
//! logged, as `testbed on-close CONN CODE` (the command-line tests read it).

use std::collections::HashMap;

use wsgate_plugin::{Accept, Command, Conn, ConnectionError, ConnectionId, Plugin, Request, host};

/// The testbed's memory of what happened.
#[derive(Default)]
pub struct Testbed {
    events: Vec<serde_json::Value>,
    requests: HashMap<ConnectionId, serde_json::Value>,
    poisoned: bool,
}

/// The snapshot that makes `restore` trap.
const POISON: &[u8] = b"trap-in-restore";

/// Every value of query parameter `name`.
fn query_values(request: &Request, name: &str) -> Vec<String> {
    request
        .query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .collect()
}

/// The verbs about what the gateway holds (rooms, users, attachments, timers).
fn host_verb(conn: &Conn, verb: &str, rest: &str) -> Option<Vec<Command>> {
    let (first, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let json = |v: serde_json::Value| vec![Command::send(conn, v.to_string())];
    Some(match verb {
        "join" => vec![Command::join(conn, rest)],
        "leave" => vec![Command::leave(conn, rest)],
        "join-many" => (0..rest.parse::<usize>().unwrap_or(0))
            .map(|n| Command::join(conn, format!("r{n}")))
            .collect(),
        "publish" => vec![Command::publish(first, tail)],
        "publish-others" => vec![Command::publish_except(first, tail, conn)],
        "rooms" => json(serde_json::json!(host::rooms_of(conn))),
        "members" => {
            let mut ids: Vec<u64> = host::room_members(rest).iter().map(|c| c.0).collect();
            ids.sort_unstable();
            json(serde_json::json!(ids))
        }
        "room-size" => json(serde_json::json!(host::room_size(rest))),
        "info" => {
            let info = host::connection_info(conn);
            json(serde_json::json!(info.map(|i| serde_json::json!({
                "path": i.path,
                "query": i.query,
                "remote_addr": i.remote_addr,
                "subprotocol": i.subprotocol,
                "user": i.user,
                "attachment": String::from_utf8_lossy(&i.attachment),
                "connected_at_ms": i.connected_at_ms,
                "buffered_bytes": i.buffered_bytes,
                "open": i.open,
            }))))
        }
        "attach" => vec![Command::set_attachment(conn, rest.as_bytes().to_vec())],
        "attach-bytes" => vec![Command::set_attachment(
            conn,
            vec![b'a'; rest.parse().unwrap_or(0)],
        )],
        "me" => json(serde_json::json!({
            "id": conn.id.0,
            "user": conn.user,
            "attachment": String::from_utf8_lossy(&conn.attachment),
        })),
        "send-user" => vec![Command::send_user(first, tail)],
        "close-user" => {
            let (code, reason) = tail.split_once(' ').unwrap_or((tail, ""));
            vec![Command::close_user(
                first,
                code.parse().unwrap_or(0),
                reason,
            )]
        }
        "timer" => {
            let mut args = rest.split_whitespace();
            let key = args.next().unwrap_or("t");
            let ms = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
            let data = conn.id.0.to_string().into_bytes();
            match args.next().and_then(|a| a.parse().ok()) {
                Some(every) => vec![Command::SetTimer {
                    key: key.to_owned(),
                    delay_ms: ms,
                    repeat_ms: Some(every),
                    data,
                }],
                None => vec![Command::set_timer(key, ms, data)],
            }
        }
        "timer-panic" => {
            let ms = tail.parse().unwrap_or(10);
            vec![Command::set_timer(
                first,
                ms,
                format!("panic {}", conn.id.0),
            )]
        }
        "cancel" => vec![Command::cancel_timer(rest)],
        _ => return None,
    })
}

impl Testbed {
    fn decide(&mut self, conn: ConnectionId, request: &Request) -> Accept {
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

    fn message(&mut self, conn: ConnectionId, verb: &str, rest: &str, text: &str) -> Vec<Command> {
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
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_millis(rest.parse().unwrap_or(0)));
                vec![Command::send(conn, "slept")]
            }
            "poison" => {
                self.poisoned = true;
                vec![Command::send(conn, "poisoned")]
            }
            _ => vec![Command::send(conn, text)],
        }
    }
}

impl Plugin for Testbed {
    fn on_accept(&mut self, conn: ConnectionId, request: Request) -> Accept {
        let mut answer = self.decide(conn, &request);
        if let Some(user) = request.query_param("user") {
            answer = answer.user(user);
        }
        for room in query_values(&request, "room") {
            answer = answer.join(room);
        }
        if let Some(text) = request.query_param("attach") {
            answer = answer.attachment(text.into_bytes());
        }
        answer
    }

    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        let (verb, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        if let Some(commands) = host_verb(&conn, verb, rest) {
            return commands;
        }
        self.message(conn.id, verb, rest, &text)
    }

    fn on_timer(&mut self, key: String, data: Vec<u8>) -> Vec<Command> {
        let data = String::from_utf8_lossy(&data).into_owned();
        #[allow(clippy::panic, reason = "the point: a timer whose hook traps")]
        if let Some(conn) = data.strip_prefix("panic ") {
            panic!("testbed timer {key} for {conn} panics");
        }
        let to = ConnectionId(data.parse().unwrap_or(0));
        vec![Command::send(to, format!("timer {key}"))]
    }

    fn on_backend(&mut self, name: String, payload: Vec<u8>) -> Vec<Command> {
        let payload = String::from_utf8_lossy(&payload);
        vec![Command::broadcast(format!("backend {name} {payload}"))]
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

    fn on_binary(&mut self, conn: Conn, data: Vec<u8>) -> Vec<Command> {
        vec![Command::broadcast_binary_except(data, &conn)]
    }

    fn on_close(&mut self, conn: Conn, code: u16, reason: String) -> Vec<Command> {
        wsgate_plugin::log::info(&format!("testbed on-close {} {code}", conn.id.0));
        self.requests.remove(&conn.id);
        let mut event =
            serde_json::json!({"hook": "close", "conn": conn.id.0, "code": code, "reason": reason});
        // What the host held of it, when there was something.
        if let Some(user) = &conn.user {
            event["user"] = serde_json::json!(user);
        }
        if !conn.attachment.is_empty() {
            event["attachment"] = serde_json::json!(String::from_utf8_lossy(&conn.attachment));
        }
        self.events.push(event);
        Vec::new()
    }

    fn on_error(&mut self, conn: Conn, error: ConnectionError) -> Vec<Command> {
        let kind = format!("{:?}", error.kind);
        self.events
            .push(serde_json::json!({"hook": "error", "conn": conn.id.0, "kind": kind}));
        Vec::new()
    }
}

wsgate_plugin::export!(Testbed);
