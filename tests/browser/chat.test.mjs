// The demo chat page in real headless Chromium: two pages join, chat, see each
// other's join and leave lines, and one survives a gateway restart by reconnecting.
// Runs the gateway binary (WSGATE_BIN, default target/debug/wsgate) with its demo.
// Screenshots go to target/browser-screenshots/ (on failure: failure-*.png).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.WSGATE_BIN ?? path.join(root, "target/debug/wsgate");
const shots = path.join(root, "target/browser-screenshots");
mkdirSync(shots, { recursive: true });
const TIMEOUT = 20_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** Starts the gateway's demo (or `config`) on `port`; resolves once it listens. */
function startGateway(port, config = null) {
  const args = ["serve", "--listen", `127.0.0.1:${port}`, ...(config ? ["--config", config] : [])];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${log}`)), TIMEOUT);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      if (log.includes("listening on ws://")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on("exit", (code) => reject(new Error(`gateway exited (${code}):\n${log}`)));
  });
}

function stopGateway(child) {
  return new Promise((resolve) => {
    child.removeAllListeners("exit");
    child.on("exit", resolve);
    child.kill("SIGTERM");
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
after(() => browser.close());

/** Opens the chat page at `url` and waits until it is connected. */
async function open(page, url) {
  await page.goto(url);
  await page.locator("#status.connected").waitFor({ timeout: TIMEOUT });
}

/** Sends `text` from the page's message box. */
async function say(page, text) {
  await page.fill("#message-input", text);
  await page.click("#send-button");
}

async function join(page, name) {
  await page.fill("#join-name", name);
  await page.click("#join-button");
}

/** Waits until `page` has a message line containing `text`. */
async function sees(page, text) {
  await page.locator("#messages li", { hasText: text }).first().waitFor({ timeout: TIMEOUT });
}

test("two pages chat, see joins and leaves, and survive a gateway restart", async (t) => {
  const port = await freePort();
  let gateway = await startGateway(port);
  const url = `http://127.0.0.1:${port}/`;
  const alice = await browser.newPage();
  const bob = await browser.newPage();
  t.after(async () => { if (gateway.exitCode === null) await stopGateway(gateway); });
  try {
    for (const page of [alice, bob]) await open(page, url);
    await join(alice, "Alice");
    await sees(alice, "Alice joined");
    await join(bob, "Bob");
    await sees(alice, "Bob joined");
    await sees(bob, "Bob joined");
    await page_text(alice, "#online", "2 online");

    await say(alice, "hello <b>Bob</b>");
    await sees(bob, "hello <b>Bob</b>");
    assert.equal(await bob.locator("#messages b").count(), 0, "text is shown as text, not HTML");
    // The README's picture: a conversation, before the error cases below.
    await bob.screenshot({ path: path.join(shots, "chat.png") });

    // Bad input shows the plugin's error.
    await bob.fill("#message-input", "x".repeat(2000));
    await bob.evaluate(() => { document.getElementById("message-input").maxLength = 5000; });
    await bob.fill("#message-input", "y".repeat(2001));
    await bob.click("#send-button");
    await bob.locator("#error:not([hidden])", { hasText: "at most 2000" }).waitFor({ timeout: TIMEOUT });

    // The gateway restarts: the pages reconnect by themselves and rejoin.
    await stopGateway(gateway);
    await bob.locator("#status", { hasText: "reconnecting" }).waitFor({ timeout: TIMEOUT });
    gateway = await startGateway(port);
    await bob.locator("#status.connected").waitFor({ timeout: TIMEOUT });
    await alice.locator("#status.connected").waitFor({ timeout: TIMEOUT });
    await page_text(bob, "#online", "2 online");
    await say(bob, "back again");
    await sees(alice, "back again");

    await alice.close();
    await sees(bob, "Alice left");
  } catch (error) {
    for (const [name, page] of [["alice", alice], ["bob", bob]]) {
      if (!page.isClosed()) await page.screenshot({ path: path.join(shots, `failure-${name}.png`) }).catch(() => {});
    }
    throw error;
  }
});

test("the same page over the JavaScript chat, and the README's console snippet on echo-js", async (t) => {
  const plugin = (name) => path.join(root, `plugins/${name}/${name}.wasm`);
  if (!existsSync(plugin("chat-js")) || !existsSync(plugin("echo-js"))) {
    t.skip("the JavaScript plugins are not built (./scripts/test.sh builds them; WSGATE_SKIP_JS=1 skips them)");
    return;
  }
  const config = path.join(mkdtempSync(path.join(tmpdir(), "wsgate-browser-")), "js.toml");
  writeFileSync(config, [
    "[[app]]", 'name = "chat"', 'route = "/ws"', `plugin = ${JSON.stringify(plugin("chat-js"))}`,
    `static = ${JSON.stringify(path.join(root, "plugins/chat/static"))}`, "",
    "[[app]]", 'name = "hello"', 'route = "/hello"', `plugin = ${JSON.stringify(plugin("echo-js"))}`, "",
  ].join("\n"));
  const port = await freePort();
  const gateway = await startGateway(port, config);
  t.after(() => stopGateway(gateway));
  const alice = await browser.newPage();
  const bob = await browser.newPage();
  for (const page of [alice, bob]) await open(page, `http://127.0.0.1:${port}/`);
  await join(alice, "Alice");
  await join(bob, "Bob");
  await sees(alice, "Bob joined");
  await page_text(alice, "#online", "2 online");
  await say(bob, "from JavaScript");
  await sees(alice, "from JavaScript");
  await bob.close();
  await sees(alice, "Bob left");

  // The README's browser-console lines, against a JavaScript plugin.
  const reply = await alice.evaluate((url) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onmessage = (e) => { resolve(e.data); ws.close(); };
    ws.onerror = () => reject(new Error("the socket failed"));
    ws.onopen = () => ws.send("hi");
  }), `ws://127.0.0.1:${port}/hello`);
  assert.equal(reply, "hi", "echo-js echoes");
  await alice.close();
});

async function page_text(page, selector, text) {
  await page.locator(selector, { hasText: text }).waitFor({ timeout: TIMEOUT });
}
