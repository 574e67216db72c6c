// A stand-in for the gateway, for unit tests of a plugin under `node --test`: it
// drives the plugin through the contract's `handler` (the object `definePlugin`
// returns) and keeps what the gateway would keep (connections, their users,
// attachments and rooms), applying the commands the hooks return, so the host reads
// (`roomMembers`, `connectionInfo`, …) answer as inside the gateway.
//
//   import { TestGateway } from "wsgate-plugin/testing";
//   const gw = new TestGateway(handler);
//   gw.connect(1);
//   assert.deepEqual(gw.message(1, "hi"), [send(1, "hi")]);

import { decodeUtf8, encodeUtf8 } from "./index.js";
import { installHost } from "./host.js";

const bytes = (data) => (data instanceof Uint8Array ? data : encodeUtf8(String(data ?? "")));

/** The gateway, reduced to what a plugin can see of it. */
export class TestGateway {
  /** A gateway serving `handler`; it becomes the host the SDK's reads ask. */
  constructor(handler) {
    this.handler = handler;
    /** id → { user, attachment, rooms: Set, open } */
    this.connections = new Map();
    /** The lines the plugin logged: `[level, message]`. */
    this.logs = [];
    /** The commits of calls of several events: `[handled, number of commands]`. */
    this.commits = [];
    this.committed = [];
    installHost(this.#host());
  }

  #host() {
    const members = (room) =>
      [...this.connections].filter(([, c]) => c.rooms.has(room)).map(([id]) => id);
    return {
      log: (level, message) => this.logs.push([level, message]),
      commit: (handled, commands) => {
        this.commits.push([handled, commands.length]);
        this.apply(commands);
        this.committed.push(...commands);
      },
      roomSize: (room) => members(room).length,
      roomMembers: members,
      roomsOf: (id) => [...(this.connections.get(id)?.rooms ?? [])],
      userConnections: (user) =>
        [...this.connections].filter(([, c]) => c.user === user && c.open).map(([id]) => id),
      connectionInfo: (id) => {
        const c = this.connections.get(id);
        if (!c) return null;
        return {
          path: c.path, query: "", remoteAddr: "127.0.0.1:1", subprotocol: null, user: c.user,
          attachment: c.attachment, connectedAtMs: 0n, bufferedBytes: 0n, open: c.open,
        };
      },
    };
  }

  /** The connection as a hook gets it now: `{ id, user, attachment }`. */
  conn(id) {
    const c = this.connections.get(id);
    return { id, user: c?.user ?? null, attachment: c?.attachment ?? new Uint8Array() };
  }

  /** A connection's attachment as text (its UTF-8). */
  attachmentText(id) {
    return decodeUtf8(this.conn(id).attachment);
  }

  /** The rooms connection `id` is in. */
  rooms(id) {
    return [...(this.connections.get(id)?.rooms ?? [])];
  }

  /**
   * A handshake: `onAccept`, then, if allowed, the connection opens with what the
   * decision gave (user, attachment, rooms) and `onConnect` runs. Returns the
   * decision and the connect hook's commands.
   */
  accept(id, request = {}) {
    const full = { path: "/", query: "", headers: [], remoteAddr: "127.0.0.1:1", subprotocols: [], ...request };
    const decision = this.handler.onAccept(id, full);
    if (decision.tag !== "allow") return { decision, commands: [] };
    const { user, attachment, rooms } = decision.val;
    return { decision, commands: this.connect(id, { user, attachment, rooms, path: full.path }) };
  }

  /** A connection opens (without a handshake hook) and `onConnect` runs. */
  connect(id, { user = null, attachment = new Uint8Array(), rooms = [], path = "/" } = {}) {
    this.connections.set(id, { user, attachment: bytes(attachment), rooms: new Set(rooms), open: true, path });
    return this.#run({ tag: "connect", val: this.conn(id) });
  }

  /** A text message from connection `id`. */
  message(id, text) {
    return this.#run({ tag: "message", val: { conn: this.conn(id), text } });
  }

  /** A binary message (bytes, or a string as UTF-8) from connection `id`. */
  binary(id, data) {
    return this.#run({ tag: "binary", val: { conn: this.conn(id), data: bytes(data) } });
  }

  /** An error on connection `id` (`kind` as in the contract, e.g. "message-too-big"). */
  error(id, kind, message = kind) {
    return this.#run({ tag: "error", val: { conn: this.conn(id), error: { kind, message } } });
  }

  /** Connection `id` closes: it leaves its rooms, then `onClose` runs. */
  close(id, code = 1000, reason = "") {
    const conn = this.conn(id);
    this.connections.delete(id);
    return this.#run({ tag: "close", val: { conn, code, reason } });
  }

  /** Timer `key` fires. */
  timer(key, data = new Uint8Array()) {
    return this.#run({ tag: "timer", val: { key, data: bytes(data) } });
  }

  /**
   * Text messages `[id, text]` in one call, as the gateway hands a burst of them:
   * returns every command they answered, those committed during the call first.
   */
  messages(pairs) {
    this.committed = [];
    const events = pairs.map(([id, text]) => ({ tag: "message", val: { conn: this.conn(id), text } }));
    const rest = this.handler.handle(events);
    this.apply(rest);
    return [...this.committed, ...rest];
  }

  /** A hot reload: the state of this handler goes to `next`, which serves from now on. */
  reload(next) {
    next.restore(this.handler.snapshot());
    this.handler = next;
  }

  #run(event) {
    const commands = this.handler.handle([event]);
    this.apply(commands);
    return commands;
  }

  /** Does what `commands` change of the gateway's state (joins, leaves, attachments, closes). */
  apply(commands) {
    for (const { tag, val } of commands) {
      const c = val && typeof val === "object" ? this.connections.get(val.conn) : undefined;
      if (!c) continue;
      if (tag === "join") c.rooms.add(val.room);
      else if (tag === "leave") c.rooms.delete(val.room);
      else if (tag === "set-attachment") c.attachment = val.data;
      else if (tag === "close") c.open = false;
    }
  }
}
