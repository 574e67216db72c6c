//! How a connection ended, and what a read error means for it: the close code the
//! gateway answers with, or a transport that is gone.

use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::ProtocolError;

use crate::close::{self, Close, INTERNAL_ERROR, INVALID_UTF8, MESSAGE_TOO_BIG, PROTOCOL_ERROR};
use crate::model::{ConnectionError, ErrorKind};

/// How a connection ended, for `on-error` and `on-close`.
pub(super) struct Ending {
    pub(super) code: u16,
    pub(super) reason: String,
    pub(super) error: Option<ConnectionError>,
    /// The gateway closed for an error and left input unread.
    pub(super) drain: bool,
}

impl Ending {
    pub(super) fn dropped(error: Option<ConnectionError>) -> Self {
        Self {
            code: close::ABNORMAL,
            reason: String::new(),
            error,
            drain: false,
        }
    }
}

/// What a read error means for the connection.
pub(super) enum Failure {
    /// The closing handshake completed.
    Ended,
    /// The transport is gone; nothing can be sent.
    Dropped(Option<ConnectionError>),
    /// The client broke a rule: answer with this close code.
    Close { close: Close, kind: ErrorKind },
}

pub(super) fn failure(e: &WsError) -> Failure {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => Failure::Ended,
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Failure::Dropped(None),
        WsError::Io(io) => Failure::Dropped(Some(ConnectionError {
            kind: ErrorKind::Io,
            message: io.to_string(),
        })),
        WsError::Capacity(_) => Failure::Close {
            close: MESSAGE_TOO_BIG,
            kind: ErrorKind::MessageTooBig,
        },
        WsError::Utf8(_) => Failure::Close {
            close: INVALID_UTF8,
            kind: ErrorKind::InvalidUtf8,
        },
        WsError::Protocol(_) => Failure::Close {
            close: PROTOCOL_ERROR,
            kind: ErrorKind::Protocol,
        },
        _ => Failure::Close {
            close: INTERNAL_ERROR,
            kind: ErrorKind::Protocol,
        },
    }
}
