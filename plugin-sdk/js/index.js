// wsgate-plugin: JavaScript plugins for wsgate (contract wsgate:plugin@0.2.0).
//
//   import { definePlugin, send } from "wsgate-plugin";
//   export const handler = definePlugin({
//     onMessage(conn, text) { return [send(conn, text)]; },
//   });
//
// Every hook is optional and returns a list of commands (or nothing). Connection ids
// are numbers (the gateway keeps them below 2^53); binary data is a Uint8Array.

import { runBatch } from "./batch.js";
import { the } from "./host.js";

export { connectionInfo, installHost, log, roomMembers, roomSize, roomsOf, userConnections } from "./host.js";

/** Close codes a plugin may send. */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED: 1003,
  INVALID_DATA: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
});

// UTF-8 without TextEncoder (not every JavaScript engine a plugin runs on has it).
/** A string's UTF-8 bytes. */
export const encodeUtf8 = (value) =>
  Uint8Array.from(unescape(encodeURIComponent(value)), (c) => c.charCodeAt(0));
/** The string UTF-8 `data` holds (throws a URIError if it is not UTF-8). */
export const decodeUtf8 = (data) => {
  let latin1 = "";
  // In slices: an argument list as long as a big state would overflow the stack.
  for (let i = 0; i < data.length; i += 8192) {
    latin1 += String.fromCharCode(...data.slice(i, i + 8192));
  }
  return decodeURIComponent(escape(latin1));
};
const utf8 = encodeUtf8;
const fromUtf8 = decodeUtf8;
const bytes = (data) => (data instanceof Uint8Array ? data : utf8(String(data ?? "")));
const idOf = (conn) => (typeof conn === "object" && conn !== null ? conn.id : conn);
// A message: a Uint8Array is sent as a binary message, anything else as text.
const payload = (value) =>
  value instanceof Uint8Array ? { tag: "binary", val: value } : { tag: "text", val: String(value) };

/** Sends a message (text, or a Uint8Array as binary) to one connection (a connection object or its id). */
export const send = (conn, message) => ({ tag: "send", val: { conn: idOf(conn), payload: payload(message) } });
/** Sends binary data (a Uint8Array) to one connection. */
export const sendBinary = (conn, data) => ({
  tag: "send",
  val: { conn: idOf(conn), payload: { tag: "binary", val: bytes(data) } },
});
/** Sends a message (text or binary) to every connection of the app but `except` (ids or connections). */
export const broadcast = (message, except = []) => ({
  tag: "broadcast",
  val: { payload: payload(message), except: except.map(idOf) },
});
/** Sends a message (text or binary) to every member of `room` but `except`. */
export const publish = (room, message, except = []) => ({
  tag: "publish",
  val: { room, payload: payload(message), except: except.map(idOf) },
});
/** Starts the closing handshake of a connection. */
export const close = (conn, code = CloseCode.NORMAL, reason = "") => ({
  tag: "close",
  val: { conn: idOf(conn), code, reason },
});
/** Puts a connection in a room. */
export const join = (conn, room) => ({ tag: "join", val: { conn: idOf(conn), room } });
/** Takes a connection out of a room. */
export const leave = (conn, room) => ({ tag: "leave", val: { conn: idOf(conn), room } });
/** Sends a message (text or binary) to every connection of a user. */
export const sendUser = (user, message) => ({ tag: "send-user", val: { user, payload: payload(message) } });
/** Closes every connection of a user. */
export const closeUser = (user, code = CloseCode.NORMAL, reason = "") => ({
  tag: "close-user",
  val: { user, code, reason },
});
/** Replaces a connection's attachment (bytes, or a string). */
export const setAttachment = (conn, data) => ({ tag: "set-attachment", val: { conn: idOf(conn), data: bytes(data) } });
// A u64 of the contract crosses as a JavaScript number (componentize-qjs lowers a
// number, and a BigInt makes the component trap): whole milliseconds, 0 or more.
const millis = (name, value) => {
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`${name} must be a number of milliseconds, 0 or more (got ${String(value)})`);
  }
  return Math.floor(ms);
};
/** Sets (or replaces) timer `key`: due in `delayMs`, then every `repeatMs` if given. */
export const setTimer = (key, delayMs, { repeatMs = null, data = new Uint8Array() } = {}) => ({
  tag: "set-timer",
  val: {
    key,
    delayMs: millis("delayMs", delayMs),
    repeatMs: repeatMs == null ? null : millis("repeatMs", repeatMs),
    data: bytes(data),
  },
});
/** Cancels timer `key`. */
export const cancelTimer = (key) => ({ tag: "cancel-timer", val: key });

