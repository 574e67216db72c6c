//! The plugin's side of contract 0.2's `packed` export (the format is in the WIT,
//! `interface packed`): the events of a `handle-packed` call read out of their one
//! buffer, and the answer's sends written into another; every other command goes in
//! the answer's typed list, its place among the sends marked.
//!
//! Nothing of it shows to a plugin author: the events are the same `wit::Event`s
//! `handle` is given, handled by the same code.
//!
//! Bytes that break the format can only come from a gateway bug: the call panics,
//! which traps it, and the gateway hands its events over again, one per call.
//!
//! Text (messages and users) is taken as UTF-8 without a second check in a release
//! build, as wit-bindgen's own lifting of a `string` does: the format promises it and
//! the gateway checked every text message when it read it; a debug build checks.
#![allow(clippy::panic, reason = "a broken packed call traps, see above")]
#![allow(
    unsafe_code,
    reason = "text the gateway checked is not checked twice, see above"
)]

use crate::bindings::{wit, wit_packed};

/// `kind` of a message event, and the entry of a text send.
const TEXT: u8 = 0;
/// `kind` of a binary event, and the entry of a binary send.
const BINARY: u8 = 1;
/// The entry that runs the answer's next typed command.
const COMMAND: u8 = 2;
/// The user length that says the connection has none.
const NO_USER: u32 = u32::MAX;
/// The longest message an answer packs, in bytes; a longer send goes in the
/// answer's typed list, which the gateway reads straight out of the plugin's
/// memory (packing it would copy it once more here, and the gateway packs no
/// longer message either).
const PACKED_UP_TO: usize = 1024;

/// Reads `events` as the gateway packs them.
///
/// # Panics
/// If the bytes break the format: the gateway wrote them, so that is a gateway bug,
/// and the call traps (the gateway then hands the events over one per call).
pub(crate) fn decode(events: &[u8]) -> Vec<wit::Event> {
    let mut out = Vec::with_capacity(count(events));
    let mut reader = Reader(events);
    while !reader.0.is_empty() {
        out.push(reader.event());
    }
    out
}

/// How many events `events` holds (their heads read, the bytes skipped): the list
/// is made once at its size.
fn count(events: &[u8]) -> usize {
    let mut reader = Reader(events);
    let mut n = 0;
    while !reader.0.is_empty() {
        reader.take(9);
        for _ in 0..3 {
            let len = reader.u32();
            if len != NO_USER {
                reader.take(len as usize);
            }
        }
        n += 1;
    }
    n
}

/// The bytes not read yet.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(n <= self.0.len(), "wsgate: a packed event ends early");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap_or_default())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap_or_default())
    }

    /// A length and that many bytes.
    fn bytes(&mut self) -> &'a [u8] {
        let len = self.u32() as usize;
        self.take(len)
    }

    /// `bytes`, which the format says are UTF-8, as a string (checked in a debug
    /// build only; see the module's head).
    fn utf8(bytes: &[u8], what: &str) -> String {
        if cfg!(debug_assertions) {
            return String::from_utf8(bytes.to_vec())
                .unwrap_or_else(|_| panic!("wsgate: a packed {what} is not UTF-8"));
        }
        // SAFETY: the packed format's text is UTF-8: the gateway writes only what it
        // checked (a text message as it was read, a user as `on-accept` answered it).
        unsafe { String::from_utf8_unchecked(bytes.to_vec()) }
    }

    fn event(&mut self) -> wit::Event {
        let kind = self.u8();
        let id = self.u64();
        let user = match self.u32() {
            NO_USER => None,
            len => Some(Self::utf8(self.take(len as usize), "user")),
        };
        let attachment = self.bytes().to_vec();
        let conn = wit::Connection {
            id,
            user,
            attachment,
        };
        match kind {
            TEXT => wit::Event::Message(wit::MessageEvent {
                conn,
                text: Self::utf8(self.bytes(), "text"),
            }),
            BINARY => wit::Event::Binary(wit::BinaryEvent {
                conn,
                data: self.bytes().to_vec(),
            }),
            other => panic!("wsgate: unknown packed event kind {other}"),
        }
    }
}

/// `commands` as a packed answer: every send to one connection an entry of
/// `sends`, every other command in `commands`, its place marked.
pub(crate) fn encode(commands: Vec<wit::Command>) -> wit_packed::PackedAnswer {
    // 13 bytes of entry and a short message each, as most answers are.
    let mut sends = Vec::with_capacity(commands.len() * 48);
    let mut typed = Vec::new();
    for command in commands {
        match command {
            wit::Command::Send(send) if payload(&send.payload).1.len() <= PACKED_UP_TO => {
                let (entry, bytes) = payload(&send.payload);
                sends.push(entry);
                sends.extend_from_slice(&send.conn.to_le_bytes());
                sends.extend_from_slice(&len(bytes).to_le_bytes());
                sends.extend_from_slice(bytes);
            }
            other => {
                sends.push(COMMAND);
                typed.push(other);
            }
        }
    }
    wit_packed::PackedAnswer {
        sends,
        commands: typed,
    }
}

