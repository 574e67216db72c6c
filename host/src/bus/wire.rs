//! What travels between nodes: one [`Envelope`] per command (so a broadcast's
//! payload is encoded once, not once per receiver), in postcard's compact binary
//! form, on a Redis pub/sub channel chosen by who the command is for.

use serde::{Deserialize, Serialize};

use crate::model::Command;

/// A command for another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The node that sent it (a node ignores its own: it ran the command already).
    pub(crate) origin: u16,
    /// The app whose connections it is for.
    pub(crate) app: String,
    /// The command, run on arrival against the node's own connections only.
    pub(crate) command: Command,
}

/// Why bytes off the wire are not an envelope.
#[derive(Debug, thiserror::Error)]
#[error("a cluster message that cannot be read: {0}")]
pub(crate) struct DecodeError(#[from] postcard::Error);

/// An [`Envelope`] of borrowed parts: the same bytes, without copying the command.
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    origin: u16,
    app: &'a str,
    command: &'a Command,
}

/// The bytes that carry `command` of `app` from node `origin`.
pub(crate) fn encode(origin: u16, app: &str, command: &Command) -> Vec<u8> {
    // Serializing host types to a Vec cannot fail (no maps, no sequences of unknown
    // length).
    postcard::to_allocvec(&EnvelopeRef {
        origin,
        app,
        command,
    })
    .unwrap_or_default()
}

impl Envelope {
    /// The bytes to publish.
    #[cfg(test)]
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode(self.origin, &self.app, &self.command)
    }

    /// Reads what another node published.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(postcard::from_bytes(bytes)?)
    }
}

/// The names of a cluster's keys and channels, all under `PREFIX:`.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    /// The names under `prefix`.
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// Commands for the connections of node `node`.
    pub(crate) fn node_channel(&self, node: u16) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    /// Commands for every connection (or user) of `app`.
    pub(crate) fn app_channel(&self, app: &str) -> String {
        format!("{}:app:{app}", self.prefix)
    }

    /// The pattern of every app's channel (every node serves the same apps).
    pub(crate) fn app_pattern(&self) -> String {
        format!("{}:app:*", self.prefix)
    }

    /// Publishes to `room` of `app` (app names hold no `:`, so this is unambiguous).
    pub(crate) fn room_channel(&self, app: &str, room: &str) -> String {
        format!("{}:room:{app}:{room}", self.prefix)
    }

    /// The counter node numbers are drawn from.
    pub(crate) fn node_seq(&self) -> String {
        format!("{}:node-seq", self.prefix)
    }

    /// Node `node`'s claim on its number (its name, with the heartbeat's expiry).
    pub(crate) fn claim(&self, node: u16) -> String {
        format!("{}:claim:{node}", self.prefix)
    }

    /// The nodes seen: number → name.
    pub(crate) fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// Node `node`'s room sizes: `APP:ROOM` → members (expiring with its heartbeat).
    pub(crate) fn rooms(&self, node: u16) -> String {
        format!("{}:rooms:{node}", self.prefix)
    }
}

/// The field of a room in a node's room sizes.
pub(crate) fn room_field(app: &str, room: &str) -> String {
    format!("{app}:{room}")
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use tokio_tungstenite::tungstenite::Utf8Bytes;

    use super::*;
    use crate::model::Payload;

    #[test]
    fn every_command_kind_comes_back_as_it_went() {
        let commands = [
            Command::Send {
                conn: 1 << 41,
                payload: Payload::Text(Utf8Bytes::from_static("héllo")),
            },
            Command::Publish {
                room: "lobby".into(),
                payload: Payload::Binary(Bytes::from_static(&[0, 255, 7])),
                except: vec![3, 1 << 45],
            },
            Command::CloseUser {
                user: "ada".into(),
                code: 4000,
                reason: "bye".into(),
            },
            Command::SetAttachment {
                conn: 9,
                data: Bytes::from_static(b"{}"),
            },
        ];
        for command in commands {
            let envelope = Envelope {
                origin: 3,
                app: "chat".into(),
                command,
            };
            let bytes = envelope.encode();
            assert_eq!(Envelope::decode(&bytes).ok(), Some(envelope));
        }
    }

    #[test]
    fn a_binary_payload_is_written_as_bytes_not_as_numbers() {
        let data = vec![200u8; 1000];
        let envelope = Envelope {
            origin: 1,
            app: "a".into(),
            command: Command::Broadcast {
                payload: Payload::Binary(Bytes::from(data)),
                except: vec![],
            },
        };
        // 1000 bytes of 200 as varints would take 2000.
        assert!(
            envelope.encode().len() < 1020,
            "{}",
            envelope.encode().len()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"\xff\xff\xff", b"\x01\x01a\x63"] {
            assert!(Envelope::decode(bytes).is_err());
        }
    }
}
