// Chat: the protocol of the Rust `chat` plugin (plugins/chat), message for message,
// so the gateway's chat tests run against both. A connection starts in room `lobby`;
// everything goes to the sender's room only.
//
//   client sends                                  the sender's room receives
//   (connects)                                    the sender only: {"type":"welcome","message":"Connected!"}
//   {"type":"join","username":"Alice"}            {"type":"join","user":"Alice"}
//   {"type":"join","username":"Alice","room":"r"} the same, in room r (Alice leaves the lobby)
//   {"type":"message","text":"hi"} or plain hi    {"type":"message","user":"Alice","text":"hi"}
//   {"type":"move","room":"go"}                   old room: leave; new room: join
//   (disconnects)                                 {"type":"leave","user":"Alice"}
//   {"type":"who"}                                the sender only: {"type":"users","users":[…],"anonymous":N}
//
// Names and rooms live in the gateway (each connection's attachment, the same JSON
// as the Rust plugin's, and its rooms): after a hot reload, a trap, or a swap between
// the Rust and the JavaScript chat, users keep them.
import {
  connectionInfo, decodeUtf8, definePlugin, join, leave, publish, roomMembers, send, setAttachment,
} from "wsgate-plugin";

export const LOBBY = "lobby";
export const ANONYMOUS = "Anonymous";
export const MAX_USERNAME_CHARS = 32;
export const MAX_TEXT_CHARS = 2000;
export const MAX_ROOM_CHARS = 64;

const chars = (s) => [...s].length;
const json = (value) => JSON.stringify(value);

/** The seat an attachment holds: `{ name, room }` (a new one in the lobby if none). */
function seatOf(attachment) {
  try {
    const seat = JSON.parse(decodeUtf8(attachment));
    const nameOk = seat.name === undefined || seat.name === null || typeof seat.name === "string";
    if (seat && typeof seat.room === "string" && nameOk) return { name: seat.name ?? null, room: seat.room };
  } catch {
    // Not a seat: a new one.
  }
  return { name: null, room: LOBBY };
}

const seatJson = (seat) => json(seat.name === null ? { room: seat.room } : { name: seat.name, room: seat.room });
const nameOf = (seat) => seat.name ?? ANONYMOUS;

class Refused extends Error {}
const refuse = (message) => { throw new Refused(message); };

function checkUsername(name) {
  if (/^\p{White_Space}*$/u.test(name)) refuse("username must not be empty");
  if (chars(name) > MAX_USERNAME_CHARS) refuse(`username must be at most ${MAX_USERNAME_CHARS} characters`);
  if (/\p{Cc}/u.test(name)) refuse("username must not contain control characters");
}

function checkRoom(room) {
  if (typeof room !== "string" || !/^[A-Za-z0-9_-]+$/.test(room) || room.length > MAX_ROOM_CHARS) {
    refuse(`room must be 1 to ${MAX_ROOM_CHARS} of A-Z a-z 0-9 _ -`);
  }
}

function checkText(text) {
  if (text === "") refuse("message text must not be empty");
  if (chars(text) > MAX_TEXT_CHARS) refuse(`message text must be at most ${MAX_TEXT_CHARS} characters`);
}

const USAGE = 'send {"type":"join","username":…}, {"type":"message","text":…} or plain text';
const string = (value, field) =>
  typeof value === "string" ? value : refuse(`unsupported message (${field} must be a string); ${USAGE}`);

/** What a message asks for: `[kind, …]`. */
function parse(text) {
  // Whitespace as Rust's char::is_whitespace has it (White_Space), as the Rust chat.
  if (!/^\p{White_Space}*\{/u.test(text)) return ["say", text];
  let object;
  try {
    object = JSON.parse(text);
  } catch {
    return ["say", text]; // Not JSON at all: a chat message that happens to start with '{'.
  }
  switch (object.type) {
    case "join": {
      const room = object.room ?? null;
      return ["join", string(object.username, "username"), room === null ? null : string(room, "room")];
    }
    case "message": return ["say", string(object.text, "text")];
    case "who": return ["who"];
    case "move": return ["move", string(object.room, "room")];
    default: return refuse(`unsupported message (unknown type ${json(object.type ?? null)}); ${USAGE}`);
  }
}

function who(conn, seat) {
  const users = [];
  let anonymous = 0;
  // In the order they connected, as the gateway numbers connections.
  for (const member of roomMembers(seat.room).sort((a, b) => a - b)) {
    const info = connectionInfo(member);
    const name = info ? seatOf(info.attachment).name : null;
    if (name !== null) users.push(name);
    else anonymous += 1;
  }
  return [send(conn, json({ type: "users", users, anonymous }))];
}

function handle(conn, text) {
  const seat = seatOf(conn.attachment);
  const [kind, arg, room] = parse(text);
  switch (kind) {
    case "who": return who(conn, seat);
    case "say": {
      checkText(arg);
      return [publish(seat.room, json({ type: "message", user: nameOf(seat), text: arg }))];
    }
    case "join": {
      checkUsername(arg);
      if (seat.name !== null) refuse(`already joined as ${json(seat.name)}`);
      const target = room ?? LOBBY;
      checkRoom(target);
      const out = [];
      if (seat.room !== target) out.push(leave(conn, seat.room), join(conn, target));
      const joined = { name: arg, room: target };
      out.push(setAttachment(conn, seatJson(joined)), publish(target, json({ type: "join", user: arg })));
      return out;
    }
    case "move": {
      checkRoom(arg);
      if (arg === seat.room) return [];
      const user = nameOf(seat);
      return [
        leave(conn, seat.room),
        publish(seat.room, json({ type: "leave", user })),
        join(conn, arg),
        setAttachment(conn, seatJson({ name: seat.name, room: arg })),
        publish(arg, json({ type: "join", user })),
      ];
    }
    default: return [];
  }
}

const error = (conn, message) => send(conn, json({ type: "error", message }));

export const handler = definePlugin({
  onConnect(conn) {
    const seat = seatOf(conn.attachment);
    return [
      join(conn, seat.room),
      setAttachment(conn, seatJson(seat)),
      send(conn, json({ type: "welcome", message: "Connected!" })),
    ];
  },
  onMessage(conn, text) {
    try {
      return handle(conn, text);
    } catch (e) {
      if (e instanceof Refused) return [error(conn, e.message)];
      throw e;
    }
  },
  onBinary: (conn) => [error(conn, "binary messages are not supported; send JSON text")],
  // The gateway took it out of its room already: the others hear it left.
  onClose(conn) {
    const seat = seatOf(conn.attachment);
    return [publish(seat.room, json({ type: "leave", user: nameOf(seat) }))];
  },
});
