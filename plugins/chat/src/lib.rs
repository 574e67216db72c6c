//! Chat: the classic WebSocket chat room, with JSON messages.
//!
//! | client sends | everyone (sender included) receives |
//! |---|---|
//! | *(connects)* | the sender only: `{"type":"welcome","message":"Connected!"}` |
//! | `{"type":"join","username":"Alice"}` | `{"type":"join","user":"Alice"}` |
//! | `{"type":"message","text":"hi"}` or plain text `hi` | `{"type":"message","user":"Alice","text":"hi"}` |
//! | *(disconnects)* | `{"type":"leave","user":"Alice"}` |
//! | `{"type":"who"}` | the sender only: `{"type":"users","users":["Alice"],"anonymous":2}` |
//!
//! Users who have not joined are `Anonymous`. Text that is not a JSON object is a chat
//! message as it stands; a JSON object must be one of the two shapes above. Bad input
//! (an unknown or malformed JSON object, an empty or over-long name, a second join, an
//! empty or over-long text) gets `{"type":"error","message":"…"}`, to the sender only.

mod room;

pub use room::{ANONYMOUS, Chat, MAX_TEXT_CHARS, MAX_USERNAME_CHARS};

wsgate_plugin::export!(Chat);

#[cfg(test)]
mod tests;
