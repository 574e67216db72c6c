//! A `handle` call of several events, handled as if each event had come in its own
//! call (contract 0.2's `host.commit`): the commands of the events handled so far are
//! committed before any read of the host, so that the read sees them; and an event
//! whose connection an earlier event's commands changed (`set-attachment`, `close`,
//! `close-user`) gets its context read again first, or is dropped if the connection
//! is no longer open, as the gateway would have done between two calls.
//!
//! The gateway hands several events per call only to a plugin that imports `commit`;
//! every plugin built with this SDK does (the adapter calls it), and keeps this
//! promise.

use std::cell::RefCell;

use crate::bindings::wit;

/// The two host imports a call of several events needs; the component's own in a
/// WebAssembly build, a stand-in in unit tests.
pub(crate) trait Link {
    /// `host.commit`: runs `commands` now, as the answer to the first `handled` events.
    fn commit(handled: u32, commands: &[wit::Command]);
    /// `host.connection-info` of `conn`: `None` unless it is open, else its attachment.
    fn attachment_if_open(conn: u64) -> Option<Vec<u8>>;
}

/// The component's own imports.
pub(crate) struct Imports;

impl Link for Imports {
    fn commit(handled: u32, commands: &[wit::Command]) {
        crate::bindings::bindings::wsgate::plugin::host::commit(handled, commands);
    }

    fn attachment_if_open(conn: u64) -> Option<Vec<u8>> {
        crate::bindings::bindings::wsgate::plugin::host::connection_info(conn)
            .filter(|info| info.open)
            .map(|info| info.attachment)
    }
}

/// The call in progress.
#[derive(Default)]
struct Call {
    /// Events whose commands are committed or pending.
    handled: u32,
    /// Commands not committed yet.
    pending: Vec<wit::Command>,
    /// Connections the call's commands set the attachment of or closed.
    touched: Vec<u64>,
    /// Users the call's commands closed.
    closed_users: Vec<String>,
}

impl Call {
    /// Whether an earlier command of the call changed `conn`'s context.
    fn touched(&self, conn: &wit::Connection) -> bool {
        self.touched.contains(&conn.id)
            || conn
                .user
                .as_ref()
                .is_some_and(|user| self.closed_users.contains(user))
    }

    /// Adds one event's commands.
    fn answer(&mut self, commands: impl IntoIterator<Item = wit::Command>) {
        for command in commands {
            match &command {
                wit::Command::SetAttachment(s) => self.touched.push(s.conn),
                wit::Command::Close(c) => self.touched.push(c.conn),
                wit::Command::CloseUser(c) => self.closed_users.push(c.user.clone()),
                _ => {}
            }
            self.pending.push(command);
        }
        self.handled += 1;
    }
}

thread_local! {
    static CALL: RefCell<Option<Call>> = const { RefCell::new(None) };
}

/// Commits what the events handled so far answered, if anything is pending: called
/// before every read of the host. Outside a call of several events, nothing.
pub(crate) fn commit_pending<L: Link>() {
    let taken = CALL.with_borrow_mut(|call| {
        let call = call.as_mut()?;
        if call.pending.is_empty() {
            return None;
        }
        Some((call.handled, std::mem::take(&mut call.pending)))
    });
    if let Some((handled, commands)) = taken {
        L::commit(handled, &commands);
    }
}

/// The connection of a message event (the only events the gateway batches), or
/// of any other event that has one.
fn connection(event: &mut wit::Event) -> Option<&mut wit::Connection> {
    match event {
        wit::Event::Message(m) => Some(&mut m.conn),
        wit::Event::Binary(b) => Some(&mut b.conn),
        wit::Event::Error(e) => Some(&mut e.conn),
        wit::Event::Close(c) => Some(&mut c.conn),
        wit::Event::Connect(_) | wit::Event::Timer(_) | wit::Event::Backend(_) => None,
    }
}

/// Brings `event`'s connection context up to date if an earlier command of the call
/// changed it (committing first, so that the host's answer shows it); `false` if the
/// connection is no longer open.
fn refresh<L: Link>(event: &mut wit::Event) -> bool {
    let Some(conn) = connection(event) else {
        return true;
    };
    if !CALL.with_borrow(|call| call.as_ref().is_some_and(|call| call.touched(conn))) {
        return true;
    }
    commit_pending::<L>();
    match L::attachment_if_open(conn.id) {
        Some(attachment) => {
            conn.attachment = attachment;
            true
        }
        None => false,
    }
}

