// The gateway's answers to a plugin's questions: the contract's `host` imports.
// Inside the gateway they are the real imports (`wsgate-plugin build` installs them
// before the plugin's module runs); under `node --test`, the stand-in gateway of
// "wsgate-plugin/testing". Both are found at the same global, so a plugin whose
// modules were loaded twice still reaches the one installed.

import { commitPending } from "./batch.js";

const HOST = Symbol.for("wsgate-plugin.host");
const idOf = (conn) => (typeof conn === "object" && conn !== null ? conn.id : conn);

/** The gateway to ask (for the SDK's own modules). */
export const the = () => {
  const host = globalThis[HOST];
  if (!host) {
    throw new Error(
      "wsgate-plugin: no gateway to ask: inside wsgate, build with `wsgate-plugin build`; " +
        "in a test, create a TestGateway (wsgate-plugin/testing) first",
    );
  }
  return host;
};

/** Installs `host` as the gateway this plugin asks (the build and the tests do it). */
export function installHost(host) {
  globalThis[HOST] = host;
}

// A read first commits what the earlier events of a call of several answered, so
// that it sees their joins, leaves, closes and attachments (batch.js).
const read = () => {
  commitPending(the);
  return the();
};

/** How many connections are in `room` (on this node). */
export const roomSize = (room) => read().roomSize(room);
/** The ids of the connections in `room`. */
export const roomMembers = (room) => read().roomMembers(room);
/** The rooms a connection is in (empty if it is gone). */
export const roomsOf = (conn) => read().roomsOf(idOf(conn));
/** The ids of the open connections of `user`. */
export const userConnections = (user) => read().userConnections(user);
/**
 * What the gateway knows of a connection now: `{ path, query, remoteAddr,
 * subprotocol, user, attachment, connectedAtMs, bufferedBytes, open }`, or null if
 * it is gone or of another app.
 */
export const connectionInfo = (conn) => read().connectionInfo(idOf(conn)) ?? null;

const line = (level) => (message) => the().log(level, String(message));
/** Lines in the gateway's log, tagged with the app's name (at most 100 a second). */
export const log = Object.freeze({
  trace: line("trace"),
  debug: line("debug"),
  info: line("info"),
  warn: line("warn"),
  error: line("error"),
});
