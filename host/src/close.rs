//! Close codes and reasons a server may send (RFC 6455 §7.4).

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
    if reason.len() <= MAX_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
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
