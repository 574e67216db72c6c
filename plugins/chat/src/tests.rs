use wsgate_plugin::{Command, ConnectionId, Plugin};

use super::*;

const A: ConnectionId = ConnectionId(1);
const B: ConnectionId = ConnectionId(2);

fn broadcast(json: &str) -> Vec<Command> {
    vec![Command::broadcast(json)]
}

fn error_to(conn: ConnectionId, message: &str) -> Vec<Command> {
    let json = format!(
        r#"{{"type":"error","message":{}}}"#,
        serde_json::json!(message)
    );
    vec![Command::send(conn, json)]
}

fn say(text: &str) -> Vec<Command> {
    let json = format!(
        r#"{{"type":"message","user":"Anonymous","text":{}}}"#,
        serde_json::json!(text)
    );
    broadcast(&json)
}

fn error_message(commands: &[Command]) -> String {
    match commands {
        [Command::Send { text, .. }] => {
            let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            assert_eq!(v["type"], "error", "{text}");
            v["message"].as_str().unwrap_or_default().to_owned()
        }
        other => panic!("expected one error reply, got {other:?}"),
    }
}

#[test]
fn connect_sends_welcome_to_the_newcomer_only() {
    let mut chat = Chat::default();
    assert_eq!(
        chat.on_connect(A),
        [Command::send(
            A,
            r#"{"type":"welcome","message":"Connected!"}"#
        )]
    );
}

#[test]
fn join_is_broadcast_and_names_later_messages() {
    let mut chat = Chat::default();
    assert_eq!(
        chat.on_message(A, r#"{"type":"join","username":"Alice"}"#.into()),
        broadcast(r#"{"type":"join","user":"Alice"}"#)
    );
    assert_eq!(
        chat.on_message(A, r#"{"type":"message","text":"hi"}"#.into()),
        broadcast(r#"{"type":"message","user":"Alice","text":"hi"}"#)
    );
    assert_eq!(
        chat.on_message(A, "plain words".into()),
        broadcast(r#"{"type":"message","user":"Alice","text":"plain words"}"#)
    );
}

#[test]
fn users_who_have_not_joined_are_anonymous() {
    let mut chat = Chat::default();
    assert_eq!(
        chat.on_message(B, "hello".into()),
        broadcast(r#"{"type":"message","user":"Anonymous","text":"hello"}"#)
    );
    assert_eq!(
        chat.on_close(B, 1000, String::new()),
        broadcast(r#"{"type":"leave","user":"Anonymous"}"#)
    );
}

#[test]
fn text_that_is_not_a_json_object_is_sent_as_it_stands() {
    let mut chat = Chat::default();
    for raw in ["42", "\"quoted\"", "{not json", "[1,2]"] {
        assert_eq!(chat.on_message(A, raw.into()), say(raw), "{raw}");
    }
}

#[test]
fn output_is_escaped_json() {
    let mut chat = Chat::default();
    chat.on_message(A, r#"{"type":"join","username":"Bob \"the\" <b>"}"#.into());
    let out = chat.on_message(A, "line\n\"two\"\\".into());
    let [Command::Broadcast { text, except: None }] = out.as_slice() else {
        panic!("expected a broadcast, got {out:?}");
    };
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    assert_eq!(v["user"], "Bob \"the\" <b>");
    assert_eq!(v["text"], "line\n\"two\"\\");
}

#[test]
fn leave_names_the_user_and_forgets_them() {
    let mut chat = Chat::default();
    chat.on_message(A, r#"{"type":"join","username":"Alice"}"#.into());
    assert_eq!(
        chat.on_close(A, 1001, "bye".into()),
        broadcast(r#"{"type":"leave","user":"Alice"}"#)
    );
    assert!(chat.users.is_empty());
}

#[test]
fn bad_input_gets_an_error_reply_to_the_sender_only() {
    let mut chat = Chat::default();
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
        let out = chat.on_message(B, input.clone());
        assert!(!error_message(&out).is_empty(), "{input}");
        assert!(
            matches!(&out[..], [Command::Send { conn, .. }] if *conn == B),
            "{input}"
        );
    }
    assert!(chat.users.is_empty(), "no bad join was recorded");
}

#[test]
fn names_at_the_limits_are_accepted() {
    let mut chat = Chat::default();
    let name = "é".repeat(MAX_USERNAME_CHARS);
    let join = serde_json::json!({"type": "join", "username": name}).to_string();
    assert!(matches!(
        &chat.on_message(A, join)[..],
        [Command::Broadcast { .. }]
    ));
    let text = "é".repeat(MAX_TEXT_CHARS);
    assert!(matches!(
        &chat.on_message(A, text)[..],
        [Command::Broadcast { .. }]
    ));
}

#[test]
fn a_second_join_is_refused() {
    let mut chat = Chat::default();
    chat.on_message(A, r#"{"type":"join","username":"Alice"}"#.into());
    let out = chat.on_message(A, r#"{"type":"join","username":"Eve"}"#.into());
    assert_eq!(out, error_to(A, "already joined as \"Alice\""));
}

#[test]
fn binary_messages_get_an_error() {
    let mut chat = Chat::default();
    assert!(error_message(&chat.on_binary(A, vec![1, 2])).contains("binary"));
}

#[test]
fn users_survive_snapshot_and_restore() {
    let mut old = Chat::default();
    old.on_message(A, r#"{"type":"join","username":"Alice"}"#.into());
    old.on_message(B, r#"{"type":"join","username":"Bob"}"#.into());
    let mut new = Chat::default();
    assert_eq!(new.restore(&old.snapshot()), Ok(()));
    assert_eq!(
        new.on_message(B, "still here".into()),
        broadcast(r#"{"type":"message","user":"Bob","text":"still here"}"#)
    );
    assert!(new.restore(b"not a snapshot").is_err());
}

#[test]
fn who_lists_the_joined_users_and_counts_the_others_to_the_sender_only() {
    let mut chat = Chat::default();
    chat.on_connect(A);
    chat.on_connect(B);
    chat.on_connect(ConnectionId(3));
    chat.on_message(A, r#"{"type":"join","username":"Alice"}"#.into());
    assert_eq!(
        chat.on_message(B, r#"{"type":"who"}"#.into()),
        [Command::send(
            B,
            r#"{"type":"users","users":["Alice"],"anonymous":2}"#
        )]
    );
    chat.on_close(ConnectionId(3), 1000, String::new());
    assert_eq!(
        chat.on_message(B, r#"{"type":"who"}"#.into()),
        [Command::send(
            B,
            r#"{"type":"users","users":["Alice"],"anonymous":1}"#
        )]
    );
}
