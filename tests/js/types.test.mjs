// The package's TypeScript declarations type-check a usage file (tests/js/types-check.ts)
// in strict mode, with the package resolved through its "types" export as a user's
// project would (moduleResolution "nodenext").
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { REPO } from "./helpers.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));

// Two projects: a browser one (with the DOM library) and a Node-only one (no DOM, no
// @types): the declarations must check in both.
for (const [name, lib] of [
  ["with the DOM library", ["es2022", "dom", "esnext.disposable"]],
  ["Node-only (no DOM library)", ["es2022", "esnext.disposable"]],
]) {
  test(`index.d.ts describes the API (tsc --strict, ${name})`, () => {
    const tsc = path.join(REPO, "node_modules", "typescript", "bin", "tsc");
    assert.ok(fs.existsSync(tsc), "typescript is a dev dependency of the repository (npm ci)");
    const project = path.dirname(HERE);
    const config = path.join(project, "tsconfig.json");
    fs.writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          lib,
          types: [],
          skipLibCheck: false,
        },
        files: [path.join(HERE, "types-check.ts")],
      }),
    );
    const r = spawnSync(process.execPath, [tsc, "-p", config], { cwd: project, encoding: "utf8" });
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  });
}
