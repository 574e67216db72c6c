// For the gateway's tests of JavaScript plugins (tests/tests/gateway/js.rs): the
// sandbox must hold whatever a JS hook does. A message names a misdeed; anything
// else is echoed.
//
//   throw   an exception out of the hook          -> a trap: 1011, a fresh instance
//   loop    an endless loop                       -> stopped at hook_timeout_ms
//   alloc   memory without end                    -> stopped at the memory limit
//   stack   recursion without end                 -> QuickJS's stack limit, a trap
//   count   the number of counts so far, kept across hot reloads (JSON state)
//   log     a line in the gateway's log, then "logged"
import { definePlugin, jsonState, log, send } from "wsgate-plugin";

let state = { count: 0 };

const deep = (n) => deep(n + 1) + 1;

export const handler = definePlugin({
  ...jsonState(() => state, (s) => { state = s; }),
  onMessage(conn, text) {
    switch (text) {
      case "throw": throw new Error("a JavaScript exception");
      case "loop": for (;;) {} // eslint-disable-line no-empty
      case "alloc": {
        const hoard = [];
        for (;;) hoard.push(new Array(65536).fill(hoard.length));
      }
      case "stack": return [send(conn, String(deep(0)))];
      case "count": state.count += 1; return send(conn, String(state.count));
      case "log": log.warn(`a line from connection ${conn.id}`); return send(conn, "logged");
      default: return send(conn, text);
    }
  },
});
