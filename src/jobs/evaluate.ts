/**
 * The evaluate jobs (`vidseg eval …`): the official metrics over files, as the official evaluators
 * compute them. DAVIS and the referring protocols are already file-level library functions
 * (evaluateDavis, evaluateRefDavis, evaluatePerExpression); this adds YouTube-VIS / OVIS, and beside
 * them identity switches with GT association (eval/identity.ts) and the AP of the rare and frequent
 * halves of the categories (eval/category-halves.ts).
 */
import { readJson } from "../core/fs.js";
import { categoryHalves, trackCounts, type CategoryHalves } from "../eval/category-halves.js";
import { identitySwitches, type IdentityReport } from "../eval/identity.js";
import { evaluateYtvisFiles } from "../eval/ytvis-files.js";
import type { YtvisEvaluation } from "../eval/ytvis.js";
import { readResults, readYtvis, validateYtvis } from "../formats/ytvis.js";

export interface EvaluateVisOptions {
  /** Annotation JSON (videos, categories, annotations). */
  gt: string;
  /** Results JSON: [{video_id, category_id, score, segmentations}]. */
  results: string;
  /** OVIS: 18 stats with the occlusion ranges. */
  occlusion?: boolean;
  /** Also AP, AP50 and AP75 per category. */
  perCategory?: boolean;
  /** Reject results whose category is not in the GT (by default they are dropped: `droppedResults`). */
  strict?: boolean;
  /** Threads (default: the cores, for large files; see `evaluateYtvisFiles`). */
  threads?: number;
  /** Also identity switches per GT track, with GT association (`identitySwitches`). */
  identity?: boolean;
  /** Result tracks scoring below this are left out of the identity count (default 0.3, see identity.ts). */
  identityScoreThreshold?: number;
  /** The TRAIN split's annotation JSON: also the AP of the rare and the frequent half of the categories. */
  trainGt?: string;
}

/** The official evaluation, with what the options asked for beside it. */
export interface VisEvaluation extends YtvisEvaluation {
  identity?: IdentityReport;
  categoryHalves?: CategoryHalves;
}

/**
 * YouTube-VIS (or OVIS) AP/AR of a results file against an annotation file, on several threads for
 * large files; the numbers are those of `evaluateYtvis`, bit for bit.
 */
export async function evaluateVisFiles(options: EvaluateVisOptions): Promise<VisEvaluation> {
  const halves = options.trainGt !== undefined;
  const evaluation: VisEvaluation = await evaluateYtvisFiles({
    gtFile: options.gt,
    resultsFile: options.results,
    occlusion: options.occlusion,
    perCategory: options.perCategory || halves,
    strict: options.strict,
    threads: options.threads,
  });
  if (options.trainGt !== undefined) {
    // Only the category and track lists count: the masks are not read.
    const train = validateYtvis(await readJson(options.trainGt), options.trainGt, { masks: false });
    evaluation.categoryHalves = categoryHalves(evaluation.perCategory!, trackCounts(train));
    if (!options.perCategory) delete evaluation.perCategory;
  }
  if (options.identity) {
    const gt = await readYtvis(options.gt);
    const results = await readResults(options.results, gt);
    evaluation.identity = identitySwitches(gt, results, {
      scoreThreshold: options.identityScoreThreshold,
      gtFile: options.gt,
      resultsFile: options.results,
    });
  }
  return evaluation;
}
