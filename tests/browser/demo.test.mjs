// The demo page (www/) in headless Chromium, driven by playwright-core, on the packed npm
// package: a hybrid search whose hits in the DOM equal native vjson's top-10 for the same
// snapshot and query; text, vector, fusion and filter controls; a delete saved to
// IndexedDB, the page reloaded and the database restored from IndexedDB (and from OPFS),
// with the delete still in effect; free text, per-side ranks, highlighting, and the layout
// at 390 px. Leaves screenshots (desktop and mobile) in tests/js/.tmp/browser/.
//
// Run: node --test tests/browser/  (scripts/test.sh does, after tests/js/run.mjs has
// packed the package; VJSON_PKG / VJSON_WORK override where things are).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../../www/serve.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const WORK = process.env.VJSON_WORK ?? path.join(REPO, "tests", "js", ".tmp");
const INSTALLED = path.join(WORK, "project", "node_modules", "vjson");
const PKG = process.env.VJSON_PKG ?? (fs.existsSync(INSTALLED) ? INSTALLED : path.join(REPO, "pkg"));
const PARITY = path.join(WORK, "parity");
const OUT = path.join(WORK, "browser");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

let server;
let context;
let page;
let native;
let queries;
const pageErrors = [];

before(async () => {
  assert.ok(fs.existsSync(path.join(PKG, "index.js")), `no package at ${PKG}: run tests/js/run.mjs or scripts/build-npm.sh`);
  if (!fs.existsSync(path.join(PARITY, "native.json"))) {
    const r = spawnSync("cargo", ["run", "--release", "--quiet", "--example", "parity", "--", "native", PARITY], {
      cwd: REPO,
      stdio: "inherit",
    });
    assert.equal(r.status, 0);
  }
  native = JSON.parse(fs.readFileSync(path.join(PARITY, "native.json"), "utf8"));
  queries = fs
    .readFileSync(path.join(REPO, "tests", "data", "sample", "queries.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  fs.mkdirSync(OUT, { recursive: true });
  server = await startServer({ pkg: PKG, snapshot: path.join(PARITY, "native.snap") });
  context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "vjson-chromium-")), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1200, height: 1500 },
  });
  page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await open();
});

after(async () => {
  await context?.close();
  await server?.close();
});

async function open() {
  await page.goto(server.url);
  await page.waitForSelector("#status[data-ready]", { timeout: 60_000 });
  assert.equal(await page.getAttribute("#status", "data-ready"), "1", await page.textContent("#status"));
}

const hitIds = () => page.$$eval("#hits li", (lis) => lis.map((li) => li.dataset.id));
const size = async () => Number(await page.getAttribute("#size", "data-size"));

/** Picks sample query `i` (fills the text box too) and waits for the search it triggers. */
async function pick(i) {
  await page.fill("#query-filter", "");
  await page.evaluate(() => {
    document.querySelector("#summary").textContent = "";
  });
  await page.selectOption("#queries", String(i));
  await page.waitForFunction(() => document.querySelector("#summary").textContent.length > 0);
}

async function submit() {
  await page.evaluate(() => {
    document.querySelector("#summary").textContent = "";
  });
  await page.click("#search");
  await page.waitForFunction(
    () => document.querySelector("#summary").textContent.length > 0 || !document.querySelector("#error").hidden,
  );
}

async function setMode(mode) {
  await page.check(`input[name="mode"][value="${mode}"]`);
}

// A query whose hybrid top-10 is full and has no exact score ties (stable order).
function stableQuery() {
  for (let i = 0; i < native.modes.hybrid.length; i++) {
    const l = native.modes.hybrid[i];
    const distinct = l.every((h, j) => j === 0 || l[j - 1].score - h.score > 1e-6);
    if (l.length === 10 && distinct) return i;
  }
  throw new Error("no query with a stable hybrid ranking");
}

test("the page loads the snapshot and shows starter results", async () => {
  assert.equal(await size(), 2000);
  assert.match(await page.textContent("#status"), /snapshot \(384-d, cosine\)/);
  assert.equal(await page.$$eval("#queries option", (o) => o.length), 500);
  // The first sample query is searched on load: the page never opens empty.
  await page.waitForFunction(() => document.querySelectorAll("#hits li").length > 0);
  assert.equal(await page.inputValue("#text"), queries[0].text);
  assert.match(await page.textContent("#summary"), /^10 hits for a hybrid/);
});

test("a hybrid search shows native vjson's top-10 with vector, text and fused scores", async () => {
  const i = stableQuery();
  await setMode("hybrid");
  await page.selectOption("#fusion", "rrf");
  await pick(i);
  assert.deepEqual(
    await hitIds(),
    native.modes.hybrid[i].map((h) => h.id),
  );
  const first = await page.$eval("#hits li", (li) => ({
    score: li.querySelector(".score b").textContent,
    vector: li.querySelector(".vector-score b").textContent,
    text: li.querySelector(".text-score b").textContent,
  }));
  assert.equal(Number(first.score).toFixed(4), native.modes.hybrid[i][0].score.toFixed(4));
  assert.ok(Number(first.vector) > 0, `vector score shown: ${first.vector}`);
  assert.match(first.text, /^(\d+\.\d{4}|–)$/);
  assert.match(await page.textContent("#summary"), /^10 hits for a hybrid \(rrf\) search in [\d.]+ (ms|µs)$/);
  await page.screenshot({ path: path.join(OUT, "demo.png") });
});

