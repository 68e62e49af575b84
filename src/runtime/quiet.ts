/**
 * Keeps TensorFlow.js quiet in Node: its cpu backend greets Node users on its first tensor write
 * ("Hi, looks like you are running TensorFlow.js in Node.js…", through console.warn), which would land
 * in every command's output and test log. The greeting is suppressed by marking the cpu backend as
 * used, whenever it is created; nothing else tfjs reports is touched. Imported for its effect by the
 * modules that create tensors first (nn/module.ts, nn/safetensors.ts, runtime/backend.ts).
 */
import * as tf from "@tensorflow/tfjs";

type CpuBackend = { firstUse?: boolean };

const engine = tf.engine() as unknown as {
  registry: Record<string, CpuBackend | undefined>;
  registryFactory: Record<string, { factory: () => unknown } | undefined>;
};
const existing = engine.registry.cpu;
if (existing) existing.firstUse = false;
const entry = engine.registryFactory.cpu;
if (entry) {
  const create = entry.factory;
  entry.factory = () => {
    const backend = create() as CpuBackend;
    backend.firstUse = false;
    return backend;
  };
}
