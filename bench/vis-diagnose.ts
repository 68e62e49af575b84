/**
 * Where a trained online VIS model stands, frame by frame (no tracker):
 *
 *   npx tsx bench/vis-diagnose.ts --checkpoint <model or checkpoint> [--data data/ytvis] [--videos 40]
 *
 * On every 6th frame of the first N videos of the train and valid splits:
 * - best-query mask IoU: for each GT instance, the query whose mask (at the model input) overlaps it most;
 * - class accuracy of that query (after the crop classifier, as at inference), and of the query's own
 *   class head alone (models with a crop classifier: what the queries learned without it);
 * - crop accuracy on GT boxes: the crop classifier alone, on the GT instance's box (models with one).
 */
import * as tf from "@tensorflow/tfjs";
import { readYtvis } from "../src/formats/ytvis.js";
import { OnlineSegmenter } from "../src/infer/online-segmenter.js";
import { maskBox, type CropBox } from "../src/models/crop-classifier.js";
import { classifyCrops, readFramePrediction, upsampleQueryMask } from "../src/processing/postprocess.js";
import { disposeSegmenterOutput } from "../src/models/segmenter.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveVisSplit } from "../src/formats/ytvis-layout.js";
import { VisSplitReader } from "../src/train/vis-data.js";
import { TfjsFrameNetwork } from "../src/infer/frame-network.js";

const args = process.argv.slice(2);
const option = (name: string, fallback?: string) =>
  args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback;
const checkpoint = option("checkpoint");
if (!checkpoint) throw new Error("--checkpoint <model file or checkpoint> is required");
const root = option("data", "data/ytvis")!;
const videos = Number(option("videos", "40"));

await initRuntime();
const model = await OnlineSegmenter.load(checkpoint);
if (!(model.network instanceof TfjsFrameNetwork))
  throw new Error("--checkpoint must be a TensorFlow.js model file");
const { segmenter } = model.network;
const [height, width] = model.info.config.model.inputSize;

for (const split of ["train", "valid"]) {
  const paths = resolveVisSplit(root, split);
  const dataset = await readYtvis(paths.annotationFile);
  const reader = new VisSplitReader(dataset, paths, [height, width]);
  let instances = 0;
  let iouSum = 0;
  let classHits = 0;
  let queryClassHits = 0;
  let cropHits = 0;
  for (let v = 0; v < Math.min(videos, dataset.videos.length); v++) {
    for (let f = 0; f < dataset.videos[v].file_names.length; f += 6) {
      const frame = await reader.readFrame(v, f, false);
      if (frame.instances.length === 0) continue;
      const input = tf.tensor4d(frame.image, [1, height, width, 3]);
      const output = segmenter.forward(input);
      const prediction = readFramePrediction(output, 0);
      disposeSegmenterOutput(output);
      const queryProbs = prediction.classProbs.slice();
      if (segmenter.cropClassifier) classifyCrops(prediction, input, segmenter.cropClassifier);
      const masks = Array.from({ length: prediction.numQueries }, (_, q) =>
        upsampleQueryMask(prediction, q, height, width),
      );
      const gtBoxes: CropBox[] = [];
      for (const instance of frame.instances) {
        let best = { iou: 0, q: 0 };
        masks.forEach((mask, q) => {
          let intersection = 0;
          let union = 0;
          for (let i = 0; i < mask.length; i++) {
            intersection += instance.mask[i] & mask[i];
            union += instance.mask[i] | mask[i];
          }
          if (union > 0 && intersection / union > best.iou) best = { iou: intersection / union, q };
        });
        const { numClasses, classProbs } = prediction;
        const probs = Array.from(classProbs.subarray(best.q * numClasses, (best.q + 1) * numClasses));
        instances++;
        iouSum += best.iou;
        if (probs.indexOf(Math.max(...probs)) === instance.label) classHits++;
        const own = Array.from(queryProbs.subarray(best.q * numClasses, (best.q + 1) * numClasses));
        if (own.indexOf(Math.max(...own)) === instance.label) queryClassHits++;
        gtBoxes.push(maskBox(instance.mask, height, width)!);
      }
      if (segmenter.cropClassifier) {
        const predicted = tf.tidy(() =>
          segmenter
            .cropClassifier!.forward(input, gtBoxes, new Array<number>(gtBoxes.length).fill(0))
            .argMax(1),
        );
        const labels = predicted.dataSync();
        frame.instances.forEach((instance, i) => (cropHits += labels[i] === instance.label ? 1 : 0));
        predicted.dispose();
      }
      input.dispose();
    }
  }
  const share = (n: number) => (n / instances).toFixed(3);
  process.stdout.write(
    `${split}: ${instances} GT instances; best-query mask IoU ${share(iouSum)}, its class accuracy ` +
      `${share(classHits)}` +
      (segmenter.cropClassifier
        ? ` (query class head alone ${share(queryClassHits)}); crop classifier on GT boxes ${share(cropHits)}`
        : "") +
      "\n",
  );
}
model.dispose();
