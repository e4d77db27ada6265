// The deployable Cloudflare Worker: the snapshot ships with the worker as bytes (wrangler
// rule "Data" for *.vjson, see wrangler.toml) and is opened once per isolate.
import snapshot from "./data/sample.vjson";
import { createHandler } from "./handler.mjs";

const handle = createHandler(new Uint8Array(snapshot));

export default {
  fetch(request) {
    return handle(request);
  },
};
