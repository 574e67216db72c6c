//! Dashboard: a live feed driven by a timer the gateway holds. Every connection is
//! put in room `ticks`; one repeating timer publishes, every second,
//!
//! `{"type":"tick","seq":N,"connections":C}`
//!
//! to the room: `seq` counts up by one per tick and keeps counting across hot
//! reloads (it is the plugin's state, handed over by `snapshot`/`restore`), `C` is the
//! room's size. `{"type":"interval","ms":M}` (100 to 60000) changes the period for
//! everyone; anything else gets `{"type":"error","message":…}`.

use serde::{Deserialize, Serialize};
use wsgate_plugin::{Command, Conn, Plugin, host};

/// The room every connection is in.
pub const ROOM: &str = "ticks";
/// The timer's key.
pub const TIMER: &str = "tick";
/// The period until someone changes it, in milliseconds.
pub const DEFAULT_MS: u64 = 1000;
/// The shortest and longest period a client may ask for.
pub const PERIOD_MS: std::ops::RangeInclusive<u64> = 100..=60_000;

/// The dashboard's state: the tick counter, the period, and whether the timer runs.
#[derive(Serialize, Deserialize)]
pub struct Dashboard {
    seq: u64,
    ms: u64,
    #[serde(default)]
    running: bool,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self {
            seq: 0,
            ms: DEFAULT_MS,
            running: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Incoming {
    Interval { ms: u64 },
}

/// What the dashboard sends, in this key order.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Outgoing<'a> {
    Tick { seq: u64, connections: u32 },
    Error { message: &'a str },
}

impl Outgoing<'_> {
    fn to_json(&self) -> String {
        // Plain numbers and strings: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn error(conn: &Conn, message: &str) -> Vec<Command> {
    vec![Command::send(conn, Outgoing::Error { message }.to_json())]
}

impl Plugin for Dashboard {
    wsgate_plugin::serde_state!();

    fn on_connect(&mut self, conn: Conn) -> Vec<Command> {
        let mut out = vec![Command::join(&conn, ROOM)];
        // The first watcher starts the ticks (after a trap this instance does not
        // know they run: setting the timer again replaces it, once).
        if !self.running {
            self.running = true;
            out.push(Command::repeat_timer(TIMER, self.ms, Vec::new()));
        }
        out
    }

    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        match serde_json::from_str::<Incoming>(&text) {
            Ok(Incoming::Interval { ms }) if PERIOD_MS.contains(&ms) => {
                self.ms = ms;
                self.running = true;
                vec![Command::repeat_timer(TIMER, ms, Vec::new())]
            }
            Ok(Incoming::Interval { .. }) => error(&conn, "ms must be from 100 to 60000"),
            Err(_) => error(&conn, r#"send {"type":"interval","ms":M}"#),
        }
    }

    fn on_timer(&mut self, key: String, _data: Vec<u8>) -> Vec<Command> {
        if key != TIMER {
            return Vec::new();
        }
        let connections = host::room_size(ROOM);
        if connections == 0 {
            // Nobody watches: stop until the next connection starts it again.
            self.running = false;
            return vec![Command::cancel_timer(TIMER)];
        }
        self.seq += 1;
        let tick = Outgoing::Tick {
            seq: self.seq,
            connections,
        };
        vec![Command::publish(ROOM, tick.to_json())]
    }
}

wsgate_plugin::export!(Dashboard);

#[cfg(test)]
mod tests {
    use super::*;
    use wsgate_plugin::testing;

    fn published(commands: &[Command]) -> serde_json::Value {
        match commands {
            [
                Command::Publish {
                    room,
                    payload: wsgate_plugin::Payload::Text(text),
                    ..
                },
            ] => {
                assert_eq!(room, ROOM);
                serde_json::from_str(text).unwrap_or_default()
            }
            other => panic!("expected one publish, got {other:?}"),
        }
    }

    #[test]
    fn the_first_connection_joins_the_room_and_starts_the_timer_the_next_only_join() {
        let mut d = Dashboard::default();
        assert_eq!(
            d.on_connect(Conn::new(1)),
            [
                Command::join(Conn::new(1).id, ROOM),
                Command::repeat_timer(TIMER, 1000, Vec::new()),
            ]
        );
        assert_eq!(
            d.on_connect(Conn::new(2)),
            [Command::join(Conn::new(2).id, ROOM)]
        );
    }

    #[test]
    fn ticks_count_up_and_tell_the_room_size() {
        testing::reset();
        let mut d = Dashboard::default();
        for id in [1, 2] {
            testing::connect(&Conn::new(id));
            testing::apply(&d.on_connect(Conn::new(id)));
        }
        for seq in 1..=3 {
            let out = d.on_timer(TIMER.into(), Vec::new());
            assert_eq!(
                out,
                [Command::publish(
                    ROOM,
                    format!(r#"{{"type":"tick","seq":{seq},"connections":2}}"#)
                )]
            );
            assert_eq!(published(&out)["seq"], seq);
        }
        // The counter is the state a reload hands over.
        let mut next = Dashboard::default();
        assert_eq!(next.restore(&d.snapshot()), Ok(()));
        assert_eq!(
            published(&next.on_timer(TIMER.into(), Vec::new()))["seq"],
            4
        );
    }

    #[test]
    fn the_interval_changes_within_bounds() {
        let mut d = Dashboard::default();
        assert_eq!(
            d.on_message(Conn::new(1), r#"{"type":"interval","ms":250}"#.into()),
            [Command::repeat_timer(TIMER, 250, Vec::new())]
        );
        for bad in [r#"{"type":"interval","ms":5}"#, "hello"] {
            let out = d.on_message(Conn::new(1), bad.into());
            assert!(matches!(&out[..], [Command::Send { .. }]), "{bad}");
        }
    }

    #[test]
    fn an_empty_room_stops_the_ticks() {
        testing::reset();
        let mut d = Dashboard::default();
        assert_eq!(
            d.on_timer(TIMER.into(), Vec::new()),
            [Command::cancel_timer(TIMER)]
        );
    }
}