/// Handles `events` (more than one) with `dispatch`, one after the other, committing
/// as the module says, and returns the commands of the events after the last commit.
pub(crate) fn run<L: Link, C: IntoIterator<Item = wit::Command>>(
    events: Vec<wit::Event>,
    mut dispatch: impl FnMut(wit::Event) -> C,
) -> Vec<wit::Command> {
    // About one command per event, as most answers are: no growing on the way.
    CALL.set(Some(Call {
        pending: Vec::with_capacity(events.len()),
        ..Call::default()
    }));
    for (k, mut event) in events.into_iter().enumerate() {
        if k > 0 && !refresh::<L>(&mut event) {
            // Closed by an earlier event's commands: not handed over.
            CALL.with_borrow_mut(|call| call.as_mut().map(|call| call.answer([])));
            continue;
        }
        let commands = dispatch(event);
        CALL.with_borrow_mut(|call| call.as_mut().map(|call| call.answer(commands)));
    }
    CALL.take().map(|call| call.pending).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that holds attachments and open flags, and logs the commits.
    #[derive(Default)]
    struct Fake {
        commits: Vec<(u32, usize)>,
        closed: Vec<u64>,
        attachments: Vec<(u64, Vec<u8>)>,
    }

    thread_local! {
        static FAKE: RefCell<Fake> = RefCell::new(Fake::default());
    }

    impl Link for Fake {
        fn commit(handled: u32, commands: &[wit::Command]) {
            FAKE.with_borrow_mut(|f| {
                f.commits.push((handled, commands.len()));
                for c in commands {
                    match c {
                        wit::Command::Close(c) => f.closed.push(c.conn),
                        wit::Command::SetAttachment(s) => {
                            f.attachments.push((s.conn, s.data.clone()));
                        }
                        _ => {}
                    }
                }
            });
        }

        fn attachment_if_open(conn: u64) -> Option<Vec<u8>> {
            FAKE.with_borrow(|f| {
                (!f.closed.contains(&conn)).then(|| {
                    f.attachments
                        .iter()
                        .rev()
                        .find(|(c, _)| *c == conn)
                        .map(|(_, a)| a.clone())
                        .unwrap_or_default()
                })
            })
        }
    }

    fn message(conn: u64, text: &str) -> wit::Event {
        wit::Event::Message(wit::MessageEvent {
            conn: wit::Connection {
                id: conn,
                user: None,
                attachment: Vec::new(),
            },
            text: text.into(),
        })
    }

    fn text(conn: u64, text: &str) -> wit::Command {
        crate::Command::send(crate::ConnectionId(conn), text).into()
    }

    /// Answers "attach X" with set-attachment, "close" with close, "read" with a read
    /// of the host (which commits), anything else with its text and the attachment
    /// it saw.
    fn plugin(event: wit::Event) -> Vec<wit::Command> {
        let wit::Event::Message(m) = event else {
            return Vec::new();
        };
        let id = crate::ConnectionId(m.conn.id);
        if let Some(x) = m.text.strip_prefix("attach ") {
            return vec![crate::Command::set_attachment(id, x.as_bytes().to_vec()).into()];
        }
        match m.text.as_str() {
            "close" => vec![crate::Command::close(id, 1000, "bye").into()],
            "read" => {
                commit_pending::<Fake>();
                vec![text(m.conn.id, "read")]
            }
            other => {
                let seen = String::from_utf8_lossy(&m.conn.attachment).into_owned();
                vec![text(m.conn.id, &format!("{other}:{seen}"))]
            }
        }
    }

    fn sent(commands: &[wit::Command]) -> Vec<String> {
        commands
            .iter()
            .filter_map(|c| match c {
                wit::Command::Send(s) => match &s.payload {
                    wit::Payload::Text(t) => Some(t.clone()),
                    wit::Payload::Binary(_) => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_read_commits_what_the_earlier_events_answered_and_nothing_twice() {
        FAKE.set(Fake::default());
        let out = run::<Fake, _>(
            vec![
                message(1, "a"),
                message(2, "b"),
                message(1, "read"),
                message(2, "c"),
            ],
            plugin,
        );
        assert_eq!(FAKE.with_borrow(|f| f.commits.clone()), [(2, 2)]);
        assert_eq!(sent(&out), ["read", "c:"], "the rest is the call's answer");
    }

    #[test]
    fn a_read_in_the_first_event_commits_nothing() {
        FAKE.set(Fake::default());
        let out = run::<Fake, _>(vec![message(1, "read"), message(1, "a")], plugin);
        assert!(FAKE.with_borrow(|f| f.commits.is_empty()));
        assert_eq!(sent(&out), ["read", "a:"]);
    }

    #[test]
    fn an_event_sees_the_attachment_an_earlier_one_set() {
        FAKE.set(Fake::default());
        let out = run::<Fake, _>(
            vec![message(1, "attach x"), message(2, "b"), message(1, "me")],
            plugin,
        );
        assert_eq!(FAKE.with_borrow(|f| f.commits.clone()), [(2, 2)]);
        assert_eq!(sent(&out), ["me:x"]);
    }

    #[test]
    fn an_event_of_a_connection_an_earlier_one_closed_is_dropped() {
        FAKE.set(Fake::default());
        let out = run::<Fake, _>(
            vec![
                message(1, "close"),
                message(1, "after"),
                message(2, "b"),
                message(1, "read"),
            ],
            plugin,
        );
        // Each of conn 1's later messages commits what came before it, then is
        // dropped: "b:" went out in the second commit.
        assert_eq!(FAKE.with_borrow(|f| f.commits.clone()), [(1, 1), (3, 1)]);
        assert!(sent(&out).is_empty(), "{:?}", sent(&out));
    }

    #[test]
    fn an_untouched_connection_costs_no_commit() {
        FAKE.set(Fake::default());
        let out = run::<Fake, _>(
            vec![message(1, "a"), message(2, "b"), message(1, "c")],
            plugin,
        );
        assert!(FAKE.with_borrow(|f| f.commits.is_empty()));
        assert_eq!(sent(&out), ["a:", "b:", "c:"]);
    }
}
