import * as tf from "@tensorflow/tfjs";
import { afterEach, describe, expect, it } from "vitest";

import { VidsegError } from "../src/core/errors.js";
import { initRuntime } from "../src/runtime/backend.js";

describe("initRuntime", () => {
  afterEach(() => {
    delete process.env.VIDSEG_BACKEND;
  });

  it("defaults to wasm in Node (tfjs-node is not installed) and is idempotent", async () => {
    const first = initRuntime();
    expect(initRuntime()).toBe(first);
    expect(await first).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    // The project's training kernels are in place once the runtime is up.
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined();
  });

  it("switches backend on request and back", async () => {
    expect(await initRuntime({ backend: "cpu" })).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(await initRuntime({ backend: "wasm" })).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
  });

  it("honours VIDSEG_BACKEND, and rejects unknown names with a clear error", async () => {
    process.env.VIDSEG_BACKEND = "cpu";
    expect(await initRuntime({ threads: 1 })).toBe("cpu");
    await expect(initRuntime({ threads: 3 })).rejects.toThrow(/cpu backend has no thread setting/);
    process.env.VIDSEG_BACKEND = "tpu";
    await expect(initRuntime({ threads: 2 })).rejects.toThrow(VidsegError);
    await expect(initRuntime({ threads: 2 })).rejects.toThrow(/VIDSEG_BACKEND: unknown backend "tpu"/);
  });

  it("explains a missing optional backend package", async () => {
    await expect(initRuntime({ backend: "tensorflow" })).rejects.toThrow(/@tensorflow\/tfjs-node/);
  });

  it("refuses more than one wasm thread in Node, where tfjs runs wasm single-threaded", async () => {
    await expect(initRuntime({ backend: "wasm", threads: 2 })).rejects.toThrow(/single-threaded/);
    await expect(initRuntime({ backend: "wasm", threads: 0 })).rejects.toThrow(/positive integer/);
  });
});
