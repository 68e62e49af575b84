/**
 * Where a VIS model loses AP: its results re-scored with oracles (`npx tsx bench/vis-oracle.ts --gt
 * valid.json --results results.json [--ovis] [--json]`).
 *
 * - **class oracle**: every result track takes the category of the GT track it overlaps most in
 *   space-time (spatio-temporal IoU, as the evaluator computes it; tracks overlapping no GT keep theirs).
 *   Masks, scores and association are the model's: the gain is what wrong classes cost.
 * - **association oracle**: in every frame each result mask is given to the GT track it overlaps most
 *   (mask IoU ≥ 0.5); per (video, GT track) a new track takes, in every frame, the best-scoring mask given
 *   to it, the category its contributing results' scores favour, and their mean score. Masks and classes
 *   are the model's, identities are the GT's: the gain is what switches and fragments cost. Masks that
 *   match no GT are left out, so this oracle also removes false positives; read it as an upper bound.
 *
 * A result written once per category (`categoriesPerTrack`) counts once per entry, as the evaluator
 * sees it.
 */
import { parseArgs } from "node:util";
import { evaluateYtvis } from "../src/eval/ytvis.js";
import { readResults, readYtvis, type YtvisResult, type YtvisSegmentation } from "../src/formats/ytvis.js";
import { area, fromSegmentation, iou, toCoco, tubeIou, type Rle } from "../src/mask/rle.js";

const { values } = parseArgs({
  options: {
    gt: { type: "string" },
    results: { type: "string" },
    ovis: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
if (!values.gt || !values.results)
  throw new Error("usage: --gt <valid.json> --results <results.json> [--ovis]");

const gt = await readYtvis(values.gt);
const results = await readResults(values.results, gt);
const sizes = new Map(gt.videos.map((v) => [v.id, { h: v.height, w: v.width, n: v.length }]));
const gtByVideo = new Map<number, typeof gt.annotations>();
for (const a of gt.annotations) gtByVideo.set(a.video_id, [...(gtByVideo.get(a.video_id) ?? []), a]);

const rleOf = (s: YtvisSegmentation | null | undefined, h: number, w: number): Rle | null =>
  s ? fromSegmentation(s, h, w) : null;

function classOracle(): YtvisResult[] {
  return results.map((r) => {
    const { h, w } = sizes.get(r.video_id)!;
    const masks = r.segmentations.map((s) => rleOf(s, h, w));
    let best = { iou: 0, category: r.category_id };
    for (const g of gtByVideo.get(r.video_id) ?? []) {
      const value = tubeIou(
        masks,
        g.segmentations.map((s) => rleOf(s, h, w)),
      );
      if (value > best.iou) best = { iou: value, category: g.category_id };
    }
    return { ...r, category_id: best.category };
  });
}

function associationOracle(): YtvisResult[] {
  const out: YtvisResult[] = [];
  for (const [videoId, gts] of gtByVideo) {
    const { h, w, n } = sizes.get(videoId)!;
    const gtMasks = gts.map((g) => g.segmentations.map((s) => rleOf(s, h, w)));
    const mine = results.filter((r) => r.video_id === videoId);
    // Per GT track: per frame the best-scoring mask given to it, and the (category, score) of contributors.
    const frames = gts.map(() => new Array<{ mask: Rle; score: number } | null>(n).fill(null));
    const votes = gts.map(() => new Map<number, number>());
    const scores = gts.map(() => [] as number[]);
    for (const r of mine) {
      const contributed = new Set<number>();
      for (let f = 0; f < n; f++) {
        const mask = rleOf(r.segmentations[f], h, w);
        if (!mask || area(mask) === 0) continue;
        let best = { k: -1, iou: 0.5 };
        gtMasks.forEach((g, k) => {
          const other = g[f];
          if (!other) return;
          const value = iou([mask], [other])[0][0];
          if (value >= best.iou) best = { k, iou: value };
        });
        if (best.k < 0) continue;
        const slot = frames[best.k][f];
        if (!slot || r.score > slot.score) frames[best.k][f] = { mask, score: r.score };
        contributed.add(best.k);
      }
      for (const k of contributed) {
        votes[k].set(r.category_id, (votes[k].get(r.category_id) ?? 0) + r.score);
        scores[k].push(r.score);
      }
    }
    gts.forEach((_, k) => {
      if (scores[k].length === 0) return;
      const category = [...votes[k].entries()].sort((a, b) => b[1] - a[1])[0][0];
      out.push({
        video_id: videoId,
        category_id: category,
        score: scores[k].reduce((s, x) => s + x, 0) / scores[k].length,
        segmentations: frames[k].map((slot) => (slot ? toCoco(slot.mask) : null)),
      });
    });
  }
  return out;
}

const options = { occlusion: values.ovis };
const rows = {
  model: evaluateYtvis(gt, results, options).stats,
  classOracle: evaluateYtvis(gt, classOracle(), options).stats,
  associationOracle: evaluateYtvis(gt, associationOracle(), options).stats,
};
if (values.json) process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
else {
  for (const [name, stats] of Object.entries(rows)) {
    const shown = [
      "AP",
      "AP50",
      "AP75",
      "AR10",
      ...(values.ovis ? ["AP_light", "AP_medium", "AP_heavy"] : []),
    ];
    console.log(`${name.padEnd(18)} ${shown.map((k) => `${k} ${stats[k].toFixed(3)}`).join("  ")}`);
  }
}
