#!/usr/bin/env node
// Runs the npm package tests the way a user meets the package: builds pkg/
// (scripts/build-npm.sh), packs it with `npm pack`, installs the tarball into a fresh
// project under tests/js/.tmp/, copies the tests (tests/js/*.test.mjs) and the edge example
// (examples/edge/) next to it, and runs them with node:test:
//   - the API, error and cross-target parity tests under Node's default conditions;
//   - the TypeScript declarations type-checked against a usage file;
//   - the edge example three times: as Node resolves the package ("node"), with the
//     "worker" condition (module bytes embedded in JS) and with the "workerd" condition
//     under wrangler's module rules (.wasm -> WebAssembly.Module, .vjson -> ArrayBuffer).
// Usage: node tests/js/run.mjs [--no-build]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const WORK = path.join(HERE, ".tmp");
const PROJECT = path.join(WORK, "project");

function run(cmd, args, opts = {}) {
  console.log(`$ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", ...opts });
  if (r.status !== 0) {
    console.error(`tests/js: ${cmd} exited with ${r.status ?? r.signal}`);
    process.exit(1);
  }
  return r;
}

if (!process.argv.includes("--no-build")) {
  run(path.join(REPO, "scripts", "build-npm.sh"), [], { cwd: REPO });
}

// Pack and install into a fresh project.
fs.mkdirSync(WORK, { recursive: true });
fs.rmSync(PROJECT, { recursive: true, force: true });
for (const f of fs.readdirSync(WORK)) if (f.endsWith(".tgz")) fs.rmSync(path.join(WORK, f));
const packed = spawnSync("npm", ["pack", "--json", "--pack-destination", WORK, path.join(REPO, "pkg")], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
});
if (packed.status !== 0) process.exit(1);
const tarball = path.join(WORK, JSON.parse(packed.stdout)[0].filename);
console.log(`tests/js: packed ${path.relative(REPO, tarball)}`);
fs.mkdirSync(PROJECT, { recursive: true });
fs.writeFileSync(
  path.join(PROJECT, "package.json"),
  JSON.stringify({ name: "vjson-js-tests", private: true, type: "module" }, null, 2),
);
run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: PROJECT });

// The tests and the edge example, copied next to the installed package.
const TESTS = path.join(PROJECT, "test");
const EDGE = path.join(PROJECT, "edge");
fs.mkdirSync(TESTS);
for (const f of fs.readdirSync(HERE)) {
  if (f !== "run.mjs" && (f.endsWith(".mjs") || f.endsWith(".ts") || f.endsWith(".json"))) {
    fs.copyFileSync(path.join(HERE, f), path.join(TESTS, f));
  }
}
fs.cpSync(path.join(REPO, "examples", "edge"), EDGE, { recursive: true });

const env = { ...process.env, VJSON_REPO: REPO, VJSON_WORK: WORK };
const testFiles = fs
  .readdirSync(TESTS)
  .filter((f) => f.endsWith(".test.mjs"))
  .sort()
  .map((f) => path.join("test", f));
run(process.execPath, ["--test", "--test-concurrency=1", ...testFiles], { cwd: PROJECT, env });

// The edge example serves the sample snapshot (written natively by the parity test).
const snap = path.join(WORK, "parity", "native.snap");
if (!fs.existsSync(snap)) {
  run("cargo", ["run", "--release", "--quiet", "--example", "parity", "--", "snapshot", snap], { cwd: REPO });
}
fs.mkdirSync(path.join(EDGE, "data"), { recursive: true });
fs.copyFileSync(snap, path.join(EDGE, "data", "sample.vjson"));

// The edge example under each way a runtime may resolve the package.
const edgeTest = path.join("edge", "worker.test.mjs");
for (const [label, flags] of [
  ["node", []],
  ["worker", ["--conditions=worker"]],
  ["workerd", ["--conditions=workerd", "--import", "./edge/wrangler-rules.mjs"]],
]) {
  console.log(`tests/js: edge example, "${label}" condition`);
  run(process.execPath, [...flags, "--test", edgeTest], {
    cwd: PROJECT,
    env: { ...env, VJSON_EDGE_CONDITION: label },
  });
}
console.log("tests/js: all npm package tests passed");
