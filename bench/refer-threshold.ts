/**
 * J&F of a referring model on a Ref-YouTube-VOS split under several per-frame mask rules, from one
 * streaming pass (the probabilities of `segmentForVideoAsync`, scored with the per-expression J and F of
 * `vidseg eval refer --protocol ref-youtube-vos`): t50 is what `vidseg infer refer` writes; t30/t20 fixed
 * lower thresholds; relR the threshold min(0.5, R × the frame's peak probability).
 *
 *   npx tsx bench/refer-threshold.ts <model> <split folder>
 *
 * BENCHMARKS.md "Referring segmentation" › the long run: the relative rule helped a mid-schedule
 * checkpoint, not the annealed model, so the segmenter keeps 0.5.
 */
import { join } from "node:path";
import { ReferringSegmenter } from "../src/infer/referring-segmenter.js";
import { readRefMetaExpressions, readObjectMasks, imagePath } from "../src/formats/refytvos.js";
import { imageFrames } from "../src/infer/sources.js";
import { averageExpressions, scoreExpression } from "../src/eval/refer.js";
import { segmentExpressions } from "../src/jobs/infer-refer.js";

const [model, split] = process.argv.slice(2);
const meta = await readRefMetaExpressions(join(split, "meta_expressions.json"));
const seg = await ReferringSegmenter.createFromPath(model, { syntheticInput: true }); // a split, as `infer refer --split`
/** Each rule's threshold on a frame's probabilities, from that frame's peak; the mask is p > threshold. */
const rules: Record<string, (peak: number) => number> = {
  t50: () => 0.5,
  t30: () => 0.3,
  t20: () => 0.2,
  rel50: (peak) => Math.min(0.5, 0.5 * peak),
  rel70: (peak) => Math.min(0.5, 0.7 * peak),
};
const scores: Record<string, { J: number; F: number }[]> = Object.fromEntries(
  Object.keys(rules).map((r) => [r, []]),
);
for (const [video, entry] of Object.entries(meta.videos)) {
  const exps = Object.entries(entry.expressions);
  const gts = await readObjectMasks(split, video, entry.frames);
  const frames = await imageFrames(entry.frames.map((f) => imagePath(split, video, f)));
  const preds: Record<string, Uint8Array[][]> = Object.fromEntries(
    Object.keys(rules).map((r) => [r, exps.map(() => [])]),
  );
  let w = 0,
    h = 0;
  await segmentExpressions(
    seg,
    frames,
    exps.map(([, e]) => e.exp),
    (frame, results) => {
      w = frame.width;
      h = frame.height;
      results.forEach((res, k) => {
        const p = res.probabilities!;
        let peak = 0;
        for (const v of p) if (v > peak) peak = v;
        for (const [name, rule] of Object.entries(rules)) {
          const threshold = rule(peak);
          preds[name][k].push(Uint8Array.from(p, (v) => (v > threshold ? 1 : 0)));
        }
      });
    },
    { probabilities: true },
  );
  exps.forEach(([, e], k) => {
    const gt = gts.map((g) => Uint8Array.from(g.data, (v) => (String(v) === e.obj_id ? 1 : 0)));
    for (const name of Object.keys(rules)) scores[name].push(scoreExpression(preds[name][k], gt, w, h));
  });
}
for (const [name, s] of Object.entries(scores)) {
  const { J, F, "J&F": jf } = averageExpressions(s);
  console.log(name, s.length, "J", J.toFixed(3), "F", F.toFixed(3), "J&F", jf.toFixed(3));
}
