//! The chat: its protocol, with rooms held by the gateway. Shared, as source, by the
//! `chat` plugin and its test variant `chat-v2`.

use serde::{Deserialize, Serialize};
use wsgate_plugin::{Command, Conn, Plugin, host};

/// Longest accepted user name, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Longest accepted message text, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The name of users who have not joined.
pub const ANONYMOUS: &str = "Anonymous";

/// The room a connection starts in.
pub const LOBBY: &str = "lobby";
/// Longest room name, in characters (ASCII letters, digits, `_` and `-`).
pub const MAX_ROOM_CHARS: usize = 64;

/// The chat: rooms of users. Names and rooms live in the gateway (each connection's
/// attachment and rooms), so they survive hot reloads and traps; the plugin keeps
/// nothing of its own (its snapshot is `{}`).
#[derive(Default, Serialize, Deserialize)]
pub struct Chat {}

/// What the gateway holds for one connection of the chat, as its attachment.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Seat {
    /// The name it joined with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// Its room.
    pub(crate) room: String,
}

impl Seat {
    /// The seat a connection's attachment holds (a new one in the lobby if none).
    pub(crate) fn of(conn: &Conn) -> Self {
        serde_json::from_slice(&conn.attachment).unwrap_or_else(|_| Self {
            name: None,
            room: LOBBY.to_owned(),
        })
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(ANONYMOUS)
    }

    fn attachment(&self, conn: &Conn) -> Command {
        Command::set_attachment(conn, serde_json::to_vec(self).unwrap_or_default())
    }
}

/// What a client may send as a JSON object.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Incoming {
    Join {
        username: String,
        #[serde(default)]
        room: Option<String>,
    },
    Message {
        text: String,
    },
    Who {},
    Move {
        room: String,
    },
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
    Join(String, Option<String>),
    Say(String),
    Who,
    Move(String),
}

fn parse(text: String) -> Result<Request, String> {
    if !text.trim_start().starts_with('{') {
        return Ok(Request::Say(text));
    }
    match serde_json::from_str::<Incoming>(&text) {
        Ok(Incoming::Join { username, room }) => Ok(Request::Join(username, room)),
        Ok(Incoming::Message { text }) => Ok(Request::Say(text)),
        Ok(Incoming::Who {}) => Ok(Request::Who),
        Ok(Incoming::Move { room }) => Ok(Request::Move(room)),
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

fn check_room(room: &str) -> Result<(), String> {
    let valid = !room.is_empty()
        && room.chars().count() <= MAX_ROOM_CHARS
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "room must be 1 to {MAX_ROOM_CHARS} of A-Z a-z 0-9 _ -"
        ))
    }
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

/// Moves `conn` from its seat's room to `room` (nothing if it is there already).
fn change_room(conn: &Conn, seat: &mut Seat, room: String, out: &mut Vec<Command>) {
    if seat.room != room {
        out.push(Command::leave(conn, &seat.room));
        out.push(Command::join(conn, &room));
        seat.room = room;
    }
}

impl Chat {
    fn handle(&mut self, conn: &Conn, text: String) -> Result<Vec<Command>, String> {
        let mut seat = Seat::of(conn);
        match parse(text)? {
            Request::Who => {
                let mut users = Vec::new();
                let mut anonymous = 0;
                let mut members = host::room_members(&seat.room);
                // In the order they connected, as the gateway numbers connections.
                members.sort_unstable();
                for member in members {
                    let name = host::connection_info(member).and_then(|info| {
                        serde_json::from_slice::<Seat>(&info.attachment)
                            .ok()
                            .and_then(|s| s.name)
                    });
                    match name {
                        Some(name) => users.push(name),
                        None => anonymous += 1,
                    }
                }
                let users = users.iter().map(String::as_str).collect();
                Ok(vec![Command::send(
                    conn,
                    Outgoing::Users { users, anonymous }.to_json(),
                )])
            }
            Request::Join(name, room) => {
                check_username(&name)?;
                if let Some(current) = &seat.name {
                    return Err(format!("already joined as {current:?}"));
                }
                let room = room.unwrap_or_else(|| LOBBY.to_owned());
                check_room(&room)?;
                let json = Outgoing::Join { user: &name }.to_json();
                let mut out = Vec::new();
                change_room(conn, &mut seat, room, &mut out);
                seat.name = Some(name);
                out.push(seat.attachment(conn));
                out.push(Command::publish(&seat.room, json));
                Ok(out)
            }
            Request::Say(text) => {
                check_text(&text)?;
                let json = Outgoing::Message {
                    user: seat.name(),
                    text: &text,
                }
                .to_json();
                Ok(vec![Command::publish(&seat.room, json)])
            }
            Request::Move(room) => {
                check_room(&room)?;
                if room == seat.room {
                    return Ok(Vec::new());
                }
                let user = seat.name().to_owned();
                let mut out = vec![Command::leave(conn, &seat.room)];
                out.push(Command::publish(
                    &seat.room,
                    Outgoing::Leave { user: &user }.to_json(),
                ));
                out.push(Command::join(conn, &room));
                seat.room = room;
                out.push(seat.attachment(conn));
                out.push(Command::publish(
                    &seat.room,
                    Outgoing::Join { user: &user }.to_json(),
                ));
                Ok(out)
            }
        }
    }
}

impl Plugin for Chat {
    wsgate_plugin::serde_state!();

    fn on_connect(&mut self, conn: Conn) -> Vec<Command> {
        let seat = Seat::of(&conn);
        let welcome = Outgoing::Welcome {
            message: "Connected!",
        };
        vec![
            Command::join(&conn, &seat.room),
            seat.attachment(&conn),
            Command::send(&conn, welcome.to_json()),
        ]
    }

    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        match self.handle(&conn, text) {
            Ok(commands) => commands,
            Err(message) => vec![Command::send(
                &conn,
                Outgoing::Error { message: &message }.to_json(),
            )],
        }
    }

    fn on_binary(&mut self, conn: Conn, _data: Vec<u8>) -> Vec<Command> {
        let message = "binary messages are not supported; send JSON text";
        vec![Command::send(&conn, Outgoing::Error { message }.to_json())]
    }

    fn on_close(&mut self, conn: Conn, _code: u16, _reason: String) -> Vec<Command> {
        // The gateway took it out of its room already: the others hear it left.
        let seat = Seat::of(&conn);
        let user = seat.name();
        vec![Command::publish(
            &seat.room,
            Outgoing::Leave { user }.to_json(),
        )]
    }
}
