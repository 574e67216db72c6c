//! A test fixture: a valid component that does not implement the plugin world. The
//! gateway must refuse it with a message that says so.

/// A function, so that the component is not empty.
pub fn answer() -> u32 {
    42
}
