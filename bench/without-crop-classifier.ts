/**
 * Writes a copy of an online model file without its crop classifier (model.cropSize = 0), so that the
 * queries' own class head decides the class: with `vidseg infer vis` + `vidseg eval ytvis` it measures
 * what the second stage adds.
 *
 *   npx tsx bench/without-crop-classifier.ts <model.safetensors> <out.safetensors>
 */
import * as tf from "@tensorflow/tfjs";
import { readModelFile } from "../src/models/model-file.js";
import { saveModelFile } from "../src/train/checkpoint.js";

const [input, output] = process.argv.slice(2);
if (!input || !output)
  throw new Error("usage: without-crop-classifier.ts <model.safetensors> <out.safetensors>");
const { info, weights } = await readModelFile(input);
if (info.config.model.cropSize === 0) throw new Error(`${input} has no crop classifier`);
const kept = new Map([...weights].filter(([name]) => !name.startsWith("crop_classifier.")));
const config = structuredClone(info.config);
config.model.cropSize = 0;
await saveModelFile(output, kept, { ...info, config });
tf.dispose([...weights.values()]);
process.stdout.write(`${output}: ${kept.size} of ${weights.size} tensors, cropSize 0\n`);
