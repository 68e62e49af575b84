/**
 * The demo's inference Worker: the exported models on onnxruntime-web (WebGPU when the browser has an
 * adapter, else wasm) behind vidseg's OnlineSegmenter and ReferringSegmenter, so the tracker, the
 * referring memory and θ solver (on TensorFlow.js's wasm backend, as in Node) and post-processing are
 * the same TypeScript as in Node. The model files are kept in the Cache API after the first load.
 */
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import * as ort from "onnxruntime-web/webgpu";
import { OnlineSegmenter, ReferringSegmenter, type ReferringTarget } from "../src/web.js";
import type { Reply, Request } from "./protocol.js";

const scope = self as unknown as {
  postMessage(message: Reply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
  crossOriginIsolated: boolean;
  location: Location;
};
const CACHE = "vidseg-models-v1";

ort.env.wasm.wasmPaths = new URL("./ort/", scope.location.href).href;
setWasmPaths(new URL("./tfjs/", scope.location.href).href);
// Threads need a cross-origin isolated page (SharedArrayBuffer).
ort.env.wasm.numThreads = scope.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1;

let segmenter: OnlineSegmenter | undefined;
let referring: ReferringSegmenter | undefined;
/** The expressions followed now, each with its target (memory and θ). */
let targets: { text: string; target: ReferringTarget }[] = [];

/** Targets for `texts`: the current ones when the list is unchanged, else new ones (new memories). */
function targetsFor(texts: string[]): ReferringTarget[] {
  if (!referring) throw new Error("no referring model loaded");
  if (texts.join("\n") !== targets.map((t) => t.text).join("\n")) {
    for (const { target } of targets) target.close();
    targets = texts.map((text) => ({ text, target: referring!.track(text) }));
  }
  return targets.map((t) => t.target);
}

/** The bytes at `url`, from the Cache API when an earlier load put them there. */
async function cachedBytes(url: string): Promise<{ bytes: Uint8Array; cached: boolean }> {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(url);
  if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), cached: true };
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  await cache.put(url, response.clone());
  return { bytes: new Uint8Array(await response.arrayBuffer()), cached: false };
}

async function executionProviders(): Promise<string[]> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  return adapter ? ["webgpu", "wasm"] : ["wasm"];
}

scope.onmessage = async ({ data: request }) => {
  try {
    if (request.type === "load") {
      const model = await cachedBytes(request.model);
      const providers = await executionProviders();
      segmenter = await OnlineSegmenter.createFromOnnx(
        model.bytes,
        async () => (await cachedBytes(request.cropClassifier)).bytes,
        { file: request.model, onnx: { runtime: ort, executionProviders: providers }, onWarning: () => {} },
      );
      scope.postMessage({
        type: "loaded",
        backend: providers[0],
        cached: model.cached,
        categoryNames: segmenter.info.categoryNames ?? [],
      });
    } else if (request.type === "loadRefer") {
      const model = await cachedBytes(request.model);
      referring = await ReferringSegmenter.createFromOnnx(
        model.bytes,
        async (part) => (await cachedBytes(request.model.replace(/\.onnx$/, `.${part}.onnx`))).bytes,
        {
          file: request.model,
          onnx: { runtime: ort, executionProviders: await executionProviders() },
          // The memory and θ solver: TensorFlow.js's wasm backend (12 ms a frame for cpu-small's θ, 10×
          // less than its plain-JavaScript cpu backend).
          runtime: { backend: "wasm" },
          onWarning: () => {},
        },
      );
      scope.postMessage({
        type: "referLoaded",
        cached: model.cached,
        vocabulary: referring.info.vocabulary ?? [],
      });
    } else if (request.type === "reset") {
      segmenter?.reset();
      for (const { target } of targets) target.reset();
    } else {
      const start = performance.now();
      let instances: { trackId: number; label: string; score: number; mask: Uint8Array }[];
      if (request.texts.length > 0) {
        const followed = targetsFor(request.texts);
        instances = [];
        for (const [k, target] of followed.entries()) {
          const result = await target.segmentForVideoAsync(request, request.timestampMs);
          instances.push({ trackId: k + 1, label: target.text, score: result.score, mask: result.mask });
        }
      } else {
        if (!segmenter) throw new Error("no model loaded");
        const result = await segmenter.segmentForVideoAsync(request, request.timestampMs);
        instances = result.instances.map((instance) => ({
          trackId: instance.trackId,
          label: instance.label ?? String(instance.categoryId),
          score: instance.score,
          mask: instance.mask,
        }));
      }
      scope.postMessage(
        { type: "result", instances, ms: performance.now() - start },
        instances.map((instance) => instance.mask.buffer as ArrayBuffer),
      );
    }
  } catch (error) {
    scope.postMessage({ type: "error", message: String((error as Error).message ?? error) });
  }
};