/**
 * The first value of parameter `name` in a query string (`request.query`), decoded
 * as a form's (`+` is a space, `%XX` a byte of UTF-8), or null when it is absent; as
 * the Rust SDK's `Request::query_param` (QuickJS has no URLSearchParams).
 */
export function queryParam(query, name) {
  const decode = (s) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, " "));
    } catch {
      return s; // A malformed %-escape stands as it is.
    }
  };
  for (const pair of String(query ?? "").split("&")) {
    if (pair === "") continue;
    const at = pair.indexOf("=");
    const [key, value] = at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
    if (decode(key) === name) return decode(value);
  }
  return null;
}

/** Accepts a handshake (optionally: `subprotocol`, `user`, `attachment`, `rooms`). */
export const allow = ({ subprotocol = null, user = null, attachment = new Uint8Array(), rooms = [] } = {}) => ({
  tag: "allow",
  val: { subprotocol, user, attachment: bytes(attachment), rooms },
});
/** Refuses a handshake with an HTTP status and a reason. */
export const deny = (status, reason = "") => ({ tag: "deny", val: { status, reason } });

const list = (result) => (result == null ? [] : Array.isArray(result) ? result : [result]);

/**
 * The contract's `handler` from hooks: `onAccept(conn, request)`, `onConnect(conn)`,
 * `onMessage(conn, text)`, `onBinary(conn, data)`, `onError(conn, error)`,
 * `onClose(conn, code, reason)`, `onTimer(key, data)`, `onBackend(name, payload)`,
 * and for hot reload `snapshot()` → Uint8Array and `restore(state)`.
 * `conn` is `{ id, user, attachment }`.
 */
export function definePlugin(hooks) {
  const dispatch = (event) => {
    const v = event.val;
    switch (event.tag) {
      case "connect": return list(hooks.onConnect?.(v));
      case "message": return list(hooks.onMessage?.(v.conn, v.text));
      case "binary": return list(hooks.onBinary?.(v.conn, v.data));
      case "error": return list(hooks.onError?.(v.conn, v.error));
      case "close": return list(hooks.onClose?.(v.conn, v.code, v.reason));
      case "timer": return list(hooks.onTimer?.(v.key, v.data));
      case "backend": return list(hooks.onBackend?.(v.name, v.payload));
      default: return [];
    }
  };
  return {
    onAccept(conn, request) {
      return hooks.onAccept ? hooks.onAccept(conn, request) : allow();
    },
    // Several events in one call (the gateway batches messages): handled as if
    // each had come alone, committing before host reads (batch.js).
    handle(events) {
      return events.length > 1 ? runBatch(events, dispatch, the) : events.flatMap(dispatch);
    },
    snapshot() {
      return hooks.snapshot ? bytes(hooks.snapshot()) : new Uint8Array();
    },
    restore(state) {
      hooks.restore?.(state);
    },
  };
}

/** State handed over across hot reloads as JSON: `...jsonState(() => state, (s) => { state = s; })`. */
export function jsonState(get, set) {
  return {
    snapshot: () => utf8(JSON.stringify(get())),
    restore: (state) => {
      if (state.length > 0) set(JSON.parse(fromUtf8(state)));
    },
  };
}
