//! `wsgate new NAME`: a plugin crate from a template: the SDK dependency, a
//! ten-line handler with a unit test, and a config that serves it.

use std::path::{Path, PathBuf};

/// Why a plugin crate cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a crate name.
    #[error(
        "{0:?} is not a valid plugin name: use ASCII letters, digits, '-' and '_', starting with a letter"
    )]
    BadName(String),
    /// Something is in the way.
    #[error("{0} already exists: choose another name or remove it")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The SDK this gateway was built with (its source folder).
pub fn bundled_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("plugin-sdk")
}

fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64
}

fn render(template: &str, name: &str, sdk: &Path) -> String {
    template
        .replace("{name}", name)
        .replace("{lib}", &name.replace('-', "_"))
        .replace("{sdk}", &sdk.display().to_string().replace('\\', "/"))
}

/// Creates the crate `name` in the folder `parent`, depending on the SDK at `sdk`;
/// returns the new folder.
///
/// # Errors
/// [`ScaffoldError`] if the name is not a crate name, the folder exists, or a file
/// cannot be written.
pub fn new_plugin(parent: &Path, name: &str, sdk: &Path) -> Result<PathBuf, ScaffoldError> {
    if !valid(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let sdk = std::path::absolute(sdk).unwrap_or_else(|_| sdk.to_path_buf());
    let files = [
        (
            "Cargo.toml",
            include_str!("../templates/plugin/Cargo.toml.tmpl"),
        ),
        (
            "src/lib.rs",
            include_str!("../templates/plugin/lib.rs.tmpl"),
        ),
        (
            "wsgate.toml",
            include_str!("../templates/plugin/wsgate.toml.tmpl"),
        ),
    ];
    for (file, template) in files {
        let path = dir.join(file);
        let write = |path: &Path| -> std::io::Result<()> {
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)?;
            }
            std::fs::write(path, render(template, name, &sdk))
        };
        write(&path).map_err(|source| ScaffoldError::Write { path, source })?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_crate_names() {
        for good in ["echo", "my-plugin", "chat_2"] {
            assert!(valid(good), "{good}");
        }
        for bad in ["", "2fast", "-x", "a b", "a/b", "ü", "../x"] {
            assert!(!valid(bad), "{bad}");
        }
    }

    #[test]
    fn templates_are_filled_in() {
        let text = render("{name} {lib} {sdk}", "my-plugin", Path::new("/sdk"));
        assert_eq!(text, "my-plugin my_plugin /sdk");
    }
}
