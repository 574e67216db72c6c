// The chat without a gateway: the stand-in of wsgate-plugin/testing keeps the
// connections, rooms and attachments the gateway would, and the hooks' commands are
// compared. The same cases as the Rust chat's unit tests (plugins/chat/src/tests.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { publish, send } from "wsgate-plugin";
import { TestGateway } from "wsgate-plugin/testing";
import { handler, LOBBY, MAX_ROOM_CHARS, MAX_TEXT_CHARS, MAX_USERNAME_CHARS } from "./chat.js";

const [A, B, C] = [1, 2, 3];
/** The messages among `commands` (sends and publishes), without joins, leaves, attachments. */
const messages = (commands) => commands.filter((c) => c.tag === "send" || c.tag === "publish");
const toRoom = (room, json) => [publish(room, json)];
/** The message of the one error reply `commands` must be. */
function errorMessage(commands) {
  assert.equal(commands.length, 1, JSON.stringify(commands));
  const reply = JSON.parse(commands[0].val.payload.val);
  assert.equal(reply.type, "error");
  return reply.message;
}
const gateway = (...ids) => {
  const gw = new TestGateway(handler);
  for (const id of ids) gw.connect(id);
  return gw;
};

test("connect puts the newcomer in the lobby and welcomes it alone", () => {
  const gw = new TestGateway(handler);
  assert.deepEqual(messages(gw.connect(A)), [send(A, '{"type":"welcome","message":"Connected!"}')]);
  assert.deepEqual(gw.rooms(A), [LOBBY]);
  assert.equal(gw.attachmentText(A), '{"room":"lobby"}', "the Rust chat's seat");
});

test("join is published to the room and names later messages", () => {
  const gw = gateway(A);
  assert.deepEqual(messages(gw.message(A, '{"type":"join","username":"Alice"}')), toRoom(LOBBY, '{"type":"join","user":"Alice"}'));
  assert.deepEqual(gw.message(A, '{"type":"message","text":"hi"}'), toRoom(LOBBY, '{"type":"message","user":"Alice","text":"hi"}'));
  assert.deepEqual(gw.message(A, "plain words"), toRoom(LOBBY, '{"type":"message","user":"Alice","text":"plain words"}'));
  assert.equal(gw.attachmentText(A), '{"name":"Alice","room":"lobby"}');
});

test("a join with a room moves the user there and speaks there", () => {
  const gw = gateway(A);
  const out = gw.message(A, '{"type":"join","username":"Alice","room":"rust"}');
  assert.deepEqual(messages(out), toRoom("rust", '{"type":"join","user":"Alice"}'));
  assert.deepEqual(gw.rooms(A), ["rust"]);
  assert.deepEqual(gw.message(A, "hi"), toRoom("rust", '{"type":"message","user":"Alice","text":"hi"}'));
});

test("move says leave to the old room and join to the new one", () => {
  const gw = gateway(A);
  gw.message(A, '{"type":"join","username":"Alice"}');
  assert.deepEqual(messages(gw.message(A, '{"type":"move","room":"go"}')), [
    publish(LOBBY, '{"type":"leave","user":"Alice"}'),
    publish("go", '{"type":"join","user":"Alice"}'),
  ]);
  assert.deepEqual(gw.rooms(A), ["go"]);
  assert.deepEqual(gw.message(A, '{"type":"move","room":"go"}'), []);
});

test("bad room names get an error", () => {
  const gw = gateway(A);
  for (const room of ["", "with space", "ü", "r".repeat(MAX_ROOM_CHARS + 1), 7]) {
    assert.match(errorMessage(gw.message(A, JSON.stringify({ type: "join", username: "A", room }))), /room/, `${room}`);
    assert.match(errorMessage(gw.message(A, JSON.stringify({ type: "move", room }))), /room/, `${room}`);
  }
  const longest = JSON.stringify({ type: "move", room: "r".repeat(MAX_ROOM_CHARS) });
  assert.equal(messages(gw.message(A, longest)).length, 2);
});

test("users who have not joined are anonymous", () => {
  const gw = gateway(B);
  assert.deepEqual(gw.message(B, "hello"), toRoom(LOBBY, '{"type":"message","user":"Anonymous","text":"hello"}'));
  assert.deepEqual(gw.close(B), toRoom(LOBBY, '{"type":"leave","user":"Anonymous"}'));
});

