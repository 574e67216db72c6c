use wsgate_plugin::{Command, Conn, ConnectionId, Plugin, testing};

use super::*;

const A: u64 = 1;
const B: u64 = 2;
const C: u64 = 3;

/// The chat with the SDK's stand-in for the gateway: every hook is handed the
/// connection as the gateway holds it, and what the commands change (rooms,
/// attachments) is applied, as the gateway would.
struct Harness {
    chat: Chat,
}

impl Harness {
    fn new() -> Self {
        testing::reset();
        Self {
            chat: Chat::default(),
        }
    }

    fn run(&mut self, commands: Vec<Command>) -> Vec<Command> {
        testing::apply(&commands);
        commands
    }

    fn connect(&mut self, id: u64) -> Vec<Command> {
        testing::connect(&Conn::new(id));
        let out = self.chat.on_connect(testing::conn(id));
        self.run(out)
    }

    fn send(&mut self, id: u64, text: &str) -> Vec<Command> {
        let out = self.chat.on_message(testing::conn(id), text.into());
        self.run(out)
    }

    fn close(&mut self, id: u64) -> Vec<Command> {
        let conn = testing::conn(id);
        testing::disconnect(ConnectionId(id));
        self.chat.on_close(conn, 1000, String::new())
    }
}

/// The messages among `commands` (sends and publishes), without the bookkeeping
/// (joins, leaves, attachments).
fn messages(commands: &[Command]) -> Vec<Command> {
    commands
        .iter()
        .filter(|c| matches!(c, Command::Send { .. } | Command::Publish { .. }))
        .cloned()
        .collect()
}

fn to_room(room: &str, json: &str) -> Vec<Command> {
    vec![Command::publish(room, json)]
}

fn error_message(commands: &[Command]) -> String {
    match commands {
        [
            Command::Send {
                payload: wsgate_plugin::Payload::Text(text),
                ..
            },
        ] => {
            let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            assert_eq!(v["type"], "error", "{text}");
            v["message"].as_str().unwrap_or_default().to_owned()
        }
        other => panic!("expected one error reply, got {other:?}"),
    }
}

#[test]
fn connect_puts_the_newcomer_in_the_lobby_and_welcomes_it_alone() {
    let mut h = Harness::new();
    assert_eq!(
        messages(&h.connect(A)),
        [Command::send(
            ConnectionId(A),
            r#"{"type":"welcome","message":"Connected!"}"#
        )]
    );
    assert_eq!(wsgate_plugin::host::rooms_of(ConnectionId(A)), [LOBBY]);
}

