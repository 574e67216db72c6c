//! Chat, version 2: the same room as `plugins/chat` (same protocol, same state, so a
//! hot reload between the two keeps every user), except that every JSON message it
//! sends carries `"version":2`. The hot-reload tests swap it in for `chat`.

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the room is public in the chat plugin"
)]
#[path = "../../chat/src/room.rs"]
mod room;

use serde::{Deserialize, Serialize};
use wsgate_plugin::{Command, Conn, Payload, Plugin};

/// The chat room, tagging what it sends with its version.
#[derive(Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatV2 {
    room: room::Chat,
}

/// Adds `"version":2` to a JSON object; other text is left alone.
fn tag(text: String) -> String {
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.insert("version".into(), 2.into());
            serde_json::Value::Object(object).to_string()
        }
        _ => text,
    }
}

fn tag_payload(payload: Payload) -> Payload {
    match payload {
        Payload::Text(text) => Payload::Text(tag(text)),
        binary => binary,
    }
}

fn tagged(commands: Vec<Command>) -> Vec<Command> {
    commands
        .into_iter()
        .map(|command| match command {
            Command::Send { conn, payload } => Command::Send {
                conn,
                payload: tag_payload(payload),
            },
            Command::Broadcast { payload, except } => Command::Broadcast {
                payload: tag_payload(payload),
                except,
            },
            Command::Publish {
                room,
                payload,
                except,
            } => Command::Publish {
                room,
                payload: tag_payload(payload),
                except,
            },
            other => other,
        })
        .collect()
}

impl Plugin for ChatV2 {
    wsgate_plugin::serde_state!();

    fn on_connect(&mut self, conn: Conn) -> Vec<Command> {
        tagged(self.room.on_connect(conn))
    }

    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        tagged(self.room.on_message(conn, text))
    }

    fn on_binary(&mut self, conn: Conn, data: Vec<u8>) -> Vec<Command> {
        tagged(self.room.on_binary(conn, data))
    }

    fn on_close(&mut self, conn: Conn, code: u16, reason: String) -> Vec<Command> {
        tagged(self.room.on_close(conn, code, reason))
    }
}

wsgate_plugin::export!(ChatV2);

#[cfg(test)]
mod tests {
    use super::*;
    use wsgate_plugin::testing;

    fn text_of(command: &Command) -> String {
        match command {
            Command::Publish {
                payload: Payload::Text(text),
                ..
            } => text.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn messages_carry_the_version_and_the_rest_is_the_chat() {
        testing::reset();
        testing::connect(&Conn::new(1));
        let mut chat = ChatV2::default();
        let out = chat.on_message(
            testing::conn(1),
            r#"{"type":"join","username":"Ann"}"#.into(),
        );
        let published = out.last().map(text_of).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&published).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"type": "join", "user": "Ann", "version": 2})
        );
    }

    #[test]
    fn it_takes_over_the_chat_plugins_state_and_the_names_the_gateway_holds() {
        testing::reset();
        testing::connect(&Conn::new(1));
        let mut v1 = room::Chat::default();
        let joined = v1.on_message(
            testing::conn(1),
            r#"{"type":"join","username":"Ann"}"#.into(),
        );
        testing::apply(&joined);
        let mut v2 = ChatV2::default();
        assert_eq!(v2.restore(&v1.snapshot()), Ok(()));
        let out = v2.on_message(testing::conn(1), "hi".into());
        let text = out.first().map(text_of).unwrap_or_default();
        assert!(text.contains(r#""user":"Ann""#), "{text}");
    }
}
