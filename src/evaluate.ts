/**
 * vidseg's evaluation API (`vidseg/evaluate`): dataset formats, RLE and the official metrics, with
 * nothing else in its import graph, so that `vidseg eval` starts fast. The data API (src/data.ts) and
 * the full API (src/index.ts) re-export it.
 */
// Errors, randomness, files
export { VidsegError } from "./core/errors.js";
export { Rng, type RngState } from "./core/rng.js";
export { writeFileAtomic, writeJsonAtomic } from "./core/fs.js";
export type { RgbImage, Frame } from "./core/image.js";

// Exact algorithms
export { linearSumAssignment, type Assignment } from "./math/hungarian.js";

// COCO run-length encoding (pycocotools-compatible): rle.encode, rle.decode, rle.iou, …
export * as rle from "./mask/rle.js";
export type { Rle, CocoRle, Bbox } from "./mask/rle.js";

// Dataset formats
export {
  readYtvis,
  writeYtvis,
  readResults,
  writeResults,
  validateYtvis,
  validateResults,
  annotationFromMasks,
  resultFromMasks,
  type YtvisDataset,
  type YtvisVideo,
  type YtvisCategory,
  type YtvisAnnotation,
  type YtvisResult,
  type YtvisSegmentation,
  type OcclusionLabel,
} from "./formats/ytvis.js";
export {
  readIndexedPng,
  writeIndexedPng,
  decodeIndexedPng,
  encodeIndexedPng,
  davisPalette,
  type LabelMap,
} from "./formats/png.js";
export {
  readImageSet,
  readSequenceGt,
  readResultMasks,
  writeDavisMask,
  writeResultMask,
  DAVIS_TASKS,
  type DavisTask,
} from "./formats/davis.js";
export { locateVisSplit, resolveVisSplit, type VisSplitPaths } from "./formats/ytvis-layout.js";
export {
  readRefMetaExpressions,
  writeRefMetaExpressions,
  readObjectMasks,
  writeObjectMask,
  writeExpressionMask,
  refDavisExpressionSets,
  resolveReferSplit,
  type ReferSplitPaths,
  type RefMetaExpressions,
  type RefVideo,
  type RefExpression,
} from "./formats/refytvos.js";
export {
  readExpressionGroups,
  writeExpressionGroups,
  expressionGroupsPath,
  EXPRESSION_GROUPS_FILE,
  type ExpressionGroups,
} from "./formats/expression-groups.js";
export {
  readMevisMetaExpressions,
  readMevisMaskDict,
  writeMevisMetaExpressions,
  writeMevisMaskDict,
  mevisExpressionMask,
  type MevisMetaExpressions,
  type MevisMaskDict,
} from "./formats/mevis.js";

// Evaluation, number for number with the official evaluators
export {
  evaluateYtvis,
  summaryLines,
  perCategoryLines,
  YTVIS_STAT_NAMES,
  OVIS_STAT_NAMES,
  type YtvisEvaluation,
  type YtvisEvalOptions,
  type CategoryAp,
} from "./eval/ytvis.js";
export {
  identitySwitches,
  identityLine,
  IDENTITY_SCORE_THRESHOLD,
  IDENTITY_IOU_THRESHOLD,
  type IdentityOptions,
  type IdentityReport,
} from "./eval/identity.js";
export {
  categoryHalves,
  categoryHalvesLines,
  trackCounts,
  type CategoryHalf,
  type CategoryHalves,
} from "./eval/category-halves.js";
export {
  evaluateDavis,
  binaryJF,
  davisCsvFiles,
  formatFixed,
  DAVIS_GLOBAL_STATS,
  DAVIS_OBJECT_STATS,
  type DavisResult,
  type DavisEvalOptions,
  type DavisGlobalStats,
  type DavisObjectStats,
} from "./eval/davis.js";
export {
  evaluateRefDavis,
  evaluatePerExpression,
  groupScores,
  mergeObjectProbabilities,
  REFER_PROTOCOLS,
  type GroupScore,
  type RefDavisResult,
  type PerExpressionResult,
  type ReferProtocol,
} from "./eval/refer.js";

// The evaluate jobs (what `vidseg eval ytvis|ovis` runs)
export { evaluateVisFiles, type EvaluateVisOptions, type VisEvaluation } from "./jobs/evaluate.js";
