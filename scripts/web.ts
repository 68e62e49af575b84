/**
 * The browser demo (web/): `buildWeb` bundles the page and its Worker with esbuild, copies onnxruntime-web's
 * and TensorFlow.js's wasm and exports the models to ONNX beside them (the online model as models/model.onnx, the referring
 * model as models/refer.onnx and its graphs, when there is one: weights/refer-yofo.safetensors or
 * --refer-checkpoint); `npm run web` builds into dist-web/ and serves it on 127.0.0.1 only, rebuilding on
 * change.
 *
 *   npm run web [-- --port 8080] [--checkpoint <online model>] [--refer-checkpoint <referring model>]
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { exportOnnx } from "../src/jobs/export-onnx.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
/** The referring model `npm run web` serves when no other is named (the lead's trained YOFO weights). */
const DEFAULT_REFER = join(ROOT, "weights/refer-yofo.safetensors");
const ORT_FILES = ["ort-wasm-simd-threaded.asyncify.wasm", "ort-wasm-simd-threaded.asyncify.mjs"];
/** TensorFlow.js's wasm backend, on which the referring model's memory and θ solver run in the Worker. */
const TFJS_WASM_FILES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
];

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

/** What to export: the online model, and the referring model (none: no referring model is served). */
interface WebModels {
  checkpoint?: string;
  referCheckpoint?: string | null;
}

/** The referring model to serve: the one named, else weights/refer-yofo.safetensors when it exists. */
function referModel(models: WebModels): string | null {
  if (models.referCheckpoint !== undefined) return models.referCheckpoint;
  return existsSync(DEFAULT_REFER) ? DEFAULT_REFER : null;
}

/**
 * Static files beside the bundles: the page, onnxruntime-web's wasm and the exported models. Returns the
 * referring model exported (null: none, and the page says so).
 */
async function staticFiles(outDir: string, models: WebModels): Promise<string | null> {
  const modelsDir = join(outDir, "models");
  mkdirSync(join(outDir, "ort"), { recursive: true });
  mkdirSync(join(outDir, "tfjs"), { recursive: true });
  mkdirSync(modelsDir, { recursive: true });
  copyFileSync(join(ROOT, "web/index.html"), join(outDir, "index.html"));
  for (const file of ORT_FILES) {
    copyFileSync(join(ROOT, "node_modules/onnxruntime-web/dist", file), join(outDir, "ort", file));
  }
  for (const file of TFJS_WASM_FILES) {
    copyFileSync(
      join(ROOT, "node_modules/@tensorflow/tfjs-backend-wasm/dist", file),
      join(outDir, "tfjs", file),
    );
  }
  await exportOnnx({
    checkpoint: models.checkpoint ?? join(ROOT, "weights/online-ytvis.safetensors"),
    out: join(modelsDir, "model.onnx"),
  });
  // An earlier build's referring model must not be served in place of a missing one.
  for (const file of readdirSync(modelsDir)) if (file.startsWith("refer.")) rmSync(join(modelsDir, file));
  const refer = referModel(models);
  if (refer) await exportOnnx({ checkpoint: refer, out: join(modelsDir, "refer.onnx") });
  return refer;
}

/** Builds the demo into `outDir`; returns the referring model exported, if any. */
export async function buildWeb(outDir: string, models: WebModels = {}): Promise<string | null> {
  await esbuild.build(buildOptions(outDir));
  return staticFiles(outDir, models);
}

/**
 * Builds the demo into `outDir` and serves it on 127.0.0.1 (rebuilding on change); returns the URL and
 * the referring model served (null: none).
 */
export async function serveWeb(
  outDir: string,
  options: WebModels & { port?: number } = {},
): Promise<{ url: string; refer: string | null; stop: () => Promise<void> }> {
  const refer = await staticFiles(outDir, options);
  const context = await esbuild.context(buildOptions(outDir));
  await context.watch();
  const { port } = await context.serve({ host: "127.0.0.1", port: options.port, servedir: outDir });
  return { url: `http://127.0.0.1:${port}/`, refer, stop: () => context.dispose() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name: string) =>
    args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined;
  const port = option("port");
  const { url, refer } = await serveWeb(join(ROOT, "dist-web"), {
    port: port === undefined ? 8080 : Number(port),
    checkpoint: option("checkpoint"),
    referCheckpoint: option("refer-checkpoint"),
  });
  console.log(`vidseg demo: ${url} (127.0.0.1 only; Ctrl-C stops)`);
  console.log(
    refer
      ? `referring model: ${refer} (type a sentence in the page's text box)`
      : `no referring model: ${DEFAULT_REFER} does not exist (yet); the page's text box stays off. ` +
          "Pass one with --refer-checkpoint <model file>.",
  );
}
