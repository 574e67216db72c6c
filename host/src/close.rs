//! Every close code and reason the gateway sends, named once (tungstenite's
//! [`CloseCode`] for the codes), and the rules for codes and reasons a plugin asks
//! for (RFC 6455 §7.4).

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A close code with the reason the gateway sends beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Close {
    /// The code.
    pub(crate) code: CloseCode,
    /// The reason (at most [`MAX_REASON_BYTES`]).
    pub(crate) reason: &'static str,
}

impl Close {
    /// The code as a number.
    pub(crate) fn code(self) -> u16 {
        self.code.into()
    }
}

/// The gateway shuts down.
pub(crate) const SHUTDOWN: Close = Close {
    code: CloseCode::Away,
    reason: "going away",
};
/// The app was removed from the config.
pub(crate) const APP_REMOVED: Close = Close {
    code: CloseCode::Away,
    reason: "app removed",
};
/// The client answered no ping within `pong_timeout_ms`.
pub(crate) const PING_TIMEOUT: Close = Close {
    code: CloseCode::Away,
    reason: "no answer to ping",
};
/// The client sent no message within `idle_timeout_ms`.
pub(crate) const IDLE_TIMEOUT: Close = Close {
    code: CloseCode::Away,
    reason: "idle timeout",
};
/// The client broke RFC 6455.
pub(crate) const PROTOCOL_ERROR: Close = Close {
    code: CloseCode::Protocol,
    reason: "protocol error",
};
/// What tungstenite sends, and hands over in place of the client's frame, when a
/// client's close code is one a peer may not send.
pub(crate) const REPLACED_CLOSE: Close = Close {
    code: CloseCode::Protocol,
    reason: "Protocol violation",
};
/// A text message was not UTF-8.
pub(crate) const INVALID_UTF8: Close = Close {
    code: CloseCode::Invalid,
    reason: "invalid UTF-8",
};
/// The client's outbound queue overflowed (`slow_consumer = "close"`).
pub(crate) const SLOW_CONSUMER: Close = Close {
    code: CloseCode::Policy,
    reason: "slow consumer",
};
/// A message or frame was over `max_message_size` / `max_frame_size`.
pub(crate) const MESSAGE_TOO_BIG: Close = Close {
    code: CloseCode::Size,
    reason: "message too big",
};
/// The connection failed in a way the gateway has no better code for.
pub(crate) const INTERNAL_ERROR: Close = Close {
    code: CloseCode::Error,
    reason: "internal error",
};
/// The plugin trapped (or misbehaved) on this connection's event.
pub(crate) const PLUGIN_TRAPPED: Close = Close {
    code: CloseCode::Error,
    reason: "plugin error",
};
/// The app's crash-loop breaker tripped.
pub(crate) const APP_FAILED: Close = Close {
    code: CloseCode::Error,
    reason: "app failed",
};

/// The code `on-close` sees when the client's close frame had no code (1005).
pub(crate) const NO_STATUS: u16 = 1005;
/// The code `on-close` sees when the transport dropped without a close frame (1006).
pub(crate) const ABNORMAL: u16 = 1006;

/// Longest close reason in bytes: a close frame's payload is at most 125 bytes, two of
/// which hold the code.
pub(crate) const MAX_REASON_BYTES: usize = 123;

/// The code sent when a plugin asks for one a server may not send.
pub(crate) const FALLBACK_CODE: u16 = 1011;

/// Whether a server may put `code` in a close frame: the codes RFC 6455 and the IANA
/// registry define for sending (1000-1003, 1007-1014) and the ranges for libraries
/// and applications (3000-4999). 1004-1006 and 1015 are reserved and must never be
/// sent; other values are invalid.
pub(crate) fn server_may_send(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// `reason` cut to at most [`MAX_REASON_BYTES`], at a character boundary.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    crate::model::cut(reason, MAX_REASON_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_out_of_range_codes_may_not_be_sent() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            assert!(!server_may_send(code), "{code}");
        }
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000,
            4999,
        ] {
            assert!(server_may_send(code), "{code}");
        }
    }

    #[test]
    fn reasons_are_cut_at_a_char_boundary() {
        assert_eq!(truncate_reason("bye"), "bye");
        let exact = "x".repeat(MAX_REASON_BYTES);
        assert_eq!(truncate_reason(&exact), exact);
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(&long);
        assert!(cut.len() <= MAX_REASON_BYTES && cut.len() >= MAX_REASON_BYTES - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
