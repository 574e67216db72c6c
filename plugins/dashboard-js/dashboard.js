// Dashboard: the Rust `dashboard` plugin (plugins/dashboard), message for message, so
// the gateway's dashboard test runs against both. A live feed driven by a timer the
// gateway holds: every connection is put in room `ticks`; one repeating timer
// publishes, every second,
//
//   {"type":"tick","seq":N,"connections":C}
//
// to the room: `seq` counts up by one per tick and keeps counting across hot reloads
// (the plugin's state, as JSON: the Rust dashboard's own, so either can take over from
// the other), `C` is the room's size. `{"type":"interval","ms":M}` (100 to 60000)
// changes the period for everyone; anything else gets `{"type":"error","message":…}`.
import { cancelTimer, definePlugin, join, jsonState, publish, roomSize, send, setTimer } from "wsgate-plugin";

/** The room every connection is in. */
export const ROOM = "ticks";
/** The timer's key. */
export const TIMER = "tick";
/** The period until someone changes it, in milliseconds. */
export const DEFAULT_MS = 1000;
/** The shortest and longest period a client may ask for. */
export const PERIOD_MS = [100, 60000];

let state = { seq: 0, ms: DEFAULT_MS, running: false };

const every = (ms) => setTimer(TIMER, ms, { repeatMs: ms });
const error = (conn, message) => [send(conn, JSON.stringify({ type: "error", message }))];

/** The period `text` asks for, or null when it is not `{"type":"interval","ms":M}`. */
function askedPeriod(text) {
  try {
    const asked = JSON.parse(text);
    if (asked?.type === "interval" && Number.isSafeInteger(asked.ms) && asked.ms >= 0) return asked.ms;
  } catch {
    // Not JSON.
  }
  return null;
}

export const handler = definePlugin({
  ...jsonState(
    () => state,
    (s) => { state = { seq: s.seq, ms: s.ms, running: s.running ?? false }; },
  ),
  onConnect(conn) {
    const out = [join(conn, ROOM)];
    // The first watcher starts the ticks (after a trap this instance does not know
    // they run: setting the timer again replaces it, once).
    if (!state.running) {
      state.running = true;
      out.push(every(state.ms));
    }
    return out;
  },
  onMessage(conn, text) {
    const ms = askedPeriod(text);
    if (ms === null) return error(conn, 'send {"type":"interval","ms":M}');
    if (ms < PERIOD_MS[0] || ms > PERIOD_MS[1]) return error(conn, "ms must be from 100 to 60000");
    state.ms = ms;
    state.running = true;
    return every(ms);
  },
  onTimer(key) {
    if (key !== TIMER) return [];
    const connections = roomSize(ROOM);
    if (connections === 0) {
      // Nobody watches: stop until the next connection starts it again.
      state.running = false;
      return cancelTimer(TIMER);
    }
    state.seq += 1;
    return publish(ROOM, JSON.stringify({ type: "tick", seq: state.seq, connections }));
  },
});
