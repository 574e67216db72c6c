//! The host's own types ([`crate::model`]) to and from the bindings of each contract
//! version, at the plugin boundary: nothing above `plugin` sees a generated type.
//!
//! - `v0_1`: contract 0.1.0 (one hook per event, connection ids only).
//! - `v0_2`: contract 0.2.0 (events with their connection's context, rooms, users,
//!   attachments, timers).

pub(crate) mod v0_1;
pub(crate) mod v0_2;

use super::bindings;
use crate::model::Command;

/// The commands one hook call returned, converted as they are taken: no second list
/// is allocated on the hot path.
pub(crate) enum Commands {
    /// From a 0.1.0 plugin.
    V0_1(std::vec::IntoIter<bindings::v0_1::types::Command>),
    /// From a 0.2.0 plugin.
    V0_2(std::vec::IntoIter<bindings::v0_2::types::Command>),
    /// Converted already (several 0.1.0 calls).
    Converted(std::vec::IntoIter<Command>),
}

impl Iterator for Commands {
    type Item = Command;

    fn next(&mut self) -> Option<Command> {
        match self {
            Self::V0_1(c) => c.next().map(Command::from),
            Self::V0_2(c) => c.next().map(Command::from),
            Self::Converted(c) => c.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::V0_1(c) => c.size_hint(),
            Self::V0_2(c) => c.size_hint(),
            Self::Converted(c) => c.size_hint(),
        }
    }
}

impl ExactSizeIterator for Commands {}
