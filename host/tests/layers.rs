//! The house's layer rule, checked: a module of `host/src` may import only the
//! modules below it (see the `# Layout` of `lib.rs`). A back-import fails this test
//! with the file, the line and the two modules, so no import circle can form.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test states expectations by panicking"
)]

use std::path::{Path, PathBuf};

/// The modules of the library crate, bottom first: each may import only those
/// before it. Keep in step with `lib.rs`.
const LAYERS: &[&str] = &[
    "model",
    "directory",
    "close",
    "config",
    "metrics",
    "tls",
    "scaffold",
    "plugin",
    "bus",
    "check",
    "app",
    "connection",
    "reload",
    "apps",
    "http",
    "server",
    "dev",
];

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs` and
/// `main.rs`, which may import anything).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The code of `text` without `//` comments (doc comments name modules freely).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            // `"ws://…"` in a string is not a comment: cut at the first `//` outside
            // quotes.
            line.match_indices("//")
                .find(|(at, _)| line[..*at].matches('"').count() % 2 == 0)
                .map_or(line, |(at, _)| &line[..at])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named after each `crate::` in `code`, with their line:
/// `crate::a::b`, and each first segment inside `crate::{a::b, c}`.
fn crate_imports(code: &str) -> Vec<(usize, String)> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split at commas outside nested braces.
            let mut depth = 0usize;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push((line, ident(group[start..i].trim())));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push((line, ident(group[start..i].trim())));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push((line, ident(rest)));
        }
    }
    found.retain(|(_, name)| !name.is_empty());
    found
}

/// Every import in `files` (path relative to `src/`, content) that points up or
/// sideways, or climbs out of its module with `super::super`.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut found = Vec::new();
    for (path, text) in files {
        let Some(module) = module_of(path) else {
            continue;
        };
        let Some(own) = rank(&module) else {
            found.push(format!(
                "{}: module `{module}` is not in LAYERS (add it where it belongs)",
                path.display()
            ));
            continue;
        };
        let code = without_comments(text);
        if let Some(at) = code.find("super::super") {
            let line = code[..at].matches('\n').count() + 1;
            found.push(format!(
                "{}:{line}: `super::super` leaves module `{module}`: name the module with `crate::`",
                path.display()
            ));
        }
        for (line, target) in crate_imports(&code) {
            if target == module {
                continue;
            }
            match rank(&target) {
                Some(r) if r < own => {}
                Some(_) => found.push(format!(
                    "{}:{line}: `{module}` imports `{target}`, which is above it (or beside it) in the layers",
                    path.display()
                )),
                None => {}
            }
        }
    }
    found
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), text));
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let found = violations(&files);
    assert!(
        found.is_empty(),
        "imports against the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_back_imports_in_every_form() {
    let file = |path: &str, text: &str| vec![(PathBuf::from(path), text.to_owned())];
    // Downward imports pass.
    assert!(
        violations(&file(
            "app/actor.rs",
            "use crate::plugin::X;\nuse crate::{config::L, model};"
        ))
        .is_empty()
    );
    // Comments and strings do not count.
    assert!(
        violations(&file(
            "config/mod.rs",
            "/// see crate::http\nlet u = \"ws://x\"; // crate::server"
        ))
        .is_empty()
    );
    for (path, text) in [
        ("config/mod.rs", "use crate::http::RESERVED_PATHS;"),
        ("app/registry.rs", "fn f() { crate::connection::serve(); }"),
        ("plugin/mod.rs", "use crate::{model::E, app::{x, y}};"),
        ("model.rs", "use crate::close::Close;"),
        ("app/actor.rs", "use super::super::http::Body;"),
        ("newthing.rs", "use crate::model::X;"),
    ] {
        assert_eq!(violations(&file(path, text)).len(), 1, "{path}: {text}");
    }
}
