// Module loading hooks for wrangler-rules.mjs (they run on Node's loader thread).
export async function load(url, context, nextLoad) {
  if (url.endsWith(".wasm")) {
    return {
      format: "module",
      shortCircuit: true,
      source:
        `import { readFileSync } from "node:fs";\n` +
        `export default new WebAssembly.Module(readFileSync(new URL(${JSON.stringify(url)})));\n`,
    };
  }
  if (url.endsWith(".vjson")) {
    return {
      format: "module",
      shortCircuit: true,
      source:
        `import { readFileSync } from "node:fs";\n` +
        `const b = readFileSync(new URL(${JSON.stringify(url)}));\n` +
        `export default b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);\n`,
    };
  }
  return nextLoad(url, context);
}
