//! The SDK crate carries its own copy of the contract (so that it can be packaged and
//! published); it must be the contract, byte for byte.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;

#[test]
fn the_sdk_carries_the_contract_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let contract = std::fs::read_to_string(root.join("wit/plugin.wit")).unwrap();
    let vendored = std::fs::read_to_string(root.join("plugin-sdk/wit/plugin.wit")).unwrap();
    assert!(
        contract == vendored,
        "plugin-sdk/wit/plugin.wit differs from wit/plugin.wit: copy it over \
         (cp wit/plugin.wit plugin-sdk/wit/plugin.wit)"
    );
}
