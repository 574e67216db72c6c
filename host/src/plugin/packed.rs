//! Contract 0.2's optional `packed` export (`wit/plugin.wit`, `interface packed`):
//! message and binary events written into one buffer, handed over with one copy into
//! the plugin, and the answer's sends read out of one buffer, where wasmtime's typed
//! call lowers and lifts a record, a string and a list per message.
//!
//! Nothing the plugin answers is trusted: an answer that breaks the format is refused
//! as a trap would be ([`Malformed`]), and every text it sends is checked for UTF-8.
//!
//! Its `unsafe` is `events`' own (a function typed once, when the instance starts,
//! called later without typing it again) and text that is ASCII taken as UTF-8.

#![allow(unsafe_code)]

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use wasmtime::AsContextMut;
use wasmtime::component::{ComponentExportIndex, ComponentType, Func, Instance, Lift, TypedFunc};

use super::bindings::v0_2::types;
use crate::model::{Command, ConnContext, ConnId, Event, Payload};

/// The export's interface.
pub(crate) const PACKED_EXPORT: &str = "wsgate:plugin/packed@0.2.0";
/// Its function.
pub(crate) const HANDLE_PACKED: &str = "handle-packed";

/// `kind` of a message event, and the entry of a text send.
const TEXT: u8 = 0;
/// `kind` of a binary event, and the entry of a binary send.
const BINARY: u8 = 1;
/// The entry that runs the answer's next typed command.
const COMMAND: u8 = 2;
/// The user length that says the connection has none.
const NO_USER: u32 = u32::MAX;

/// The largest message packed, in bytes: a larger one goes through `handle` (with
/// the rest of its call). Packed, a message is copied five times on its way in and
/// out (into the buffer, into the plugin, out of the buffer in the plugin, into the
/// answer, out of the plugin), through `handle` twice; past about a KiB the three
/// more copies cost more than the per-field work packing saves. (The plugin's SDK
/// answers a longer send as a typed command for the same reason.)
const PACKED_UP_TO: usize = 1024;

/// An answer's sends up to this size are handed to the connections as slices of the
/// one buffer (no copy); a larger buffer is copied out per send, so that a short
/// message queued for a slow client never keeps a large answer alive.
const SHARED_UP_TO: usize = 64 * 1024;

/// `packed-answer`.
#[derive(ComponentType, Lift)]
#[component(record)]
struct PackedAnswer {
    #[component(name = "sends")]
    sends: Vec<u8>,
    #[component(name = "commands")]
    commands: Vec<types::Command>,
}

/// What an answer that breaks the format did.
#[derive(Debug, thiserror::Error)]
#[error("its packed answer is malformed: {0}")]
pub(crate) struct Malformed(&'static str);

/// An instance's `handle-packed`, type-checked.
#[derive(Clone, Copy)]
pub(crate) struct HandlePacked(Func);

impl HandlePacked {
    /// `handle-packed` of `instance`, checked against its WIT type.
    ///
    /// # Errors
    /// If the export's type is not the contract's.
    pub(crate) fn new<T>(
        store: &mut wasmtime::Store<T>,
        instance: &Instance,
        index: &ComponentExportIndex,
    ) -> wasmtime::Result<Self> {
        let typed = instance.get_typed_func::<(&[u8],), (PackedAnswer,)>(&mut *store, index)?;
        Ok(Self(*typed.func()))
    }

    /// Calls `handle-packed` with `events` (see [`pack`]) and reads its answer.
    ///
    /// # Errors
    /// What the call trapped with, or [`Malformed`].
    pub(crate) fn call<T>(
        self,
        store: impl AsContextMut<Data = T>,
        events: &[u8],
    ) -> wasmtime::Result<Vec<Command>> {
        // SAFETY: `new` checked this very signature against the component.
        let typed = unsafe { TypedFunc::<(&[u8],), (PackedAnswer,)>::new_unchecked(self.0) };
        let (answer,) = typed.call(store, (events,))?;
        Ok(commands(answer)?)
    }
}

/// Appends `event` to `buf` as the format packs it; `false` (and nothing appended)
/// for an event that is not a message or a binary message, or one over
/// [`PACKED_UP_TO`] (or a context too long for the format).
pub(crate) fn pack(buf: &mut Vec<u8>, event: &Event, ctx: Option<&ConnContext>) -> bool {
    let (kind, conn, payload): (u8, ConnId, &[u8]) = match event {
        Event::Text { conn, text } => (TEXT, *conn, text.as_bytes()),
        Event::Binary { conn, data } => (BINARY, *conn, data),
        _ => return false,
    };
    if payload.len() > PACKED_UP_TO {
        return false;
    }
    let user = ctx.and_then(|c| c.user.as_deref());
    let attachment = ctx.map_or(&[][..], |c| &c.attachment[..]);
    let (Some(payload_len), Some(attachment_len), Some(user_len)) = (
        len(payload),
        len(attachment),
        user.map_or(Some(NO_USER), |u| {
            len(u.as_bytes()).filter(|&n| n != NO_USER)
        }),
    ) else {
        return false;
    };
    let user = user.map_or(&[][..], str::as_bytes);
    buf.reserve(21 + user.len() + attachment.len() + payload.len());
    let mut head = [0; 21];
    head[0] = kind;
    head[1..9].copy_from_slice(&conn.to_le_bytes());
    head[9..13].copy_from_slice(&user_len.to_le_bytes());
    if user.is_empty() && attachment.is_empty() {
        // Nearly every event: the head in one piece, the attachment's length 0.
        head[17..].copy_from_slice(&payload_len.to_le_bytes());
        buf.extend_from_slice(&head);
    } else {
        buf.extend_from_slice(&head[..13]);
        buf.extend_from_slice(user);
        buf.extend_from_slice(&attachment_len.to_le_bytes());
        buf.extend_from_slice(attachment);
        buf.extend_from_slice(&payload_len.to_le_bytes());
    }
    buf.extend_from_slice(payload);
    true
}

/// `bytes` as text, if they are UTF-8. Most text is ASCII, which `is_ascii` sees
/// in a few word-wide steps where a full UTF-8 check of 32 bytes takes ~130
/// instructions (the check of every message is ~3 % of an echo at 16 per call).
fn utf8(bytes: Bytes) -> Result<Utf8Bytes, Malformed> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        return Ok(unsafe { Utf8Bytes::from_bytes_unchecked(bytes) });
    }
    Utf8Bytes::try_from(bytes).map_err(|_| Malformed("a text is not UTF-8"))
}

