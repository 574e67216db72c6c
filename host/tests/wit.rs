//! The SDKs (the Rust crate, the npm package) carry their own copies of the contract
//! (so that they can be packaged and published); each must be the contract, byte for
//! byte.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;

#[test]
fn the_sdk_carries_the_contract_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let contract = std::fs::read_to_string(root.join("wit/plugin.wit")).unwrap();
    for copy in ["plugin-sdk/wit/plugin.wit", "plugin-sdk/js/wit/plugin.wit"] {
        let vendored = std::fs::read_to_string(root.join(copy)).unwrap();
        assert!(
            contract == vendored,
            "{copy} differs from wit/plugin.wit: copy it over (cp wit/plugin.wit {copy})"
        );
    }
}
