// The hooks without a gateway: events in, commands out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { handler } from "./echo.js";

const conn = { id: 7, user: null, attachment: new Uint8Array() };

test("a text message comes back to its sender as text", () => {
  assert.deepEqual(handler.handle([{ tag: "message", val: { conn, text: "hi" } }]), [
    { tag: "send", val: { conn: 7, payload: { tag: "text", val: "hi" } } },
  ]);
});

test("binary comes back as binary, and other events ask for nothing", () => {
  const data = new Uint8Array([1, 2, 3]);
  const out = handler.handle([
    { tag: "connect", val: conn },
    { tag: "binary", val: { conn, data } },
    { tag: "close", val: { conn, code: 1000, reason: "" } },
  ]);
  assert.deepEqual(out, [{ tag: "send", val: { conn: 7, payload: { tag: "binary", val: data } } }]);
});

test("every handshake is accepted", () => {
  assert.equal(handler.onAccept(7, { path: "/echo" }).tag, "allow");
});
