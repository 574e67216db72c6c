// The SDK without a gateway: hooks dispatched, defaults, command shapes, state.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  allow, broadcast, cancelTimer, close, CloseCode, definePlugin, deny, join, jsonState,
  publish, send, sendBinary, setAttachment, setTimer,
} from "../index.js";

const conn = { id: 3, user: "ada", attachment: new Uint8Array() };

test("hooks get their events in order; a missing hook asks for nothing", () => {
  const seen = [];
  const plugin = definePlugin({
    onConnect: (c) => { seen.push(["connect", c.id]); return join(c, "lobby"); },
    onMessage: (c, text) => { seen.push(["message", text]); return [publish("lobby", text, [c])]; },
    onClose: (c, code, reason) => { seen.push(["close", code, reason]); },
  });
  const out = plugin.handle([
    { tag: "connect", val: conn },
    { tag: "message", val: { conn, text: "hi" } },
    { tag: "binary", val: { conn, data: new Uint8Array([1]) } },
    { tag: "close", val: { conn, code: 1000, reason: "bye" } },
  ]);
  assert.deepEqual(seen, [["connect", 3], ["message", "hi"], ["close", 1000, "bye"]]);
  assert.deepEqual(out, [
    { tag: "join", val: { conn: 3, room: "lobby" } },
    { tag: "publish", val: { room: "lobby", payload: { tag: "text", val: "hi" }, except: [3] } },
  ]);
});

test("without hooks: every handshake allowed, an empty state", () => {
  const plugin = definePlugin({});
  assert.deepEqual(plugin.onAccept(1, {}), allow());
  assert.deepEqual(plugin.snapshot(), new Uint8Array());
  assert.deepEqual(plugin.handle([{ tag: "timer", val: { key: "k", data: new Uint8Array() } }]), []);
});

test("commands have the contract's shapes", () => {
  assert.deepEqual(send(7, "x"), { tag: "send", val: { conn: 7, payload: { tag: "text", val: "x" } } });
  assert.deepEqual(sendBinary(conn, "é").val.payload.val, new Uint8Array([0xc3, 0xa9]), "UTF-8");
  assert.deepEqual(broadcast("all").val.except, []);
  assert.deepEqual(close(conn), { tag: "close", val: { conn: 3, code: CloseCode.NORMAL, reason: "" } });
  assert.deepEqual(setTimer("t", 100, { repeatMs: 50 }).val.repeatMs, 50n, "u64 as BigInt");
  assert.equal(setTimer("t", 100).val.repeatMs, null);
  assert.deepEqual(cancelTimer("t"), { tag: "cancel-timer", val: "t" });
  assert.deepEqual(setAttachment(conn, "ok").val.data, new Uint8Array([0x6f, 0x6b]));
  assert.deepEqual(deny(403, "no"), { tag: "deny", val: { status: 403, reason: "no" } });
});

test("jsonState hands the state over a reload", () => {
  let state = { count: 2, name: "Zoë" };
  const before = definePlugin({ ...jsonState(() => state, (s) => { state = s; }) });
  const bytes = before.snapshot();
  state = null;
  const after = definePlugin({ ...jsonState(() => state, (s) => { state = s; }) });
  after.restore(bytes);
  assert.deepEqual(state, { count: 2, name: "Zoë" });
  after.restore(new Uint8Array());
  assert.deepEqual(state, { count: 2, name: "Zoë" }, "an empty state keeps the default");
});
