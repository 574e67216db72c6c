// The Node.js `ws` peer the gateway is compared with: /echo sends each message back,
// /relay sends it to every other connection (as the relay plugin does), written the
// way the `ws` README shows. Usage: node server.mjs [port]
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';

const port = Number(process.argv[2] ?? 9100);
const options = { noServer: true, maxPayload: 1 << 20, perMessageDeflate: false };
const echo = new WebSocketServer(options);
const relay = new WebSocketServer(options);

echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

relay.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of relay.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    }
  });
});

const server = http.createServer((req, res) => {
  res.writeHead(404).end();
});
server.on('upgrade', (req, socket, head) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  const wss = path === '/echo' ? echo : path === '/relay' ? relay : null;
  if (!wss) {
    socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.listen(port, '127.0.0.1', () => console.error(`node ws peer on 127.0.0.1:${port}`));