/// A length as the format writes it, if it fits.
fn len(bytes: &[u8]) -> Option<u32> {
    u32::try_from(bytes.len()).ok()
}

/// The commands of `answer`, in the order it gives them.
fn commands(answer: PackedAnswer) -> Result<Vec<Command>, Malformed> {
    let PackedAnswer { sends, commands } = answer;
    let total = sends.len();
    let sends = Bytes::from(sends);
    let mut typed = commands.into_iter();
    let mut out = Vec::with_capacity(total / 16 + typed.len());
    let mut at = 0;
    while at < total {
        let entry = sends[at];
        at += 1;
        if entry == COMMAND {
            let command = typed
                .next()
                .ok_or(Malformed("an entry 2 with no command left"))?;
            out.push(Command::from(command));
            continue;
        }
        if entry != TEXT && entry != BINARY {
            return Err(Malformed("an unknown entry"));
        }
        let head = sends
            .get(at..at + 12)
            .ok_or(Malformed("a send ends early"))?;
        let conn = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let n = u32::from_le_bytes(head[8..].try_into().unwrap_or_default()) as usize;
        at += 12;
        let end = at
            .checked_add(n)
            .filter(|&end| end <= total)
            .ok_or(Malformed("a send's length runs past the end"))?;
        let bytes = if total <= SHARED_UP_TO {
            sends.slice(at..end)
        } else {
            Bytes::copy_from_slice(&sends[at..end])
        };
        at = end;
        let payload = if entry == TEXT {
            Payload::Text(utf8(bytes)?)
        } else {
            Payload::Binary(bytes)
        };
        out.push(Command::Send { conn, payload });
    }
    out.extend(typed.map(Command::from));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn answer(sends: Vec<u8>, commands: Vec<types::Command>) -> PackedAnswer {
        PackedAnswer { sends, commands }
    }

    /// A send entry.
    fn send(entry: u8, conn: u64, bytes: &[u8]) -> Vec<u8> {
        let mut b = vec![entry];
        b.extend_from_slice(&conn.to_le_bytes());
        b.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_le_bytes());
        b.extend_from_slice(bytes);
        b
    }

    fn close(conn: u64) -> types::Command {
        types::Command::Close(types::CloseConnection {
            conn,
            code: 1000,
            reason: "bye".into(),
        })
    }

    #[test]
    fn a_message_is_packed_with_its_connection_user_and_attachment() {
        let ctx = ConnContext {
            user: Some(Arc::from("ana")),
            attachment: Bytes::from_static(b"at"),
        };
        let mut buf = Vec::new();
        let text = Event::Text {
            conn: 7,
            text: Utf8Bytes::from_static("héllo"),
        };
        assert!(pack(&mut buf, &text, Some(&ctx)));
        let mut want = vec![TEXT];
        want.extend_from_slice(&7u64.to_le_bytes());
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(b"ana");
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(b"at");
        want.extend_from_slice(&6u32.to_le_bytes());
        want.extend_from_slice("héllo".as_bytes());
        assert_eq!(buf, want);

        buf.clear();
        let binary = Event::Binary {
            conn: 8,
            data: Bytes::from_static(&[0, 255]),
        };
        assert!(pack(&mut buf, &binary, None));
        let mut want = vec![BINARY];
        want.extend_from_slice(&8u64.to_le_bytes());
        want.extend_from_slice(&NO_USER.to_le_bytes());
        want.extend_from_slice(&0u32.to_le_bytes());
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(&[0, 255]);
        assert_eq!(buf, want);
    }

    #[test]
    fn other_events_and_large_messages_are_not_packed() {
        let mut buf = vec![42];
        assert!(!pack(&mut buf, &Event::Connect { conn: 1 }, None));
        let large = Event::Binary {
            conn: 1,
            data: Bytes::from(vec![0; PACKED_UP_TO + 1]),
        };
        assert!(!pack(&mut buf, &large, None));
        assert_eq!(buf, [42]);
        let largest = Event::Binary {
            conn: 1,
            data: Bytes::from(vec![0; PACKED_UP_TO]),
        };
        assert!(pack(&mut buf, &largest, None));
    }

    #[test]
    fn sends_and_typed_commands_run_in_the_order_the_answer_gives() {
        let mut sends = send(TEXT, 3, b"hi");
        sends.push(COMMAND);
        sends.extend(send(BINARY, 4, &[9]));
        let got = commands(answer(sends, vec![close(3), close(5)])).unwrap();
        assert_eq!(
            got,
            [
                Command::Send {
                    conn: 3,
                    payload: Payload::Text(Utf8Bytes::from_static("hi")),
                },
                Command::Close {
                    conn: 3,
                    code: 1000,
                    reason: "bye".into(),
                },
                Command::Send {
                    conn: 4,
                    payload: Payload::Binary(Bytes::from_static(&[9])),
                },
                // Not taken by an entry: after the last.
                Command::Close {
                    conn: 5,
                    code: 1000,
                    reason: "bye".into(),
                },
            ]
        );
    }

    /// Where the payloads of the two sends of `commands` start.
    fn payload_starts(commands: &[Command]) -> Vec<usize> {
        commands
            .iter()
            .map(|c| match c {
                Command::Send {
                    payload: Payload::Text(t),
                    ..
                } => t.as_str().as_ptr() as usize,
                other => panic!("not a text send: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_small_answer_is_shared_and_a_large_one_copied_out_per_send() {
        // Shared: the second payload starts where the buffer has it, 5 bytes of
        // "short" and 13 of the second entry's head after the first.
        let mut sends = send(TEXT, 1, b"short");
        sends.extend(send(TEXT, 2, b"also short"));
        let at = payload_starts(&commands(answer(sends, Vec::new())).unwrap());
        assert_eq!(at[1] - at[0], 5 + 13);

        let big = vec![b'x'; SHARED_UP_TO];
        let mut sends = send(TEXT, 1, b"short");
        sends.extend(send(TEXT, 2, &big));
        let got = commands(answer(sends, Vec::new())).unwrap();
        let at = payload_starts(&got);
        assert_ne!(at[1].wrapping_sub(at[0]), 5 + 13);
        let Command::Send {
            payload: Payload::Text(t),
            ..
        } = &got[1]
        else {
            unreachable!()
        };
        assert_eq!(t.len(), SHARED_UP_TO);
    }

    #[test]
    fn ascii_and_other_utf8_text_are_both_taken() {
        for text in ["plain ascii", "héllo wörld ✓ 🦀", ""] {
            let got = commands(answer(send(TEXT, 1, text.as_bytes()), Vec::new())).unwrap();
            assert_eq!(
                got,
                [Command::Send {
                    conn: 1,
                    payload: Payload::Text(Utf8Bytes::from(text)),
                }]
            );
        }
    }

    #[test]
    fn a_malformed_answer_is_refused() {
        let cut = send(TEXT, 1, b"hello");
        let mut long = send(BINARY, 1, b"hello");
        long[9] = 200; // the length, past the end
        let cases: [(Vec<u8>, &str); 5] = [
            (vec![7], "an unknown entry"),
            (vec![COMMAND], "an entry 2 with no command left"),
            (
                cut[..cut.len() - 1].to_vec(),
                "a send's length runs past the end",
            ),
            (cut[..5].to_vec(), "a send ends early"),
            (send(TEXT, 1, &[0xff, 0xfe]), "a text is not UTF-8"),
        ];
        for (sends, why) in cases {
            let err = commands(answer(sends, Vec::new())).unwrap_err();
            assert_eq!(err.0, why);
        }
        assert_eq!(
            commands(answer(long, Vec::new())).unwrap_err().0,
            "a send's length runs past the end"
        );
    }
}
