//! Connection ids that are unique across a cluster: a node's number in bits 40 to
//! 52, its own counter below. Every id stays under 2^53, so JavaScript clients
//! read it exactly from JSON; a send needs no lookup to find the connection's node.
//! A single node (no cluster) is node 0: its ids are 1, 2, 3, …

use crate::model::ConnId;

/// Where a node's number starts in a connection id.
const NODE_SHIFT: u32 = 40;

/// The highest node number (13 bits).
pub(crate) const MAX_NODE: u16 = (1 << 13) - 1;

/// The first connection id node `node` hands out.
pub(crate) fn first_id(node: u16) -> ConnId {
    (u64::from(node.min(MAX_NODE)) << NODE_SHIFT) | 1
}

/// The node a connection id was handed out by (any `u64` has one: an id a plugin
/// made up goes to a node that may not exist, and is dropped there).
pub(crate) fn node_of(conn: ConnId) -> u16 {
    // Masked to 13 bits: the cast cannot lose anything.
    ((conn >> NODE_SHIFT) & u64::from(MAX_NODE)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_node_and_stay_exact_in_javascript() {
        assert_eq!(first_id(0), 1);
        assert_eq!(node_of(first_id(0) + 1000), 0);
        for node in [1, 2, 77, MAX_NODE] {
            let id = first_id(node);
            assert_eq!(node_of(id), node);
            assert_eq!(node_of(id + (1 << 39)), node, "a node's whole range");
            assert!(id + ((1 << NODE_SHIFT) - 2) < 1 << 53, "exact as an f64");
        }
        assert_ne!(first_id(1), first_id(2));
    }
}
