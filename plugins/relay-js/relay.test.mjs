// The relay without a gateway, as the Rust relay's unit tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { broadcast, publish } from "wsgate-plugin";
import { TestGateway } from "wsgate-plugin/testing";
import { handler } from "./relay.js";

test("text goes to everyone else as text, binary as binary", () => {
  const gw = new TestGateway(handler);
  gw.accept(2);
  assert.deepEqual(gw.message(2, "hi"), [broadcast("hi", [2])]);
  const data = new Uint8Array([0, 255]);
  assert.deepEqual(gw.binary(2, data), [broadcast(data, [2])]);
});

test("a connection that asked for a room publishes to the room", () => {
  const gw = new TestGateway(handler);
  const { decision } = gw.accept(2, { query: "x=1&room=bench+mark%21" });
  assert.deepEqual(decision.val.rooms, ["bench mark!"]);
  assert.deepEqual(gw.rooms(2), ["bench mark!"]);
  assert.deepEqual(gw.message(2, "hi"), [publish("bench mark!", "hi", [2])]);
});
