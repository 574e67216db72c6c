//! Hostile: a plugin that misbehaves on request, for the sandbox tests. Each text
//! message names a misdeed; anything else is echoed.
//!
//! - `loop`: spin forever (the hook deadline must stop it);
//! - `alloc`: allocate without end (the memory cap must stop it);
//! - `panic`: panic;
//! - `stack`: recurse without end (stack overflow);
//! - `commands N`: return N commands in one hook call (over `max_commands`);
//! - `storm N SIZE`: broadcast N messages of SIZE bytes to every other connection
//!   (floods their outbound queues);
//! - `log N`: write N log lines;
//! - `probe`: report what of the outside world the plugin can reach, as JSON
//!   (environment, arguments, files, network): it must reach nothing;
//! - `sleep MS`: sleep in WASI (`std::thread::sleep`: a monotonic-clock wait);
//! - `poll-clock MS`: spin reading the monotonic clock until MS have passed;
//! - `log-huge BYTES`: write one log line of BYTES bytes;
//! - `log-flood N BYTES`: write N log lines of BYTES bytes each;
//! - `sleep-snapshot MS`: the next `snapshot` (a hot reload) sleeps MS first.
//!
//! Handshakes (`on-accept`), from the query string: `sleep=MS` sleeps MS first;
//! `deny-huge=BYTES` denies with a reason of BYTES bytes.
#![allow(clippy::panic, reason = "misbehaving is this plugin's job")]

use wsgate_plugin::{Accept, Command, Conn, ConnectionId, Plugin, Request};

/// The hostile plugin; it keeps only how long its next snapshot sleeps.
#[derive(Default)]
pub struct Hostile {
    snapshot_sleep_ms: u64,
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

fn arg(rest: &str, index: usize, default: usize) -> usize {
    rest.split_whitespace()
        .nth(index)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

#[inline(never)]
#[allow(unconditional_recursion, reason = "the point: overflow the stack")]
fn recurse(depth: u64, sink: &mut Vec<u64>) -> u64 {
    let frame = [depth; 64];
    sink.push(frame[(depth % 64) as usize]);
    recurse(depth + 1, sink) + frame[0]
}

fn probe() -> String {
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    let args: Vec<String> = std::env::args().collect();
    let file = std::fs::read("/etc/passwd")
        .map(|b| b.len())
        .map_err(|e| e.to_string());
    let dir = std::fs::read_dir(".")
        .map(|d| d.count())
        .map_err(|e| e.to_string());
    let tcp = std::net::TcpStream::connect("127.0.0.1:1")
        .map(|_| ())
        .map_err(|e| e.to_string());
    let dns = std::net::ToSocketAddrs::to_socket_addrs("localhost:80")
        .map(|a| a.count())
        .map_err(|e| e.to_string());
    serde_json::json!({
        "env": env,
        "args": args,
        "file": file.is_ok(),
        "dir": dir.is_ok(),
        "tcp": tcp.is_ok(),
        "dns": dns.is_ok(),
    })
    .to_string()
}

impl Plugin for Hostile {
    fn on_accept(&mut self, _conn: ConnectionId, request: Request) -> Accept {
        if let Some(ms) = request.query_param("sleep") {
            sleep_ms(ms.parse().unwrap_or(0));
        }
        if let Some(bytes) = request.query_param("deny-huge") {
            return Accept::deny(403, "d".repeat(bytes.parse().unwrap_or(0)));
        }
        Accept::allow()
    }

    fn snapshot(&self) -> Vec<u8> {
        sleep_ms(self.snapshot_sleep_ms);
        Vec::new()
    }

    fn on_message(&mut self, conn: Conn, text: String) -> Vec<Command> {
        let conn = conn.id;
        let (verb, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        match verb {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            "stack" => {
                let mut sink = Vec::new();
                let n = recurse(0, &mut sink);
                vec![Command::send(conn, n.to_string())]
            }
            "commands" => (0..arg(rest, 0, 1_000_000))
                .map(|_| Command::send(conn, String::new()))
                .collect(),
            "storm" => {
                let payload = "s".repeat(arg(rest, 1, 65_536));
                (0..arg(rest, 0, 1000))
                    .map(|_| Command::broadcast_except(payload.clone(), conn))
                    .collect()
            }
            "log" => {
                for i in 0..arg(rest, 0, 100_000) {
                    wsgate_plugin::log::warn(&format!("hostile log line {i}"));
                }
                vec![Command::send(conn, "logged")]
            }
            "probe" => vec![Command::send(conn, probe())],
            "sleep" => {
                sleep_ms(arg(rest, 0, 1000) as u64);
                vec![Command::send(conn, "slept")]
            }
            "poll-clock" => {
                let started = std::time::Instant::now();
                let ms = arg(rest, 0, 1000) as u128;
                while started.elapsed().as_millis() < ms {
                    std::hint::black_box(());
                }
                vec![Command::send(conn, "polled")]
            }
            "log-huge" => {
                wsgate_plugin::log::warn(&"h".repeat(arg(rest, 0, 1 << 20)));
                vec![Command::send(conn, "logged")]
            }
            "log-flood" => {
                let line = "f".repeat(arg(rest, 1, 4096));
                for _ in 0..arg(rest, 0, 1000) {
                    wsgate_plugin::log::warn(&line);
                }
                vec![Command::send(conn, "logged")]
            }
            "sleep-snapshot" => {
                self.snapshot_sleep_ms = arg(rest, 0, 1000) as u64;
                vec![Command::send(conn, "armed")]
            }
            _ => vec![Command::send(conn, text)],
        }
    }
}

wsgate_plugin::export!(Hostile);