test("text that is not a JSON object is sent as it stands", () => {
  const gw = gateway(A);
  for (const raw of ["42", '"quoted"', "{not json", "[1,2]", ' {"type":"join"} trailing']) {
    const json = JSON.stringify({ type: "message", user: "Anonymous", text: raw });
    assert.deepEqual(gw.message(A, raw), toRoom(LOBBY, json), raw);
  }
});

test("output is escaped JSON", () => {
  const gw = gateway(A);
  gw.message(A, '{"type":"join","username":"Bob \\"the\\" <b>"}');
  const [out] = gw.message(A, 'line\n"two"\\\u0001');
  assert.equal(out.val.payload.val, '{"type":"message","user":"Bob \\"the\\" <b>","text":"line\\n\\"two\\"\\\\\\u0001"}', "as serde_json writes it");
});

test("leave names the user to their room", () => {
  const gw = gateway(A);
  gw.message(A, '{"type":"join","username":"Alice","room":"rust"}');
  assert.deepEqual(gw.close(A), toRoom("rust", '{"type":"leave","user":"Alice"}'));
});

test("bad input gets an error reply to the sender only", () => {
  const gw = gateway(B);
  const cases = [
    '{"type":"join"}', '{"type":"join","username":42}', '{"type":"dance"}', '{"text":"no type"}',
    '{"type":"join","username":"   "}', '{"type":"join","username":"a\\u0007b"}',
    `{"type":"join","username":"${"x".repeat(MAX_USERNAME_CHARS + 1)}"}`,
    '{"type":"message","text":""}', '{"type":"message","text":5}', "", "y".repeat(MAX_TEXT_CHARS + 1),
  ];
  for (const input of cases) {
    const out = gw.message(B, input);
    assert.notEqual(errorMessage(out), "", input);
    assert.equal(out[0].val.conn, B, input);
  }
  assert.deepEqual(
    gw.message(B, "still anonymous"),
    toRoom(LOBBY, '{"type":"message","user":"Anonymous","text":"still anonymous"}'),
    "no bad join was recorded",
  );
});

test("names at the limits are accepted, counted in characters", () => {
  const gw = gateway(A);
  const join = JSON.stringify({ type: "join", username: "é".repeat(MAX_USERNAME_CHARS - 1) + "😀" });
  assert.equal(messages(gw.message(A, join))[0].tag, "publish");
  assert.equal(gw.message(A, "😀".repeat(MAX_TEXT_CHARS))[0].tag, "publish");
});

test("a second join is refused", () => {
  const gw = gateway(A);
  gw.message(A, '{"type":"join","username":"Alice"}');
  assert.equal(errorMessage(gw.message(A, '{"type":"join","username":"Eve"}')), 'already joined as "Alice"');
});

test("binary messages get an error", () => {
  const gw = gateway(A);
  assert.match(errorMessage(gw.binary(A, new Uint8Array([1, 2]))), /binary/);
});

test("names live in the gateway, so a fresh instance knows them", () => {
  const gw = gateway(A);
  gw.message(A, '{"type":"join","username":"Alice","room":"rust"}');
  gw.reload(handler);
  assert.deepEqual(gw.message(A, "still here"), toRoom("rust", '{"type":"message","user":"Alice","text":"still here"}'));
  // A seat the Rust chat wrote reads the same; a broken one is a new seat.
  gw.connect(B, { attachment: '{"name":"Bob","room":"go"}' });
  assert.deepEqual(gw.rooms(B), ["go"]);
  assert.deepEqual(gw.message(B, "hi"), toRoom("go", '{"type":"message","user":"Bob","text":"hi"}'));
  gw.connect(C, { attachment: '{"name":5,"room":"go"}' });
  assert.deepEqual(gw.rooms(C), [LOBBY]);
});

test("who lists the joined users of the room and counts the others, to the sender only", () => {
  const gw = gateway(A, B, C, 4);
  gw.message(A, '{"type":"join","username":"Alice"}');
  gw.message(4, '{"type":"join","username":"Dora","room":"other"}');
  assert.deepEqual(gw.message(B, '{"type":"who"}'), [send(B, '{"type":"users","users":["Alice"],"anonymous":2}')]);
  gw.close(C);
  assert.deepEqual(gw.message(B, '{"type":"who"}'), [send(B, '{"type":"users","users":["Alice"],"anonymous":1}')]);
});
