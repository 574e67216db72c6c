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
    /// `--sdk` does not name the SDK's folder.
    #[error(
        "{0} is not the wsgate-plugin SDK's folder (no Cargo.toml of package wsgate-plugin there)"
    )]
    NoSdk(PathBuf),
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

/// Where the new crate gets the SDK from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sdk {
    /// A local folder (`path = "…"`).
    Path(PathBuf),
    /// A version from the registry (`"0.1"`).
    Version(String),
}

impl Sdk {
    /// The SDK at `dir`, which must be the SDK's folder.
    ///
    /// # Errors
    /// [`ScaffoldError::NoSdk`] if `dir` has no `Cargo.toml` of package `wsgate-plugin`.
    pub fn at(dir: &Path) -> Result<Self, ScaffoldError> {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if !manifest.contains("name = \"wsgate-plugin\"") {
            return Err(ScaffoldError::NoSdk(dir.to_path_buf()));
        }
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        Ok(Self::Path(dir))
    }

    /// Without `--sdk`: the SDK this gateway was built from when its folder is still
    /// there (a clone of the repository), else the SDK's version from the registry.
    pub fn default_for_this_build() -> Self {
        Self::at(&bundled_sdk()).unwrap_or_else(|_| {
            let version = env!("CARGO_PKG_VERSION");
            let minor = version
                .rsplit_once('.')
                .map_or(version, |(major_minor, _)| major_minor);
            Self::Version(minor.to_owned())
        })
    }

    /// The dependency's value in `Cargo.toml`.
    fn dependency(&self) -> String {
        match self {
            Self::Path(dir) => format!(
                "{{ path = \"{}\" }}",
                dir.display().to_string().replace('\\', "/")
            ),
            Self::Version(version) => format!("\"{version}\""),
        }
    }
}

fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64
}

fn render(template: &str, name: &str, sdk: &Sdk) -> String {
    template
        .replace("{name}", name)
        .replace("{lib}", &name.replace('-', "_"))
        .replace("{sdk}", &sdk.dependency())
}

/// Creates the crate `name` in the folder `parent`, depending on `sdk`; returns the
/// new folder.
///
/// # Errors
/// [`ScaffoldError`] if the name is not a crate name, the folder exists, or a file
/// cannot be written.
pub fn new_plugin(parent: &Path, name: &str, sdk: &Sdk) -> Result<PathBuf, ScaffoldError> {
    if !valid(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let files = [
        (".gitignore", "/target\n"),
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
            std::fs::write(path, render(template, name, sdk))
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
        let text = render("{name} {lib} {sdk}", "my-plugin", &Sdk::Path("/sdk".into()));
        assert_eq!(text, "my-plugin my_plugin { path = \"/sdk\" }");
        let text = render("{sdk}", "p", &Sdk::Version("0.1".into()));
        assert_eq!(text, "\"0.1\"");
    }

    #[test]
    fn the_sdk_must_be_the_sdk() {
        assert!(matches!(
            Sdk::at(Path::new("/nonexistent")),
            Err(ScaffoldError::NoSdk(_))
        ));
        assert!(matches!(Sdk::at(&bundled_sdk()), Ok(Sdk::Path(_))));
        assert!(
            matches!(Sdk::default_for_this_build(), Sdk::Path(_)),
            "built from this clone"
        );
    }
}
