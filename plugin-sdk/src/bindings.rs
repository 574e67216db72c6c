//! The wit-bindgen output for `wit/plugin.wit`, hidden from plugin authors.

/// Generated bindings (the WIT world `wsgate:plugin/plugin-packed`: `plugin` and the
/// packed hot path).
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin-packed",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "::wsgate_plugin::__private::bindings",
        runtime_path: "::wsgate_plugin::__private::wit_bindgen::rt",
    });
}

pub(crate) use bindings::exports::wsgate::plugin::handler as wit_handler;
pub(crate) use bindings::exports::wsgate::plugin::packed as wit_packed;
pub(crate) use bindings::wsgate::plugin::types as wit;
