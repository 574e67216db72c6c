#!/usr/bin/env node
// `wsgate-plugin build ENTRY.js [-o OUT.wasm]`: the plugin as a WebAssembly component
// for wsgate, with componentize-qjs and the flags the gateway needs (`--sync`: no
// component-model async; `--stub-wasi`: the plugin imports nothing but the contract).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = realpathSync(path.join(here, ".."));
const [command, entry, ...rest] = process.argv.slice(2);
if (command !== "build" || !entry) {
  console.error("usage: wsgate-plugin build ENTRY.js [-o OUT.wasm]");
  process.exit(2);
}
const out = rest[0] === "-o" && rest[1] ? rest[1] : entry.replace(/\.m?js$/, "") + ".wasm";

// The entry's imports ("wsgate-plugin" included) resolve under one read-only root:
// the deepest folder holding both the project and this SDK (npm links a local SDK).
const common = (a, b) => {
  const x = a.split(path.sep);
  const y = b.split(path.sep);
  let i = 0;
  while (i < x.length && x[i] === y[i]) i++;
  return x.slice(0, i).join(path.sep) || path.sep;
};
const root = common(realpathSync(process.cwd()), sdk);

const require = createRequire(import.meta.url);
const qjs = path.dirname(require.resolve("componentize-qjs/package.json"));
const bin = JSON.parse(readFileSync(path.join(qjs, "package.json"), "utf8")).bin;
const cli = path.join(qjs, typeof bin === "string" ? bin : bin["componentize-qjs"]);
// The component's entry: the plugin's module, with the gateway's `host` imports
// installed where the SDK's reads (roomMembers, log, …) find them.
const wrapper = path.join(path.dirname(entry), `.wsgate-entry-${process.pid}.mjs`);
writeFileSync(
  wrapper,
  `import host from "wsgate:plugin/host@0.2.0";\n` +
    `export * from ${JSON.stringify("./" + path.basename(entry))};\n` +
    `globalThis[Symbol.for("wsgate-plugin.host")] = host;\n`,
);
const args = [cli, "--wit", path.join(sdk, "wit"), "--world", "plugin", "--js", wrapper, "--sync", "--stub-wasi",
  "--module-root", root, "-o", out];
let run;
try {
  run = spawnSync(process.execPath, args, { stdio: "inherit" });
} finally {
  rmSync(wrapper, { force: true });
}
if (run.error) console.error(`wsgate-plugin: cannot run componentize-qjs: ${run.error.message}`);
process.exit(run.status ?? 1);
