//! The chat room: its protocol and state. Shared, as source, by the `chat` plugin and
//! its test variant `chat-v2`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wsgate_plugin::{Command, ConnectionId, Plugin};

/// Longest accepted user name, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Longest accepted message text, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The name of users who have not joined.
pub const ANONYMOUS: &str = "Anonymous";

/// The chat room: who has joined under which name. Survives hot reloads.
#[derive(Default, Serialize, Deserialize)]
pub struct Chat {
    pub(crate) users: BTreeMap<ConnectionId, String>,
    /// Open connections, joined or not.
    #[serde(default)]
    pub(crate) connected: usize,
}

/// What a client may send as a JSON object.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Incoming {
    Join { username: String },
    Message { text: String },
    Who {},
}

/// What the room sends.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Outgoing<'a> {
    Welcome {
        message: &'a str,
    },
    Join {
        user: &'a str,
    },
    Message {
        user: &'a str,
        text: &'a str,
    },
    Leave {
        user: &'a str,
    },
    Error {
        message: &'a str,
    },
    Users {
        users: Vec<&'a str>,
        anonymous: usize,
    },
}

impl Outgoing<'_> {
    fn to_json(&self) -> String {
        // Serializing these plain structs of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a message from a client asks for.
enum Request {
    Join(String),
    Say(String),
    Who,
}

fn parse(text: String) -> Result<Request, String> {
    if !text.trim_start().starts_with('{') {
        return Ok(Request::Say(text));
    }
    match serde_json::from_str::<Incoming>(&text) {
        Ok(Incoming::Join { username }) => Ok(Request::Join(username)),
        Ok(Incoming::Message { text }) => Ok(Request::Say(text)),
        Ok(Incoming::Who {}) => Ok(Request::Who),
        // Not JSON at all: a chat message that happens to start with '{'.
        Err(e) if e.is_syntax() || e.is_eof() => Ok(Request::Say(text)),
        Err(e) => Err(format!(
            "unsupported message ({e}); send {{\"type\":\"join\",\"username\":…}}, \
             {{\"type\":\"message\",\"text\":…}} or plain text"
        )),
    }
}

fn check_username(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("username must not be empty".into());
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return Err(format!(
            "username must be at most {MAX_USERNAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("username must not contain control characters".into());
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("message text must not be empty".into());
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!(
            "message text must be at most {MAX_TEXT_CHARS} characters"
        ));
    }
    Ok(())
}

impl Chat {
    fn name_of(&self, conn: ConnectionId) -> &str {
        self.users.get(&conn).map_or(ANONYMOUS, String::as_str)
    }

    fn handle(&mut self, conn: ConnectionId, text: String) -> Result<Command, String> {
        match parse(text)? {
            Request::Who => {
                let users: Vec<&str> = self.users.values().map(String::as_str).collect();
                let anonymous = self.connected.saturating_sub(users.len());
                Ok(Command::send(
                    conn,
                    Outgoing::Users { users, anonymous }.to_json(),
                ))
            }
            Request::Join(name) => {
                check_username(&name)?;
                if let Some(current) = self.users.get(&conn) {
                    return Err(format!("already joined as {current:?}"));
                }
                let json = Outgoing::Join { user: &name }.to_json();
                self.users.insert(conn, name);
                Ok(Command::broadcast(json))
            }
            Request::Say(text) => {
                check_text(&text)?;
                let user = self.name_of(conn);
                Ok(Command::broadcast(
                    Outgoing::Message { user, text: &text }.to_json(),
                ))
            }
        }
    }
}

impl Plugin for Chat {
    wsgate_plugin::serde_state!();

    fn on_connect(&mut self, conn: ConnectionId) -> Vec<Command> {
        self.connected += 1;
        let welcome = Outgoing::Welcome {
            message: "Connected!",
        };
        vec![Command::send(conn, welcome.to_json())]
    }

    fn on_message(&mut self, conn: ConnectionId, text: String) -> Vec<Command> {
        match self.handle(conn, text) {
            Ok(command) => vec![command],
            Err(message) => vec![Command::send(
                conn,
                Outgoing::Error { message: &message }.to_json(),
            )],
        }
    }

    fn on_binary(&mut self, conn: ConnectionId, _data: Vec<u8>) -> Vec<Command> {
        let message = "binary messages are not supported; send JSON text";
        vec![Command::send(conn, Outgoing::Error { message }.to_json())]
    }

    fn on_close(&mut self, conn: ConnectionId, _code: u16, _reason: String) -> Vec<Command> {
        self.connected = self.connected.saturating_sub(1);
        let name = self.users.remove(&conn);
        let user = name.as_deref().unwrap_or(ANONYMOUS);
        vec![Command::broadcast(Outgoing::Leave { user }.to_json())]
    }
}
