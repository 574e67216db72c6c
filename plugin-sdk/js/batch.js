// A `handle` call of several events, handled as if each event had come in its own
// call (contract 0.2's `host.commit`), as the Rust SDK's `batch` module does: the
// commands of the events handled so far are committed before any read of the host,
// so that the read sees them; and an event whose connection an earlier event's
// commands changed (`set-attachment`, `close`, `close-user`) gets its attachment read
// again first, or is dropped if the connection is no longer open, as the gateway
// would have done between two calls.
//
// The gateway hands several messages per call only to a plugin that imports
// `commit`; a plugin built with `wsgate-plugin build` imports the whole `host`
// interface, so `definePlugin` keeps this promise for it.

// On a global, as the host is: a plugin whose modules were loaded twice still has
// one call in progress.
const CALL = Symbol.for("wsgate-plugin.call");

/** Commits what the events handled so far answered, if anything is pending (before every host read). */
export function commitPending(host) {
  const call = globalThis[CALL];
  if (!call || call.pending.length === 0) return;
  const commands = call.pending;
  call.pending = [];
  host().commit(call.handled, commands);
}

// The connection of an event that has one (the gateway batches only messages).
const connectionOf = (event) =>
  event.tag === "connect" || event.tag === "timer" || event.tag === "backend" ? null : event.val?.conn;

const touched = (call, conn) =>
  call.touched.has(conn.id) || (conn.user != null && call.closedUsers.has(conn.user));

// Brings an event's attachment up to date if an earlier command changed its
// connection; false if the connection is no longer open.
function refresh(call, event, host) {
  const conn = connectionOf(event);
  if (!conn || !touched(call, conn)) return true;
  commitPending(host);
  const info = host().connectionInfo(conn.id);
  if (!info || !info.open) return false;
  conn.attachment = info.attachment;
  return true;
}

function answer(call, commands) {
  for (const command of commands) {
    const { tag, val } = command;
    if (tag === "set-attachment" || tag === "close") call.touched.add(val.conn);
    else if (tag === "close-user") call.closedUsers.add(val.user);
    call.pending.push(command);
  }
  call.handled += 1;
}

/**
 * Handles `events` (more than one) with `dispatch` (event → commands), one after the
 * other, committing as this module says; returns the commands of the events after
 * the last commit. `host` returns the gateway to ask.
 */
export function runBatch(events, dispatch, host) {
  const call = { handled: 0, pending: [], touched: new Set(), closedUsers: new Set() };
  globalThis[CALL] = call;
  try {
    events.forEach((event, k) => {
      if (k > 0 && !refresh(call, event, host)) {
        answer(call, []); // Closed by an earlier event's commands: not handed over.
        return;
      }
      answer(call, dispatch(event));
    });
    return call.pending;
  } finally {
    globalThis[CALL] = undefined;
  }
}
