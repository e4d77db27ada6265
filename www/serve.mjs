#!/usr/bin/env node
// A tiny static server for the demo page, on 127.0.0.1 only:
//   /                  www/
//   /vjson/            the npm package (pkg/ from scripts/build-npm.sh, or --pkg DIR)
//   /sample/           the bundled sample's queries (tests/data/sample: queries, qrels)
//   /data/sample.vjson the sample snapshot (--snapshot FILE; default target/www/sample.vjson,
//                      written by `cargo run --release --example parity -- snapshot` when
//                      missing)
// Usage: node www/serve.mjs [--port 8080] [--pkg DIR] [--snapshot FILE]
// Also imported by tests/browser (startServer).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const WWW = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(WWW, "..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".cjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".jsonl": "application/x-ndjson; charset=utf-8",
  ".wasm": "application/wasm",
  ".f32": "application/octet-stream",
  ".vjson": "application/octet-stream",
  ".png": "image/png",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};

/** Resolves `rel` inside `root`, or null when it would escape it. */
function inside(root, rel) {
  const p = path.resolve(root, "." + path.posix.normalize("/" + rel));
  return p === root || p.startsWith(root + path.sep) ? p : null;
}

/**
 * Starts the server; resolves with {url, close()}. `port` 0 picks a free one.
 */
export function startServer({
  port = 0,
  pkg = path.join(REPO, "pkg"),
  snapshot = path.join(REPO, "target", "www", "sample.vjson"),
  sample = path.join(REPO, "tests", "data", "sample"),
  quiet = true,
} = {}) {
  const mounts = [
    ["/vjson/", path.resolve(pkg)],
    ["/sample/", path.resolve(sample)],
    ["/", WWW],
  ];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    let file = null;
    const pathname = decodeURIComponent(url.pathname);
    if (pathname === "/data/sample.vjson") {
      file = path.resolve(snapshot);
    } else {
      for (const [prefix, root] of mounts) {
        if (pathname.startsWith(prefix)) {
          file = inside(root, pathname.slice(prefix.length) || "index.html");
          break;
        }
      }
    }
    if (file && fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
      if (!quiet) console.log(`404 ${pathname}`);
      return;
    }
    const body = fs.readFileSync(file);
    res.writeHead(200, {
      "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "content-length": body.length,
      "cache-control": "no-store",
    });
    res.end(req.method === "HEAD" ? undefined : body);
    if (!quiet) console.log(`200 ${pathname}`);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const { port: actual } = server.address();
      resolve({
        url: `http://127.0.0.1:${actual}/`,
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const pkg = path.resolve(arg("--pkg", path.join(REPO, "pkg")));
  const snapshot = path.resolve(arg("--snapshot", path.join(REPO, "target", "www", "sample.vjson")));
  if (!fs.existsSync(path.join(pkg, "index.js"))) {
    console.error(`serve: no package at ${pkg}; run ./scripts/build-npm.sh first`);
    process.exit(1);
  }
  if (!fs.existsSync(snapshot)) {
    console.log(`serve: writing the sample snapshot to ${snapshot}`);
    const r = spawnSync(
      "cargo",
      ["run", "--release", "--quiet", "--example", "parity", "--", "snapshot", snapshot],
      { cwd: REPO, stdio: "inherit" },
    );
    if (r.status !== 0) process.exit(1);
  }
  const { url } = await startServer({ port: Number(arg("--port", "8080")), pkg, snapshot, quiet: false });
  console.log(`vjson demo on ${url}`);
}
