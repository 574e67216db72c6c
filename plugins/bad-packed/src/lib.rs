//! A test fixture: a plugin that exports `packed` (`wit/plugin.wit`) on the bare
//! bindings, so that its answers can break the format, which the SDK never lets a
//! plugin do. Each text message it is handed packed names the answer:
//!
//! - `unknown`: an entry the format does not have;
//! - `cut`: a send whose length runs past the end of the answer;
//! - `not-utf8`: a text send whose bytes are not UTF-8;
//! - `no-command`: an entry 2 with no typed command left;
//! - anything else: echoed, as a packed send.
//!
//! Other events (through `handle`) get no commands.

#[allow(unsafe_code, missing_docs, unreachable_pub, dead_code, clippy::all)]
mod bindings {
    wit_bindgen::generate!({ world: "plugin-packed", path: "../../wit" });

    use exports::wsgate::plugin::handler::Guest as Handler;
    use exports::wsgate::plugin::packed::{Guest as Packed, PackedAnswer};
    use wsgate::plugin::types::{AcceptDecision, Allow, Command, Event, Request};

    struct BadPacked;

    impl Handler for BadPacked {
        fn on_accept(_conn: u64, _request: Request) -> AcceptDecision {
            AcceptDecision::Allow(Allow {
                subprotocol: None,
                user: None,
                attachment: Vec::new(),
                rooms: Vec::new(),
            })
        }

        fn handle(_events: Vec<Event>) -> Vec<Command> {
            Vec::new()
        }

        fn snapshot() -> Vec<u8> {
            Vec::new()
        }

        fn restore(_state: Vec<u8>) -> Result<(), String> {
            Ok(())
        }
    }

    /// A send entry: `entry`, `conn`, the length of `bytes`, `bytes`.
    fn send(entry: u8, conn: u64, len: u32, bytes: &[u8]) -> Vec<u8> {
        let mut b = vec![entry];
        b.extend_from_slice(&conn.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(bytes);
        b
    }

    /// The first event's connection and text (the tests send one at a time).
    fn first(events: &[u8]) -> Option<(u64, &[u8])> {
        let conn = u64::from_le_bytes(events.get(1..9)?.try_into().ok()?);
        let mut at = 9;
        for _ in 0..2 {
            let len = u32::from_le_bytes(events.get(at..at + 4)?.try_into().ok()?);
            at += 4 + if len == u32::MAX { 0 } else { len as usize };
        }
        let len = u32::from_le_bytes(events.get(at..at + 4)?.try_into().ok()?) as usize;
        Some((conn, events.get(at + 4..at + 4 + len)?))
    }

    impl Packed for BadPacked {
        fn handle_packed(events: Vec<u8>) -> PackedAnswer {
            let Some((conn, text)) = first(&events) else {
                return PackedAnswer {
                    sends: Vec::new(),
                    commands: Vec::new(),
                };
            };
            let sends = match text {
                b"unknown" => vec![7],
                b"cut" => send(0, conn, 100, b"short"),
                b"not-utf8" => send(0, conn, 2, &[0xff, 0xfe]),
                b"no-command" => vec![2],
                echo => send(0, conn, echo.len() as u32, echo),
            };
            PackedAnswer {
                sends,
                commands: Vec::new(),
            }
        }
    }

    #[cfg(target_arch = "wasm32")]
    export!(BadPacked with_types_in self);
}
