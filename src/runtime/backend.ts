/**
 * TensorFlow.js runtime selection.
 *
 * Every module of the project imports `@tensorflow/tfjs` (the union package: core + chained ops +
 * gradients + cpu/webgl backends). This module adds the wasm backend, picks the backend to use and,
 * on wasm, registers the project's own training kernels and gradients (see wasm-kernels.ts).
 */
import * as tf from "@tensorflow/tfjs";
import "./quiet.js";
import "@tensorflow/tfjs-backend-wasm";

import { VidsegError } from "../core/errors.js";
import { registerBackendFixes, registerWasmTrainingKernels } from "./wasm-kernels.js";

export type BackendName = "wasm" | "cpu" | "tensorflow" | "webgl" | "webgpu";

export const BACKEND_NAMES: readonly BackendName[] = ["wasm", "cpu", "tensorflow", "webgl", "webgpu"];

export interface RuntimeOptions {
  /** Backend to use. Default: VIDSEG_BACKEND, else `tensorflow` when tfjs-node is installed, else `wasm`. */
  backend?: BackendName;
  /**
   * wasm compute threads, set before the wasm backend first initializes. Only 1 in Node: tfjs 4.22
   * disables wasm threads there, and forcing them fails because Emscripten's pthread workers are
   * created from blob: URLs that Node's Worker rejects (ERR_WORKER_PATH); see BENCHMARKS.md,
   * "Threads". Browsers with SharedArrayBuffer accept more.
   */
  threads?: number;
}

const isNode = typeof process !== "undefined" && process.versions?.node !== undefined;

/** Optional packages: loaded by name at run time, so their absence is not a build or import error. */
const OPTIONAL_BACKEND_PACKAGES: Partial<Record<BackendName, string>> = {
  tensorflow: "@tensorflow/tfjs-node",
  webgpu: "@tensorflow/tfjs-backend-webgpu",
};

let initialized: { key: string; backend: Promise<string> } | undefined;

/**
 * Selects and initializes the TensorFlow.js backend; returns the active backend name.
 * Idempotent: calling it again with the same (or no) options returns the same promise.
 */
export function initRuntime(options: RuntimeOptions = {}): Promise<string> {
  const key = JSON.stringify([options.backend ?? null, options.threads ?? null]);
  if (
    initialized &&
    (initialized.key === key || (options.backend === undefined && options.threads === undefined))
  ) {
    return initialized.backend;
  }
  const backend = selectBackend(options);
  // A failed init may be retried (e.g. with another backend).
  backend.catch(() => {
    if (initialized?.backend === backend) initialized = undefined;
  });
  initialized = { key, backend };
  return backend;
}

/** The backend initRuntime would choose without an explicit option (VIDSEG_BACKEND or auto). */
export function requestedBackend(): BackendName | undefined {
  const fromEnv = isNode ? process.env.VIDSEG_BACKEND : undefined;
  if (fromEnv === undefined || fromEnv === "") return undefined;
  if (!(BACKEND_NAMES as readonly string[]).includes(fromEnv)) {
    throw new VidsegError(
      `unknown backend "${fromEnv}" (expected one of ${BACKEND_NAMES.join(", ")})`,
      undefined,
      "VIDSEG_BACKEND",
    );
  }
  return fromEnv as BackendName;
}

async function selectBackend(options: RuntimeOptions): Promise<string> {
  if (options.backend !== undefined && !BACKEND_NAMES.includes(options.backend)) {
    throw new VidsegError(
      `unknown backend "${String(options.backend)}" (expected one of ${BACKEND_NAMES.join(", ")})`,
    );
  }
  let name = options.backend ?? requestedBackend();
  if (name === undefined) {
    name = isNode && (await tryLoadOptionalBackend("tensorflow")) ? "tensorflow" : "wasm";
  } else if (OPTIONAL_BACKEND_PACKAGES[name] !== undefined && !(await tryLoadOptionalBackend(name))) {
    throw new VidsegError(
      `backend "${name}" needs the package ${OPTIONAL_BACKEND_PACKAGES[name]}, which is not installed`,
    );
  }
  if (name === "wasm") await configureWasmThreads(options.threads);
  else if (options.threads !== undefined && options.threads !== 1 && name !== "tensorflow") {
    throw new VidsegError(`the ${name} backend has no thread setting (threads=${options.threads})`);
  }

  if (tf.getBackend() !== name || !tf.engine().backendNames().includes(name)) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new VidsegError(`TensorFlow.js backend "${name}" failed to initialize`);
  }
  await tf.ready();
  registerBackendFixes();
  if (name === "wasm") registerWasmTrainingKernels();
  return tf.getBackend();
}

async function tryLoadOptionalBackend(name: BackendName): Promise<boolean> {
  const packageName = OPTIONAL_BACKEND_PACKAGES[name];
  if (packageName === undefined) return true;
  if (tf.engine().registryFactory[name] !== undefined) return true;
  try {
    // A variable specifier keeps bundlers and tsc from requiring the optional package.
    await import(/* @vite-ignore */ packageName);
  } catch {
    return false;
  }
  return tf.engine().registryFactory[name] !== undefined;
}

let wasmThreadsConfigured: number | undefined;

async function configureWasmThreads(threads: number | undefined): Promise<void> {
  if (threads === undefined) return;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new VidsegError(`threads must be a positive integer, got ${threads}`);
  }
  if (wasmThreadsConfigured === threads) return;
  const multithreaded = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");
  if (threads > 1 && !multithreaded) {
    // tfjs 4.22 never enables wasm threads in Node (WASM_HAS_MULTITHREAD_SUPPORT is false there).
    throw new VidsegError(
      `threads=${threads} is not supported by the wasm backend here (tfjs runs wasm single-threaded in Node)`,
    );
  }
  if (threads !== 1 && tf.engine().registry.wasm !== undefined) {
    throw new VidsegError("wasm threads must be set before the wasm backend is first initialized");
  }
  const { setThreadsCount } = await import("@tensorflow/tfjs-backend-wasm");
  setThreadsCount(threads);
  wasmThreadsConfigured = threads;
}
