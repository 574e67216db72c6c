//! Static files of an app (`static = "dir"`), served at the gateway's root: the demo's
//! chat page. Safe by construction: decoded paths with `..`, backslashes or NUL are
//! refused, files must resolve (links included) inside the folder, and only files are
//! served, with their content type.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

use super::response::Body;
use crate::config::StaticSource;

/// The file a request path names, relative to the folder, or `None` if the path may
/// not name a file (`..`, `\`, NUL, invalid encoding). `/` and paths ending in `/`
/// name their `index.html`.
fn relative_path(path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    if decoded.contains(['\\', '\0']) {
        return None;
    }
    let mut parts = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s => parts.push(s),
        }
    }
    if decoded.ends_with('/') || parts.is_empty() {
        parts.push("index.html");
    }
    Some(parts.join("/"))
}

fn content_type(name: &str) -> HeaderValue {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || mime.subtype() == mime_guess::mime::JAVASCRIPT
        || mime.subtype() == mime_guess::mime::JSON;
    let value = if text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

fn not_found() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

async fn read_inside(root: &Path, name: &str) -> Option<Vec<u8>> {
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let file: PathBuf = tokio::fs::canonicalize(root.join(name)).await.ok()?;
    if !file.starts_with(&root) || !tokio::fs::metadata(&file).await.ok()?.is_file() {
        return None;
    }
    tokio::fs::read(&file).await.ok()
}

/// Answers a GET (or HEAD, without the body) for `path` from `source`.
pub(crate) async fn serve(source: &StaticSource, path: &str, head: bool) -> Response<Body> {
    let Some(name) = relative_path(path) else {
        return not_found();
    };
    let bytes = match source {
        StaticSource::Dir(root) => read_inside(root, &name).await.map(Bytes::from),
        StaticSource::Embedded(files) => files
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(_, bytes)| Bytes::from_static(bytes)),
    };
    let Some(bytes) = bytes else {
        return not_found();
    };
    let length = bytes.len();
    let mut response = Response::new(Full::new(if head { Bytes::new() } else { bytes }));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type(&name));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if head {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_files_inside_the_folder_only() {
        assert_eq!(relative_path("/").as_deref(), Some("index.html"));
        assert_eq!(relative_path("/css/").as_deref(), Some("css/index.html"));
        assert_eq!(relative_path("/chat.js").as_deref(), Some("chat.js"));
        assert_eq!(
            relative_path("/a/./b%20c.txt").as_deref(),
            Some("a/b c.txt")
        );
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/a%5cb",
            "/a%00b",
            "/%ff",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("chat.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("chat.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("logo.png"), "image/png");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }
}
