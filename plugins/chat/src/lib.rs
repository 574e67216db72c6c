//! Chat: the classic WebSocket chat, with JSON messages and rooms. A connection
//! starts in room `lobby`; everything goes to the sender's room only.
//!
//! | client sends | everyone in the sender's room (sender included) receives |
//! |---|---|
//! | *(connects)* | the sender only: `{"type":"welcome","message":"Connected!"}` |
//! | `{"type":"join","username":"Alice"}` | `{"type":"join","user":"Alice"}` |
//! | `{"type":"join","username":"Alice","room":"rust"}` | the same, in room `rust` (Alice leaves the lobby) |
//! | `{"type":"message","text":"hi"}` or plain text `hi` | `{"type":"message","user":"Alice","text":"hi"}` |
//! | `{"type":"move","room":"go"}` | the old room: `{"type":"leave","user":"Alice"}`; the new one: `{"type":"join","user":"Alice"}` |
//! | *(disconnects)* | `{"type":"leave","user":"Alice"}` |
//! | `{"type":"who"}` | the sender only: `{"type":"users","users":["Alice"],"anonymous":2}` |
//!
//! Room names are 1 to 64 of `A-Z a-z 0-9 _ -`. Names and rooms live in the gateway
//! (each connection's attachment and rooms): after a hot reload or a trap, users keep
//! them. Users who have not joined are `Anonymous`. Text that is not a JSON object is a chat
//! message as it stands; a JSON object must be one of the two shapes above. Bad input
//! (an unknown or malformed JSON object, an empty or over-long name, a second join, an
//! empty or over-long text) gets `{"type":"error","message":"…"}`, to the sender only.

mod room;

pub use room::{ANONYMOUS, Chat, LOBBY, MAX_ROOM_CHARS, MAX_TEXT_CHARS, MAX_USERNAME_CHARS};

wsgate_plugin::export!(Chat);

#[cfg(test)]
mod tests;