#[test]
fn join_is_published_to_the_room_and_names_later_messages() {
    let mut h = Harness::new();
    h.connect(A);
    assert_eq!(
        messages(&h.send(A, r#"{"type":"join","username":"Alice"}"#)),
        to_room(LOBBY, r#"{"type":"join","user":"Alice"}"#)
    );
    assert_eq!(
        h.send(A, r#"{"type":"message","text":"hi"}"#),
        to_room(LOBBY, r#"{"type":"message","user":"Alice","text":"hi"}"#)
    );
    assert_eq!(
        h.send(A, "plain words"),
        to_room(
            LOBBY,
            r#"{"type":"message","user":"Alice","text":"plain words"}"#
        )
    );
}

#[test]
fn a_join_with_a_room_moves_the_user_there_and_speaks_there() {
    let mut h = Harness::new();
    h.connect(A);
    let out = h.send(A, r#"{"type":"join","username":"Alice","room":"rust"}"#);
    assert_eq!(
        messages(&out),
        to_room("rust", r#"{"type":"join","user":"Alice"}"#)
    );
    assert_eq!(wsgate_plugin::host::rooms_of(ConnectionId(A)), ["rust"]);
    assert_eq!(
        h.send(A, "hi"),
        to_room("rust", r#"{"type":"message","user":"Alice","text":"hi"}"#)
    );
}

#[test]
fn move_says_leave_to_the_old_room_and_join_to_the_new_one() {
    let mut h = Harness::new();
    h.connect(A);
    h.send(A, r#"{"type":"join","username":"Alice"}"#);
    assert_eq!(
        messages(&h.send(A, r#"{"type":"move","room":"go"}"#)),
        [
            Command::publish(LOBBY, r#"{"type":"leave","user":"Alice"}"#),
            Command::publish("go", r#"{"type":"join","user":"Alice"}"#),
        ]
    );
    assert_eq!(wsgate_plugin::host::rooms_of(ConnectionId(A)), ["go"]);
    assert!(h.send(A, r#"{"type":"move","room":"go"}"#).is_empty());
}

#[test]
fn bad_room_names_get_an_error() {
    let mut h = Harness::new();
    h.connect(A);
    let long = "r".repeat(MAX_ROOM_CHARS + 1);
    for room in ["", "with space", "ü", long.as_str()] {
        let join = serde_json::json!({"type": "join", "username": "A", "room": room});
        assert!(
            error_message(&h.send(A, &join.to_string())).contains("room"),
            "{room:?}"
        );
        let mv = serde_json::json!({"type": "move", "room": room});
        assert!(
            error_message(&h.send(A, &mv.to_string())).contains("room"),
            "{room:?}"
        );
    }
    let longest = "r".repeat(MAX_ROOM_CHARS);
    let mv = serde_json::json!({"type": "move", "room": longest});
    assert_eq!(messages(&h.send(A, &mv.to_string())).len(), 2);
}

#[test]
fn users_who_have_not_joined_are_anonymous() {
    let mut h = Harness::new();
    h.connect(B);
    assert_eq!(
        h.send(B, "hello"),
        to_room(
            LOBBY,
            r#"{"type":"message","user":"Anonymous","text":"hello"}"#
        )
    );
    assert_eq!(
        h.close(B),
        to_room(LOBBY, r#"{"type":"leave","user":"Anonymous"}"#)
    );
}

#[test]
fn text_that_is_not_a_json_object_is_sent_as_it_stands() {
    let mut h = Harness::new();
    h.connect(A);
    for raw in ["42", "\"quoted\"", "{not json", "[1,2]"] {
        let json = format!(
            r#"{{"type":"message","user":"Anonymous","text":{}}}"#,
            serde_json::json!(raw)
        );
        assert_eq!(h.send(A, raw), to_room(LOBBY, &json), "{raw}");
    }
}

#[test]
fn output_is_escaped_json() {
    let mut h = Harness::new();
    h.connect(A);
    h.send(A, r#"{"type":"join","username":"Bob \"the\" <b>"}"#);
    let out = h.send(A, "line\n\"two\"\\");
    let [
        Command::Publish {
            payload: wsgate_plugin::Payload::Text(text),
            ..
        },
    ] = out.as_slice()
    else {
        panic!("expected a publish, got {out:?}");
    };
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    assert_eq!(v["user"], "Bob \"the\" <b>");
    assert_eq!(v["text"], "line\n\"two\"\\");
}

#[test]
fn leave_names_the_user_to_their_room() {
    let mut h = Harness::new();
    h.connect(A);
    h.send(A, r#"{"type":"join","username":"Alice","room":"rust"}"#);
    assert_eq!(
        h.close(A),
        to_room("rust", r#"{"type":"leave","user":"Alice"}"#)
    );
}

#[test]
fn bad_input_gets_an_error_reply_to_the_sender_only() {
    let mut h = Harness::new();
    h.connect(B);
    let too_long_name = "x".repeat(MAX_USERNAME_CHARS + 1);
    let too_long_text = "y".repeat(MAX_TEXT_CHARS + 1);
    let cases = [
        r#"{"type":"join"}"#.to_owned(),
        r#"{"type":"join","username":42}"#.to_owned(),
        r#"{"type":"dance"}"#.to_owned(),
        r#"{"text":"no type"}"#.to_owned(),
        r#"{"type":"join","username":"   "}"#.to_owned(),
        r#"{"type":"join","username":"a\u0007b"}"#.to_owned(),
        format!(r#"{{"type":"join","username":"{too_long_name}"}}"#),
        r#"{"type":"message","text":""}"#.to_owned(),
        String::new(),
        too_long_text,
    ];
    for input in cases {
        let out = h.send(B, &input);
        assert!(!error_message(&out).is_empty(), "{input}");
        assert!(
            matches!(&out[..], [Command::Send { conn, .. }] if *conn == ConnectionId(B)),
            "{input}"
        );
    }
    assert_eq!(
        h.send(B, "still anonymous"),
        to_room(
            LOBBY,
            r#"{"type":"message","user":"Anonymous","text":"still anonymous"}"#
        ),
        "no bad join was recorded"
    );
}

#[test]
fn names_at_the_limits_are_accepted() {
    let mut h = Harness::new();
    h.connect(A);
    let name = "é".repeat(MAX_USERNAME_CHARS);
    let join = serde_json::json!({"type": "join", "username": name}).to_string();
    assert!(matches!(
        &messages(&h.send(A, &join))[..],
        [Command::Publish { .. }]
    ));
    let text = "é".repeat(MAX_TEXT_CHARS);
    assert!(matches!(&h.send(A, &text)[..], [Command::Publish { .. }]));
}

#[test]
fn a_second_join_is_refused() {
    let mut h = Harness::new();
    h.connect(A);
    h.send(A, r#"{"type":"join","username":"Alice"}"#);
    let out = h.send(A, r#"{"type":"join","username":"Eve"}"#);
    assert_eq!(error_message(&out), "already joined as \"Alice\"");
}

#[test]
fn binary_messages_get_an_error() {
    let mut h = Harness::new();
    h.connect(A);
    assert!(error_message(&h.chat.on_binary(testing::conn(A), vec![1, 2])).contains("binary"));
}

#[test]
fn names_live_in_the_gateway_so_a_fresh_instance_knows_them() {
    let mut h = Harness::new();
    h.connect(A);
    h.send(A, r#"{"type":"join","username":"Alice","room":"rust"}"#);
    // A trap or a reload: a new plugin value, the gateway's state as it was.
    h.chat = Chat::default();
    assert_eq!(
        h.send(A, "still here"),
        to_room(
            "rust",
            r#"{"type":"message","user":"Alice","text":"still here"}"#
        )
    );
    // Its own snapshot is empty state, and a foreign one is refused.
    assert_eq!(h.chat.snapshot(), b"{}");
    assert!(h.chat.restore(b"not a snapshot").is_err());
}

#[test]
fn who_lists_the_joined_users_of_the_room_and_counts_the_others_to_the_sender_only() {
    let mut h = Harness::new();
    for id in [A, B, C, 4] {
        h.connect(id);
    }
    h.send(A, r#"{"type":"join","username":"Alice"}"#);
    h.send(4, r#"{"type":"join","username":"Dora","room":"other"}"#);
    assert_eq!(
        h.send(B, r#"{"type":"who"}"#),
        [Command::send(
            ConnectionId(B),
            r#"{"type":"users","users":["Alice"],"anonymous":2}"#
        )]
    );
    h.close(C);
    assert_eq!(
        h.send(B, r#"{"type":"who"}"#),
        [Command::send(
            ConnectionId(B),
            r#"{"type":"users","users":["Alice"],"anonymous":1}"#
        )]
    );
}
