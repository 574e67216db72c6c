// Relay, as the Rust `relay` plugin: each message goes unchanged (text as text,
// binary as binary) to every other connection of the app or, for a connection that
// asked for a room (`/relay?room=NAME`), to every other member of that room. The
// benchmark compares the two (the fan-out is the gateway's, not the plugin's).
import { allow, broadcast, decodeUtf8, definePlugin, publish, queryParam } from "wsgate-plugin";

const relay = (conn, message) =>
  conn.attachment.length === 0
    ? broadcast(message, [conn])
    : publish(decodeUtf8(conn.attachment), message, [conn]);

export const handler = definePlugin({
  onAccept(conn, request) {
    const room = queryParam(request.query, "room");
    return room === null ? allow() : allow({ attachment: room, rooms: [room] });
  },
  onMessage: (conn, text) => relay(conn, text),
  onBinary: (conn, data) => relay(conn, data),
});
