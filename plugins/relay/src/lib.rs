//! Relay: each message goes unchanged (text as text, binary as binary) to every other
//! connection of the app. The broadcast benchmark measures it.

use wsgate_plugin::{Command, Conn, Plugin};

/// The relay plugin; it keeps no state.
#[derive(Default)]
pub struct Relay;

impl Plugin for Relay {
    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        vec![Command::broadcast_except(text, &conn)]
    }

    fn on_binary(&mut self, conn: Conn, data: Vec<u8>) -> Vec<Command> {
        vec![Command::broadcast_binary_except(data, &conn)]
    }
}

wsgate_plugin::export!(Relay);

#[cfg(test)]
mod tests {
    use super::*;
    use wsgate_plugin::ConnectionId;

    #[test]
    fn text_goes_to_everyone_else_as_text() {
        assert_eq!(
            Relay.on_message(Conn::new(2), "hi".into()),
            [Command::broadcast_except("hi", ConnectionId(2))]
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
