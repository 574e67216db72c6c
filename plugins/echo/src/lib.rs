//! Echo: every text message goes back as text, every binary message as binary, to the
//! connection that sent it.

use wsgate_plugin::{Command, Conn, Plugin};

/// The echo plugin; it keeps no state.
#[derive(Default)]
pub struct Echo;

impl Plugin for Echo {
    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        vec![Command::send(&conn, text)]
    }

    fn on_binary(&mut self, conn: Conn, data: Vec<u8>) -> Vec<Command> {
        vec![Command::send_binary(&conn, data)]
    }
}

wsgate_plugin::export!(Echo);

#[cfg(test)]
mod tests {
    use super::*;
    use wsgate_plugin::ConnectionId;

    #[test]
    fn text_goes_back_as_text_to_the_sender() {
        let mut echo = Echo;
        assert_eq!(
            echo.on_message(Conn::new(3), "héllo".into()),
            [Command::send(ConnectionId(3), "héllo")]
        );
    }

    #[test]
    fn binary_goes_back_as_binary_to_the_sender() {
        let mut echo = Echo;
        assert_eq!(
            echo.on_binary(Conn::new(4), vec![0, 255]),
            [Command::send_binary(ConnectionId(4), [0u8, 255])]
        );
    }
}
