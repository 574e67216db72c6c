//! Relay: each message goes unchanged (text as text, binary as binary) to every other
//! connection of the app, or, for a connection that asked for a room
//! (`/relay?room=NAME`), to every other member of that room. The broadcast and
//! publish benchmarks measure it.

use wsgate_plugin::{Accept, Command, Conn, ConnectionId, Payload, Plugin, Request};

/// The relay plugin; it keeps no state (a connection's room is its attachment).
#[derive(Default)]
pub struct Relay;

fn relay(conn: &Conn, message: Payload) -> Vec<Command> {
    let command = if conn.attachment.is_empty() {
        Command::Broadcast {
            payload: message,
            except: vec![conn.id],
        }
    } else {
        let room = String::from_utf8_lossy(&conn.attachment).into_owned();
        Command::publish_except(room, message, conn)
    };
    vec![command]
}

impl Plugin for Relay {
    fn on_accept(&mut self, _conn: ConnectionId, request: Request) -> Accept {
        match request.query_param("room") {
            Some(room) => Accept::allow()
                .attachment(room.as_bytes().to_vec())
                .join(room),
            None => Accept::allow(),
        }
    }

    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        relay(&conn, Payload::Text(text))
    }

    fn on_binary(&mut self, conn: Conn, data: Vec<u8>) -> Vec<Command> {
        relay(&conn, Payload::Binary(data))
    }
}

wsgate_plugin::export!(Relay);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_goes_to_everyone_else_as_text() {
        assert_eq!(
            Relay.on_message(Conn::new(2), "hi".into()),
            [Command::broadcast_except("hi", ConnectionId(2))]
        );
    }

    #[test]
    fn a_connection_in_a_room_publishes_to_the_room() {
        let conn = Conn::new(2).with_attachment(b"bench".to_vec());
        assert_eq!(
            Relay.on_message(conn, "hi".into()),
            [Command::publish_except("bench", "hi", ConnectionId(2))]
        );
    }

    #[test]
    fn binary_goes_to_everyone_else_as_binary() {
        assert_eq!(
            Relay.on_binary(Conn::new(2), vec![1, 2]),
            [Command::broadcast_binary_except([1u8, 2], ConnectionId(2))]
        );
    }
}
