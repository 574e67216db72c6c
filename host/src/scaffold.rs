//! `wsgate new NAME [--lang js]`: a plugin project from a template (a Rust crate, or
//! an npm package for JavaScript): the SDK dependency, a ten-line handler with a
//! unit test, and a config that serves it.

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
    /// An npm package name cannot have capitals.
    #[error("{0:?} is not a valid npm package name: use lowercase letters, digits, '-' and '_'")]
    BadPackageName(String),
    /// `--sdk` does not name the SDK's folder.
    #[error(
        "{0} is not the wsgate-plugin SDK's folder (plugin-sdk: a Cargo.toml of package wsgate-plugin, and js/ for JavaScript)"
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

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A Rust crate (built with cargo for `wasm32-wasip2`).
    Rust,
    /// An npm package (built with the SDK's `wsgate-plugin build`, componentize-qjs).
    JavaScript,
}

/// The componentize-qjs version the JavaScript SDK is built and tested with: a new
/// JavaScript plugin pins the same.
fn componentize_qjs_version() -> String {
    let manifest: serde_json::Value =
        serde_json::from_str(include_str!("../../plugin-sdk/js/package.json")).unwrap_or_default();
    manifest["dependencies"]["componentize-qjs"]
        .as_str()
        .unwrap_or("0.4")
        .to_owned()
}

impl Sdk {
    /// The dependency's value in `package.json`.
    fn npm_dependency(&self) -> String {
        match self {
            Self::Path(dir) => format!("file:{}", dir.join("js").display()).replace('\\', "/"),
            Self::Version(version) => version.clone(),
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
        .replace("{jssdk}", &sdk.npm_dependency())
        .replace("{qjs}", &componentize_qjs_version())
}

/// The files of a new project in `lang`: (path, template).
fn templates(lang: Lang, name: &str) -> Vec<(String, &'static str)> {
    match lang {
        Lang::Rust => vec![
            (".gitignore".into(), "/target\n"),
            (
                "Cargo.toml".into(),
                include_str!("../templates/plugin/Cargo.toml.tmpl"),
            ),
            (
                "src/lib.rs".into(),
                include_str!("../templates/plugin/lib.rs.tmpl"),
            ),
            (
                "wsgate.toml".into(),
                include_str!("../templates/plugin/wsgate.toml.tmpl"),
            ),
        ],
        Lang::JavaScript => vec![
            (
                ".gitignore".into(),
                include_str!("../templates/plugin-js/gitignore.tmpl"),
            ),
            (
                ".npmrc".into(),
                include_str!("../templates/plugin-js/npmrc.tmpl"),
            ),
            (
                "package.json".into(),
                include_str!("../templates/plugin-js/package.json.tmpl"),
            ),
            (
                format!("{name}.js"),
                include_str!("../templates/plugin-js/handler.js.tmpl"),
            ),
            (
                format!("{name}.test.mjs"),
                include_str!("../templates/plugin-js/handler.test.mjs.tmpl"),
            ),
            (
                "wsgate.toml".into(),
                include_str!("../templates/plugin-js/wsgate.toml.tmpl"),
            ),
        ],
    }
}

/// Creates the project `name` in `lang` in the folder `parent`, depending on `sdk`;
/// returns the new folder.
///
/// # Errors
/// [`ScaffoldError`] if the name is not a crate (or npm package) name, the folder
/// exists, the SDK folder has no JavaScript SDK for a JavaScript project, or a file
/// cannot be written.
pub fn new_plugin(
    parent: &Path,
    name: &str,
    sdk: &Sdk,
    lang: Lang,
) -> Result<PathBuf, ScaffoldError> {
    if !valid(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    if lang == Lang::JavaScript && name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ScaffoldError::BadPackageName(name.to_owned()));
    }
    if let (Lang::JavaScript, Sdk::Path(dir)) = (lang, sdk)
        && !dir.join("js/package.json").is_file()
    {
        return Err(ScaffoldError::NoSdk(dir.clone()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let files = templates(lang, name);
    for (file, template) in files {
        let path = dir.join(&file);
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
        let text = render("{jssdk} {qjs}", "p", &Sdk::Path("/sdk".into()));
        assert_eq!(text, format!("file:/sdk/js {}", componentize_qjs_version()));
        assert!(
            componentize_qjs_version().starts_with("0.4"),
            "read from the SDK's package.json"
        );
        assert_eq!(render("{jssdk}", "p", &Sdk::Version("0.1".into())), "0.1");
    }

    #[test]
    fn a_javascript_project_has_its_files_and_a_lowercase_name() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sdk = Sdk::at(&bundled_sdk()).unwrap_or_else(|e| panic!("{e}"));
        let made = new_plugin(dir.path(), "hi-js", &sdk, Lang::JavaScript)
            .unwrap_or_else(|e| panic!("{e}"));
        let handler = std::fs::read_to_string(made.join("hi-js.test.mjs")).unwrap_or_default();
        assert!(handler.contains(r#"from "./hi-js.js""#), "{handler}");
        assert!(matches!(
            new_plugin(dir.path(), "Hi", &sdk, Lang::JavaScript),
            Err(ScaffoldError::BadPackageName(_))
        ));
        let no_js = Sdk::Path(dir.path().to_path_buf());
        assert!(matches!(
            new_plugin(dir.path(), "other", &no_js, Lang::JavaScript),
            Err(ScaffoldError::NoSdk(_))
        ));
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
