// Builds the Workbench's assets into crates/fused-server/assets/workbench/ (embedded in the
// server binary). `node build.mjs [OUT_DIR]`; run through build.sh, which installs the
// pinned packages from package-lock.json first. The output is byte-reproducible: the same
// sources and lock file give the same files (checked by tests/test_workbench_assets.py).

import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(web, "..", "crates", "fused-server", "assets", "workbench"));
mkdirSync(out, { recursive: true });

/** Write through a temporary name, then rename (no half-written asset). */
function put(name, bytes) {
  const tmp = join(out, `.${name}.tmp`);
  writeFileSync(tmp, bytes);
  renameSync(tmp, join(out, name));
}

/** One minified ES module bundle; `./editor.js` stays a separate module loaded on demand. */
async function bundle(entry) {
  const js = await build({
    entryPoints: [join(web, "src", entry)],
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    legalComments: "eof",
    external: ["./editor.js"],
    write: false,
    logLevel: "warning",
  });
  return js.outputFiles[0].contents;
}
put("app.js", await bundle("main.js"));
put("editor.js", await bundle("editor.js"));
put("app.css", readFileSync(join(web, "src", "style.css")));
put("index.html", readFileSync(join(web, "src", "index.html")));
const maplibre = join(web, "node_modules", "maplibre-gl", "dist");
put("maplibre-gl.css", readFileSync(join(maplibre, "maplibre-gl.css")));
put("maplibre-gl-worker.mjs", readFileSync(join(maplibre, "maplibre-gl-worker.mjs")));

// What the assets were built from: sha256 over the sources, package files and this script.
put("SOURCE_HASH", sourceHash() + "\n");

export function sourceHash() {
  const files = ["build.mjs", "package.json", "package-lock.json", ...readdirSync(join(web, "src")).sort().map((f) => `src/${f}`)];
  const h = createHash("sha256");
  for (const f of files) {
    h.update(`${f}\0`);
    h.update(readFileSync(join(web, f)));
    h.update("\0");
  }
  return h.digest("hex");
}
