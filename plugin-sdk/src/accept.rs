//! The handshake hook: the [`Request`] a client sent and the [`Accept`] answer.

use crate::bindings::wit;

/// The HTTP upgrade request of a client that wants to connect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The path, for example `/ws`.
    pub path: String,
    /// The raw query string without `?`, empty when there is none.
    pub query: String,
    /// Every header as (name in lower case, value), in the order received.
    pub headers: Vec<(String, String)>,
    /// The client's address, `ip:port`.
    pub remote_addr: String,
    /// The subprotocols the client offered, in order.
    pub subprotocols: Vec<String>,
}

impl Request {
    /// The value of the first header called `name` (case-insensitive).
    ///
    /// ```
    /// # use wsgate_plugin::Request;
    /// let req = Request { headers: vec![("origin".into(), "https://a.example".into())], ..Default::default() };
    /// assert_eq!(req.header("Origin"), Some("https://a.example"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded value of the first query parameter called `name`.
    ///
    /// ```
    /// # use wsgate_plugin::Request;
    /// let req = Request { query: "room=a%20b&token=x".into(), ..Default::default() };
    /// assert_eq!(req.query_param("room").as_deref(), Some("a b"));
    /// assert_eq!(req.query_param("missing"), None);
    /// ```
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

impl From<wit::Request> for Request {
    fn from(r: wit::Request) -> Self {
        Self {
            path: r.path,
            query: r.query,
            headers: r.headers,
            remote_addr: r.remote_addr,
            subprotocols: r.subprotocols,
        }
    }
}

/// The answer of [`Plugin::on_accept`](crate::Plugin::on_accept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Open the connection.
    Allow {
        /// The subprotocol to select; must be one the client offered.
        subprotocol: Option<String>,
    },
    /// Refuse it with an HTTP error.
    Deny {
        /// HTTP status, 400 to 599.
        status: u16,
        /// The response body.
        reason: String,
    },
}

impl Accept {
    /// Open the connection without a subprotocol.
    pub fn allow() -> Self {
        Self::Allow { subprotocol: None }
    }

    /// Open the connection and select `protocol` (one the client offered).
    pub fn allow_subprotocol(protocol: impl Into<String>) -> Self {
        Self::Allow {
            subprotocol: Some(protocol.into()),
        }
    }

    /// Refuse the connection with HTTP `status` (400 to 599) and `reason` as the body.
    pub fn deny(status: u16, reason: impl Into<String>) -> Self {
        Self::Deny {
            status,
            reason: reason.into(),
        }
    }
}

impl From<Accept> for wit::AcceptDecision {
    fn from(a: Accept) -> Self {
        match a {
            Accept::Allow { subprotocol } => wit::AcceptDecision::Allow(wit::Allow { subprotocol }),
            Accept::Deny { status, reason } => {
                wit::AcceptDecision::Deny(wit::Deny { status, reason })
            }
        }
    }
}
