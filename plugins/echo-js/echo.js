// Echo: every message back to its sender, text as text and binary as binary.
import { definePlugin, send, sendBinary } from "wsgate-plugin";

export const handler = definePlugin({
  onMessage: (conn, text) => send(conn, text),
  onBinary: (conn, data) => sendBinary(conn, data),
});
