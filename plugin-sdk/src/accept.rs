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
        /// Who the client is: the connection's user, for
        /// [`Command::send_user`](crate::Command::send_user).
        user: Option<String>,
        /// The connection's first attachment.
        attachment: Vec<u8>,
        /// The rooms the connection starts in.
        rooms: Vec<String>,
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
        Self::Allow {
            subprotocol: None,
            user: None,
            attachment: Vec::new(),
            rooms: Vec::new(),
        }
    }

    /// Open the connection and select `protocol` (one the client offered).
    pub fn allow_subprotocol(protocol: impl Into<String>) -> Self {
        Self::allow().with(|a| {
            if let Self::Allow { subprotocol, .. } = a {
                *subprotocol = Some(protocol.into());
            }
        })
    }

    fn with(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }

    /// This answer, naming the connection's `user` (an allow only).
    ///
    /// ```
    /// # use wsgate_plugin::Accept;
    /// let answer = Accept::allow().user("alice").join("lobby").attachment(b"{}".to_vec());
    /// # assert!(matches!(answer, Accept::Allow { ref rooms, .. } if rooms == &["lobby"]));
    /// ```
    #[must_use]
    pub fn user(self, name: impl Into<String>) -> Self {
        self.with(|a| {
            if let Self::Allow { user, .. } = a {
                *user = Some(name.into());
            }
        })
    }

    /// This answer, with the connection's first attachment (an allow only).
    #[must_use]
    pub fn attachment(self, data: impl Into<Vec<u8>>) -> Self {
        self.with(|a| {
            if let Self::Allow { attachment, .. } = a {
                *attachment = data.into();
            }
        })
    }

    /// This answer, putting the connection in `room` from the start (an allow only).
    #[must_use]
    pub fn join(self, room: impl Into<String>) -> Self {
        self.with(|a| {
            if let Self::Allow { rooms, .. } = a {
                rooms.push(room.into());
            }
        })
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
            Accept::Allow {
                subprotocol,
                user,
                attachment,
                rooms,
            } => wit::AcceptDecision::Allow(wit::Allow {
                subprotocol,
                user,
                attachment,
                rooms,
            }),
            Accept::Deny { status, reason } => {
                wit::AcceptDecision::Deny(wit::Deny { status, reason })
            }
        }
    }
}
