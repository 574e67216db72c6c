// The misdeeds that need no gateway to check: the counter's state and the log.
import { test } from "node:test";
import assert from "node:assert/strict";
import { send } from "wsgate-plugin";
import { TestGateway } from "wsgate-plugin/testing";
import { handler } from "./hostile.js";

test("the count goes on across a reload, with the state as JSON", async () => {
  const gw = new TestGateway(handler);
  gw.connect(1);
  assert.deepEqual(gw.message(1, "count"), [send(1, "1")]);
  assert.deepEqual(gw.message(1, "count"), [send(1, "2")]);
  // A fresh copy of the module, as a new version starts: its own count is 0.
  const { handler: fresh } = await import("./hostile.js?fresh");
  assert.deepEqual(fresh.handle([{ tag: "message", val: { conn: gw.conn(1), text: "count" } }]), [send(1, "1")]);
  const { handler: next } = await import("./hostile.js?next");
  gw.reload(next);
  assert.deepEqual(gw.message(1, "count"), [send(1, "3")], "the state came over");
});

test("a log line reaches the gateway", () => {
  const gw = new TestGateway(handler);
  gw.connect(5);
  assert.deepEqual(gw.message(5, "log"), [send(5, "logged")]);
  assert.deepEqual(gw.logs, [["warn", "a line from connection 5"]]);
});

test("an exception leaves the hook", () => {
  const gw = new TestGateway(handler);
  gw.connect(1);
  assert.throws(() => gw.message(1, "throw"), /a JavaScript exception/);
  assert.deepEqual(gw.message(1, "echo me"), [send(1, "echo me")]);
});