test("vector, text, fusion and filter controls", async () => {
  const i = stableQuery();
  await pick(i);
  await setMode("vector");
  await submit();
  assert.deepEqual(await hitIds(), native.modes.vector[i].map((h) => h.id));
  assert.ok((await page.$$eval("#hits .text-score b", (b) => b.map((x) => x.textContent))).every((t) => t === "–"));

  await setMode("text");
  await page.fill("#text", queries[i].text);
  await submit();
  assert.deepEqual(await hitIds(), native.modes.text[i].map((h) => h.id));
  assert.ok((await page.$$eval("#hits .vector-score b", (b) => b.map((x) => x.textContent))).every((t) => t === "–"));

  await setMode("hybrid");
  await page.selectOption("#fusion", "weighted:0.7,0.3");
  await page.fill("#filter", '{"kind": "book"}');
  await submit();
  assert.deepEqual(await hitIds(), native.modes.hybrid_filtered[i].map((h) => h.id));
  const metas = await page.$$eval("#hits .meta", (m) => m.map((x) => x.textContent));
  assert.ok(metas.length > 0 && metas.every((m) => m.includes('kind: "book"')));

  await page.fill("#filter", '{"kind": {"$bogus": 1}}');
  await submit();
  assert.equal(await page.getAttribute("#error", "data-code"), "invalid_filter");
  await page.fill("#filter", "{not json");
  await submit();
  assert.equal(await page.getAttribute("#error", "data-code"), "invalid_filter");
  await page.fill("#filter", "");
  await page.selectOption("#fusion", "zscore"); // the default, as after a reload
});

test("free text falls back to text search with a note; ranks and highlighted terms", async () => {
  await setMode("hybrid");
  await pick(stableQuery());
  // Per-side ranks beside the scores of a hybrid search.
  const ranks = await page.$$eval("#hits .vector-score .rank, #hits .text-score .rank", (r) =>
    r.map((x) => x.textContent.trim()),
  );
  assert.ok(ranks.some((r) => /^#\d+$/.test(r)), `ranks shown: ${ranks}`);
  // Free text has no embedding: text results, and the page says so.
  await page.fill("#text", "borrow checker lifetimes");
  await submit();
  assert.equal(await page.isHidden("#error"), true, await page.textContent("#error"));
  assert.match(await page.textContent("#note"), /No embedding for free text: showing full-text results/);
  const fallback = await hitIds();
  assert.equal(fallback.length, 10);
  assert.match(await page.textContent("#summary"), /full-text search/);
  // ... the same hits as the text mode gives, with the query's words marked in the snippets.
  await setMode("text");
  await submit();
  assert.equal(await page.isHidden("#note"), true);
  assert.deepEqual(await hitIds(), fallback);
  const marks = await page.$$eval("#hits .snippet mark", (m) => m.map((x) => x.textContent.toLowerCase()));
  assert.ok(
    marks.length > 0 && marks.every((m) => /^(borrow|check|lifetime)/.test(m)),
    `highlighted: ${marks.join(", ")}`,
  );
  await setMode("hybrid");
});

test("at 390 px wide nothing overflows and the Search button is whole", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await pick(stableQuery());
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 390, `page is ${overflow} px wide at 390`);
    const button = await page.$eval("#search", (b) => {
      const r = b.getBoundingClientRect();
      return { left: r.left, right: r.right, width: r.width };
    });
    assert.ok(button.left >= 0 && button.right <= 390 && button.width > 40, JSON.stringify(button));
    // The relevant badge never breaks inside its words.
    const badge = await page.$eval("#hits .mark", (m) => getComputedStyle(m).whiteSpace).catch(() => "nowrap");
    assert.equal(badge, "nowrap");
    await page.screenshot({ path: path.join(OUT, "mobile.png"), fullPage: false });
  } finally {
    await page.setViewportSize({ width: 1200, height: 1500 });
  }
});

test("save to IndexedDB, reload, restore: the saved state comes back", async () => {
  const i = stableQuery();
  await setMode("hybrid");
  await pick(i);
  const before = await hitIds();
  // Delete the top hit, search again, then save.
  await page.click("#hits li:first-child .delete");
  assert.equal(await size(), 1999);
  await pick(i);
  const expected = await hitIds();
  assert.equal(expected.length, 10);
  assert.ok(!expected.includes(before[0]));
  await page.click("#save-idb");
  await page.waitForFunction(() => /saved .* to IndexedDB/.test(document.querySelector("#storage-status").textContent));

  await page.reload();
  await page.waitForSelector("#status[data-ready]");
  assert.equal(await size(), 2000, "a reload opens the network snapshot again");
  await setMode("hybrid");
  await pick(i);
  assert.deepEqual(await hitIds(), before, "the network snapshot still has the deleted document");
  await page.click("#load-idb");
  await page.waitForFunction(() => document.querySelector("#storage-status").dataset.source === "IndexedDB");
  assert.equal(await size(), 1999);

  await pick(i);
  assert.deepEqual(await hitIds(), expected, "the restored database answers as the saved one did");
});

test("save to OPFS and restore", async () => {
  assert.equal(await page.isDisabled("#save-opfs"), false, "Chromium has OPFS");
  const i = stableQuery();
  await pick(i);
  const top = (await hitIds())[0];
  await page.click("#hits li:first-child .delete");
  const n = await size();
  await pick(i);
  const expected = await hitIds();
  await page.click("#save-opfs");
  await page.waitForFunction(() => /saved .* to OPFS/.test(document.querySelector("#storage-status").textContent));
  await page.reload();
  await page.waitForSelector("#status[data-ready]");
  await page.click("#load-opfs");
  await page.waitForFunction(() => document.querySelector("#storage-status").dataset.source === "OPFS");
  assert.equal(await size(), n);
  await pick(i);
  assert.ok(!expected.includes(top));
  assert.deepEqual(await hitIds(), expected);
  await page.screenshot({ path: path.join(OUT, "restored.png") });
});

test("no uncaught errors on the page", () => {
  assert.deepEqual(pageErrors, []);
});
