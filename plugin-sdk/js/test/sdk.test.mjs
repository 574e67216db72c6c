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
  assert.deepEqual(setTimer("t", 100, { repeatMs: 50 }).val, { key: "t", delayMs: 100, repeatMs: 50, data: new Uint8Array() });
  assert.equal(setTimer("t", 2.7).val.delayMs, 2, "whole milliseconds");
  assert.equal(setTimer("t", 10n).val.delayMs, 10, "a BigInt becomes a number (a u64 crosses as one)");
  assert.throws(() => setTimer("t", -1), RangeError);
  assert.throws(() => setTimer("t", 5, { repeatMs: "soon" }), /repeatMs must be a number of milliseconds/);
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

test("the host reads say what is missing without a gateway, and ask the installed one", async () => {
  const { roomSize, roomMembers, connectionInfo, log, installHost } = await import("../index.js");
  installHost(undefined);
  assert.throws(() => roomSize("lobby"), /no gateway to ask.*wsgate-plugin build.*TestGateway/);
  const asked = [];
  installHost({
    roomSize: (room) => { asked.push(["roomSize", room]); return 2; },
    roomMembers: () => [4, 5],
    connectionInfo: (id) => { asked.push(["connectionInfo", id]); return null; },
    log: (level, message) => asked.push([level, message]),
  });
  assert.equal(roomSize("lobby"), 2);
  assert.deepEqual(roomMembers("lobby"), [4, 5]);
  assert.equal(connectionInfo(conn), null, "a connection object is asked by its id");
  log.info(42);
  assert.deepEqual(asked, [["roomSize", "lobby"], ["connectionInfo", 3], ["info", "42"]]);
});

test("TestGateway applies what the commands change and answers the reads from it", async () => {
  const { TestGateway } = await import("../testing.js");
  const { roomMembers, roomsOf, userConnections, connectionInfo } = await import("../index.js");
  const plugin = definePlugin({
    onAccept: (id, request) => (request.path === "/no" ? deny(403) : allow({ user: "ada", rooms: ["r"] })),
    onMessage: (c, text) => [join(c, text), setAttachment(c, "seat"), close(c)],
  });
  const gw = new TestGateway(plugin);
  assert.equal(gw.accept(1, { path: "/no" }).decision.tag, "deny");
  assert.equal(connectionInfo(1), null, "a refused handshake opens nothing");
  assert.deepEqual(gw.accept(2).commands, []);
  assert.deepEqual(roomsOf(2), ["r"]);
  gw.message(2, "s");
  assert.deepEqual(roomMembers("s"), [2]);
  assert.equal(gw.attachmentText(2), "seat");
  assert.equal(connectionInfo(2).open, false, "closing");
  assert.deepEqual(userConnections("ada"), [], "a closing connection is not open");
  gw.close(2);
  assert.deepEqual(roomMembers("r"), []);
});

test("decodeUtf8 takes big data and Arrays", async () => {
  const { decodeUtf8, encodeUtf8 } = await import("../index.js");
  const big = "é".repeat(100_000);
  assert.equal(decodeUtf8(encodeUtf8(big)), big);
  assert.equal(decodeUtf8([0x68, 0x69]), "hi");
  assert.throws(() => decodeUtf8(new Uint8Array([0xff])), URIError);
});

test("a Uint8Array is a binary message, anything else text", () => {
  const data = new Uint8Array([1, 2]);
  assert.deepEqual(send(1, data).val.payload, { tag: "binary", val: data });
  assert.deepEqual(broadcast(data, [conn]).val, { payload: { tag: "binary", val: data }, except: [3] });
  assert.deepEqual(publish("r", 42).val.payload, { tag: "text", val: "42" });
});

test("queryParam reads a query string as a form", async () => {
  const { queryParam } = await import("../index.js");
  assert.equal(queryParam("room=a+b%21&room=second", "room"), "a b!", "the first, decoded");
  assert.equal(queryParam("x=1&flag", "flag"), "", "a key without a value");
  assert.equal(queryParam("x=%E2%82%AC", "x"), "€", "UTF-8");
  assert.equal(queryParam("x=%zz", "x"), "%zz", "a malformed escape stands");
  assert.equal(queryParam("", "room"), null);
  assert.equal(queryParam("rooms=1", "room"), null);
});

// Calls of several messages (the gateway batches them for a plugin that imports
// `host.commit`): each message is handled as if it had come alone.
const batchPlugin = async () => {
  const { roomSize } = await import("../index.js");
  return definePlugin({
    onMessage: (c, text) => {
      const [verb, arg] = text.split(" ");
      if (verb === "join") return join(c, arg);
      if (verb === "size") return send(c, String(roomSize(arg)));
      if (verb === "attach") return setAttachment(c, arg);
      if (verb === "close") return close(c);
      return send(c, `${text}:${new TextDecoder().decode(c.attachment)}`);
    },
  });
};
const texts = (commands) => commands.filter((c) => c.tag === "send").map((c) => c.val.payload.val);

test("in a call of several messages, a read sees what the earlier ones did, committed once", async () => {
  const { TestGateway } = await import("../testing.js");
  const gw = new TestGateway(await batchPlugin());
  gw.connect(1);
  gw.connect(2);
  const out = gw.messages([[1, "join r"], [2, "a"], [2, "size r"], [1, "b"]]);
  assert.deepEqual(gw.commits, [[2, 2]], "one commit, before the read, of the two events before it");
  assert.deepEqual(texts(out), ["a:", "1", "b:"]);
  assert.deepEqual(gw.messages([[1, "size r"], [2, "c"]]), [send(1, "1"), send(2, "c:")]);
  assert.deepEqual(gw.commits, [[2, 2]], "a read in the first event has nothing to commit");
});

test("in a call of several messages, an event sees the attachment an earlier one set", async () => {
  const { TestGateway } = await import("../testing.js");
  const gw = new TestGateway(await batchPlugin());
  gw.connect(1);
  gw.connect(2);
  const out = gw.messages([[1, "attach x"], [2, "b"], [1, "me"]]);
  assert.deepEqual(gw.commits, [[2, 2]]);
  assert.deepEqual(texts(out), ["b:", "me:x"]);
});

test("in a call of several messages, the messages of a connection an earlier one closed are dropped", async () => {
  const { TestGateway } = await import("../testing.js");
  const gw = new TestGateway(await batchPlugin());
  gw.connect(1);
  gw.connect(2);
  const out = gw.messages([[1, "close"], [1, "after"], [2, "b"], [1, "again"]]);
  assert.deepEqual(texts(out), ["b:"], "nothing answers conn 1 after its close");
  assert.deepEqual(gw.commits, [[1, 1], [3, 1]]);
});

test("a call of several untouched messages commits nothing and answers them all", async () => {
  const { TestGateway } = await import("../testing.js");
  const gw = new TestGateway(await batchPlugin());
  gw.connect(1);
  const out = gw.messages([[1, "a"], [1, "b"], [1, "c"]]);
  assert.deepEqual(gw.commits, []);
  assert.deepEqual(texts(out), ["a:", "b:", "c:"]);
});
