/** Writing safetensors files (Node): the codec is src/nn/safetensors.ts, the atomic write core/fs.ts. */
import type * as tf from "@tensorflow/tfjs";
import { writeFileAtomic } from "../core/fs.js";
import { encodeSafetensors } from "./safetensors.js";

/** Writes tensors to a safetensors file atomically. */
export async function saveSafetensors(
  path: string,
  tensors: ReadonlyMap<string, tf.Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
