/**
 * The evaluate jobs (`vidseg eval …`): the official metrics over files, as the official evaluators
 * compute them. DAVIS and the referring protocols are already file-level library functions
 * (evaluateDavis, evaluateRefDavis, evaluatePerExpression); this adds YouTube-VIS / OVIS.
 */
import { evaluateYtvisFiles } from "../eval/ytvis-files.js";
import type { YtvisEvaluation } from "../eval/ytvis.js";

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
}

/**
 * YouTube-VIS (or OVIS) AP/AR of a results file against an annotation file, on several threads for
 * large files; the numbers are those of `evaluateYtvis`, bit for bit.
 */
export async function evaluateVisFiles(options: EvaluateVisOptions): Promise<YtvisEvaluation> {
  return evaluateYtvisFiles({
    gtFile: options.gt,
    resultsFile: options.results,
    occlusion: options.occlusion,
    perCategory: options.perCategory,
    strict: options.strict,
    threads: options.threads,
  });
}
