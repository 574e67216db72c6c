//! A test fixture: a component exporting `wsgate:plugin/handler@0.0.1`, a version the
//! gateway does not speak. The gateway must refuse it and name both versions.

#[allow(unsafe_code, missing_docs, unreachable_pub, dead_code, clippy::all)]
mod bindings {
    wit_bindgen::generate!({ world: "plugin", path: "wit" });

    struct Old;

    impl exports::wsgate::plugin::handler::Guest for Old {
        fn on_connect(_conn: u64) -> Vec<u8> {
            Vec::new()
        }
    }

    #[cfg(target_arch = "wasm32")]
    export!(Old with_types_in self);
}
