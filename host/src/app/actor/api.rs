//! Server API calls, run by the actor in the app's event order: the same commands a
//! plugin could give (checked the same way), reads of the directory, and `backend`
//! events for the plugin.

use super::Actor;
use crate::app::{ApiAnswer, ApiCall};
use crate::model::{Command, Event};

impl Actor {
    /// Runs `call` and says how it went.
    pub(super) fn api(&mut self, call: ApiCall) -> ApiAnswer {
        let room_ok = |room: &str, max: usize| !room.is_empty() && room.len() <= max;
        let max_room = self.limits.max_room_name_bytes;
        let command = match call {
            ApiCall::Publish {
                room,
                payload,
                except,
            } => {
                if !room_ok(&room, max_room) {
                    return ApiAnswer::BadRoom;
                }
                Command::Publish {
                    room,
                    payload,
                    except,
                }
            }
            ApiCall::Broadcast { payload, except } => Command::Broadcast { payload, except },
            ApiCall::Send { conn, payload } if self.registry.is_remote(conn) => {
                return self.forwarded(Command::Send { conn, payload });
            }
            ApiCall::Close { conn, code, reason } if self.registry.is_remote(conn) => {
                return self.forwarded(Command::Close { conn, code, reason });
            }
            ApiCall::Info { conn } if self.registry.is_remote(conn) => {
                return ApiAnswer::Elsewhere(crate::bus::ids::node_of(conn));
            }
            ApiCall::Send { conn, payload } => {
                if !self.registry.is_open(conn) {
                    return ApiAnswer::NotFound("connection");
                }
                Command::Send { conn, payload }
            }
            ApiCall::Close { conn, code, reason } => {
                if !self.registry.is_open(conn) {
                    return ApiAnswer::NotFound("connection");
                }
                Command::Close { conn, code, reason }
            }
            ApiCall::Info { conn } => {
                return match self.registry.dir.info(conn) {
                    Some(info) => ApiAnswer::Info(Box::new(info), self.registry.dir.rooms_of(conn)),
                    None => ApiAnswer::NotFound("connection"),
                };
            }
            ApiCall::SendUser { user, payload } => {
                let here = self.registry.dir.user_connections(&user).next().is_some();
                return self.for_user(here, Command::SendUser { user, payload });
            }
            ApiCall::CloseUser { user, code, reason } => {
                let here = self.registry.dir.user_connections(&user).next().is_some();
                return self.for_user(here, Command::CloseUser { user, code, reason });
            }
            ApiCall::RoomSize { room } => {
                if !room_ok(&room, max_room) {
                    return ApiAnswer::BadRoom;
                }
                return ApiAnswer::Size(self.registry.dir.room_size(&room));
            }
            ApiCall::Event { name, payload } => {
                if !self.serving() {
                    return ApiAnswer::Failing;
                }
                self.run_hook(&Event::Backend { name, payload }, None);
                return ApiAnswer::Accepted;
            }
        };
        self.registry
            .execute([command], &self.limits, &self.stats, &mut self.timers);
        ApiAnswer::Done
    }

    /// Runs `command` (for another node's connection) and says it went on.
    fn forwarded(&mut self, command: Command) -> ApiAnswer {
        self.registry
            .execute([command], &self.limits, &self.stats, &mut self.timers);
        ApiAnswer::Forwarded
    }

    /// A user's send or close: done here when the user has connections `here`; when
    /// clustered, also sent to the other nodes (which this node cannot see, so no
    /// 404 then); else "no such user".
    fn for_user(&mut self, here: bool, command: Command) -> ApiAnswer {
        let clustered = self.registry.cluster.is_some();
        if !here && !clustered {
            return ApiAnswer::NotFound("user");
        }
        self.registry
            .execute([command], &self.limits, &self.stats, &mut self.timers);
        if clustered {
            ApiAnswer::Forwarded
        } else {
            ApiAnswer::Done
        }
    }
}