/// A payload's entry and bytes.
fn payload(p: &wit::Payload) -> (u8, &[u8]) {
    match p {
        wit::Payload::Text(t) => (TEXT, t.as_bytes()),
        wit::Payload::Binary(b) => (BINARY, b),
    }
}

/// A length as the format writes it.
///
/// # Panics
/// Past 4 GiB, which no plugin memory holds.
fn len(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap_or_else(|_| panic!("wsgate: a message of 4 GiB or more"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event as the gateway packs it.
    fn packed(
        kind: u8,
        conn: u64,
        user: Option<&str>,
        attachment: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let mut b = vec![kind];
        b.extend_from_slice(&conn.to_le_bytes());
        match user {
            Some(u) => {
                b.extend_from_slice(&len(u.as_bytes()).to_le_bytes());
                b.extend_from_slice(u.as_bytes());
            }
            None => b.extend_from_slice(&NO_USER.to_le_bytes()),
        }
        for field in [attachment, payload] {
            b.extend_from_slice(&len(field).to_le_bytes());
            b.extend_from_slice(field);
        }
        b
    }

    #[test]
    fn events_are_read_with_their_connections_as_packed() {
        let mut bytes = packed(TEXT, 7, Some("ana"), b"at", "héllo".as_bytes());
        bytes.extend(packed(BINARY, u64::MAX, None, b"", &[0, 255]));
        let events = decode(&bytes);
        assert_eq!(events.len(), 2);
        let wit::Event::Message(m) = &events[0] else {
            panic!("not a message: {:?}", events[0]);
        };
        assert_eq!((m.conn.id, m.conn.user.as_deref()), (7, Some("ana")));
        assert_eq!(
            (&m.conn.attachment[..], m.text.as_str()),
            (&b"at"[..], "héllo")
        );
        let wit::Event::Binary(b) = &events[1] else {
            panic!("not binary: {:?}", events[1]);
        };
        assert_eq!((b.conn.id, b.conn.user.as_deref()), (u64::MAX, None));
        assert_eq!(
            (&b.conn.attachment[..], &b.data[..]),
            (&b""[..], &[0u8, 255][..])
        );
    }

    #[test]
    fn no_bytes_are_no_events() {
        assert!(decode(&[]).is_empty());
    }

    #[test]
    #[should_panic(expected = "ends early")]
    fn a_cut_event_is_refused() {
        let bytes = packed(TEXT, 1, None, b"", b"hello");
        decode(&bytes[..bytes.len() - 1]);
    }

    #[test]
    #[should_panic(expected = "unknown packed event kind 9")]
    fn an_unknown_kind_is_refused() {
        decode(&packed(9, 1, None, b"", b""));
    }

    #[test]
    fn sends_are_packed_and_other_commands_keep_their_place() {
        let commands = vec![
            crate::Command::send(crate::ConnectionId(3), "hi").into(),
            crate::Command::close(crate::ConnectionId(3), 1000, "bye").into(),
            crate::Command::send_binary(crate::ConnectionId(4), vec![9u8]).into(),
        ];
        let answer = encode(commands);
        let mut want = vec![TEXT];
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(b"hi");
        want.push(COMMAND);
        want.push(BINARY);
        want.extend_from_slice(&4u64.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        want.push(9);
        assert_eq!(answer.sends, want);
        assert_eq!(answer.commands.len(), 1);
        assert!(
            matches!(&answer.commands[0], wit::Command::Close(c) if c.conn == 3 && c.reason == "bye")
        );
    }

    #[test]
    fn a_long_send_stays_typed_in_its_place() {
        let long = vec![7u8; PACKED_UP_TO + 1];
        let commands = vec![
            crate::Command::send_binary(crate::ConnectionId(1), long.clone()).into(),
            crate::Command::send_binary(crate::ConnectionId(2), vec![7u8; PACKED_UP_TO]).into(),
        ];
        let answer = encode(commands);
        assert_eq!(answer.sends[0], COMMAND);
        assert_eq!(answer.sends[1], BINARY);
        assert_eq!(answer.sends.len(), 1 + 13 + PACKED_UP_TO);
        assert!(matches!(&answer.commands[..], [wit::Command::Send(s)]
            if s.conn == 1 && matches!(&s.payload, wit::Payload::Binary(b) if *b == long)));
    }
}
