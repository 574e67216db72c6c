//! A test fixture: an echo plugin built straight against contract 0.1.0
//! (`wit/v0.1/plugin.wit`), as plugins were before 0.2.0. The gateway must keep
//! serving it: text back as text, binary as binary, and `on-close` ignored.

#[allow(unsafe_code, missing_docs, unreachable_pub, dead_code, clippy::all)]
mod bindings {
    wit_bindgen::generate!({ world: "plugin", path: "../../wit/v0.1" });

    use exports::wsgate::plugin::handler::Guest;
    use wsgate::plugin::types::{
        AcceptDecision, Allow, Command, ConnectionError, Request, SendBinary, SendText,
    };

    struct Echo;

    impl Guest for Echo {
        fn on_accept(_conn: u64, _request: Request) -> AcceptDecision {
            AcceptDecision::Allow(Allow { subprotocol: None })
        }

        fn on_connect(_conn: u64) -> Vec<Command> {
            Vec::new()
        }

        fn on_message(conn: u64, text: String) -> Vec<Command> {
            vec![Command::Send(SendText { conn, text })]
        }

        fn on_binary(conn: u64, data: Vec<u8>) -> Vec<Command> {
            vec![Command::SendBinary(SendBinary { conn, data })]
        }

        fn on_close(_conn: u64, _code: u16, _reason: String) -> Vec<Command> {
            Vec::new()
        }

        fn on_error(_conn: u64, _error: ConnectionError) -> Vec<Command> {
            Vec::new()
        }

        fn snapshot() -> Vec<u8> {
            Vec::new()
        }

        fn restore(_state: Vec<u8>) -> Result<(), String> {
            Ok(())
        }
    }

    #[cfg(target_arch = "wasm32")]
    export!(Echo with_types_in self);
}
