/**
 * The browser demo (web/): `buildWeb` bundles the page and its Worker with esbuild, copies onnxruntime-web's
 * wasm and exports the model to ONNX beside them; `npm run web` builds into dist-web/ and serves it on
 * 127.0.0.1 only, rebuilding on change.
 *
 *   npm run web [-- --port 8080] [--checkpoint <online model>]
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { exportOnnx } from "../src/jobs/export-onnx.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const ORT_FILES = ["ort-wasm-simd-threaded.asyncify.wasm", "ort-wasm-simd-threaded.asyncify.mjs"];

function buildOptions(outDir: string): esbuild.BuildOptions {
  return {
    entryPoints: { main: join(ROOT, "web/main.ts"), worker: join(ROOT, "web/worker.ts") },
    outdir: outDir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    logLevel: "warning",
  };
}

/** Static files beside the bundles: the page, onnxruntime-web's wasm and the exported model. */
async function staticFiles(outDir: string, checkpoint: string): Promise<void> {
  mkdirSync(join(outDir, "ort"), { recursive: true });
  mkdirSync(join(outDir, "models"), { recursive: true });
  copyFileSync(join(ROOT, "web/index.html"), join(outDir, "index.html"));
  for (const file of ORT_FILES) {
    copyFileSync(join(ROOT, "node_modules/onnxruntime-web/dist", file), join(outDir, "ort", file));
  }
  await exportOnnx({ checkpoint, out: join(outDir, "models/model.onnx") });
}

/** Builds the demo into `outDir`. */
export async function buildWeb(
  outDir: string,
  checkpoint = join(ROOT, "weights/online-ytvis.safetensors"),
): Promise<void> {
  await esbuild.build(buildOptions(outDir));
  await staticFiles(outDir, checkpoint);
}

/** Builds the demo into `outDir` and serves it on 127.0.0.1 (rebuilding on change); returns the URL. */
export async function serveWeb(
  outDir: string,
  options: { port?: number; checkpoint?: string } = {},
): Promise<{ url: string; stop: () => Promise<void> }> {
  await staticFiles(outDir, options.checkpoint ?? join(ROOT, "weights/online-ytvis.safetensors"));
  const context = await esbuild.context(buildOptions(outDir));
  await context.watch();
  const { port } = await context.serve({ host: "127.0.0.1", port: options.port, servedir: outDir });
  return { url: `http://127.0.0.1:${port}/`, stop: () => context.dispose() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name: string) =>
    args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined;
  const port = option("port");
  const { url } = await serveWeb(join(ROOT, "dist-web"), {
    port: port === undefined ? 8080 : Number(port),
    checkpoint: option("checkpoint"),
  });
  console.log(`vidseg demo: ${url} (127.0.0.1 only; Ctrl-C stops)`);
}
