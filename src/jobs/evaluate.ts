/**
 * The evaluate jobs (`vidseg eval …`): the official metrics over files, as the official evaluators
 * compute them. DAVIS and the referring protocols are already file-level library functions
 * (evaluateDavis, evaluateRefDavis, evaluatePerExpression); this adds YouTube-VIS / OVIS.
 */
import { evaluateYtvis, type YtvisEvaluation } from "../eval/ytvis.js";
import { readResults, readYtvis } from "../formats/ytvis.js";

export interface EvaluateVisOptions {
  /** Annotation JSON (videos, categories, annotations). */
  gt: string;
  /** Results JSON: [{video_id, category_id, score, segmentations}]. */
  results: string;
  /** OVIS: 18 stats with the occlusion ranges. */
  occlusion?: boolean;
  /** Also AP, AP50 and AP75 per category. */
  perCategory?: boolean;
}

/** YouTube-VIS (or OVIS) AP/AR of a results file against an annotation file. */
export async function evaluateVisFiles(options: EvaluateVisOptions): Promise<YtvisEvaluation> {
  const gt = await readYtvis(options.gt);
  const results = await readResults(options.results, gt);
  return evaluateYtvis(gt, results, {
    occlusion: options.occlusion,
    perCategory: options.perCategory,
    gtFile: options.gt,
    resultsFile: options.results,
  });
}
