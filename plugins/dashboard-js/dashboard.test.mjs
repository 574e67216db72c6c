// The dashboard without a gateway: the same cases as the Rust dashboard's unit tests
// (plugins/dashboard/src/lib.rs), on the stand-in of wsgate-plugin/testing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cancelTimer, decodeUtf8, encodeUtf8, join, publish, setTimer } from "wsgate-plugin";
import { TestGateway } from "wsgate-plugin/testing";
import { DEFAULT_MS, handler, ROOM, TIMER } from "./dashboard.js";

const every = (ms) => setTimer(TIMER, ms, { repeatMs: ms });
/** A gateway serving the dashboard from its first state (the module's state outlives a test). */
function fresh() {
  const gw = new TestGateway(handler);
  gw.handler.restore(encodeUtf8(JSON.stringify({ seq: 0, ms: DEFAULT_MS, running: false })));
  return gw;
}

test("the first connection joins the room and starts the timer, the next only join", () => {
  const gw = fresh();
  assert.deepEqual(gw.connect(1), [join(1, ROOM), every(DEFAULT_MS)]);
  assert.deepEqual(gw.connect(2), [join(2, ROOM)]);
});

test("ticks count up, tell the room size, and the count is the state a reload hands over", () => {
  const gw = fresh();
  gw.connect(1);
  gw.connect(2);
  for (let seq = 1; seq <= 3; seq++) {
    assert.deepEqual(gw.timer(TIMER), [publish(ROOM, `{"type":"tick","seq":${seq},"connections":2}`)]);
  }
  const state = gw.handler.snapshot();
  assert.deepEqual(JSON.parse(decodeUtf8(state)), { seq: 3, ms: DEFAULT_MS, running: true });
  gw.handler.restore(encodeUtf8('{"seq":41,"ms":250}'));
  assert.deepEqual(gw.timer(TIMER), [publish(ROOM, '{"type":"tick","seq":42,"connections":2}')]);
  assert.deepEqual(gw.timer("other"), [], "another key is not the dashboard's");
});

test("the interval changes within bounds", () => {
  const gw = fresh();
  gw.connect(1);
  assert.deepEqual(gw.message(1, '{"type":"interval","ms":250}'), [every(250)]);
  const error = (text) => JSON.parse(gw.message(1, text)[0].val.payload.val);
  assert.deepEqual(error('{"type":"interval","ms":5}'), { type: "error", message: "ms must be from 100 to 60000" });
  for (const bad of ["hello", '{"type":"interval"}', '{"type":"interval","ms":2.5}', '{"type":"other","ms":200}']) {
    assert.deepEqual(error(bad), { type: "error", message: 'send {"type":"interval","ms":M}' }, bad);
  }
});

test("an empty room stops the ticks, and the next connection starts them again", () => {
  const gw = fresh();
  gw.connect(1);
  gw.close(1);
  assert.deepEqual(gw.timer(TIMER), [cancelTimer(TIMER)]);
  assert.deepEqual(gw.connect(2), [join(2, ROOM), every(DEFAULT_MS)]);
});
