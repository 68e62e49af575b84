import type { Command } from "commander";
import { action, numberOption, printJson } from "./common.js";

interface EvalVisOptions {
  gt: string;
  results: string;
  json?: boolean;
  perCategory?: boolean;
  strict?: boolean;
  identity?: boolean;
  identityScore?: string;
  trainGt?: string;
}

/** `vidseg eval ytvis` and `vidseg eval ovis`: AP/AR as the official YTVOSeval / OVISeval print them. */
export function registerEvalVis(parent: Command): void {
  const variants = [
    { name: "ytvis", occlusion: false, what: "YouTube-VIS AP/AR (12 stats, as YTVOSeval)" },
    { name: "ovis", occlusion: true, what: "OVIS AP/AR (18 stats with occlusion ranges, as OVISeval)" },
  ];
  for (const { name, occlusion, what } of variants) {
    parent
      .command(name)
      .description(`evaluate video instance segmentation results: ${what}`)
      .requiredOption("--gt <file>", "annotation JSON (videos, categories, annotations)")
      .requiredOption("--results <file>", "results JSON: [{video_id, category_id, score, segmentations}]")
      .option(
        "--json",
        "print one JSON document on stdout: {stats, per_category?, identity?, category_halves?}",
      )
      .option("--per-category", "also report AP, AP50 and AP75 per category")
      .option(
        "--strict",
        "reject results whose category is not in the GT (by default they are dropped with a warning, " +
          "as the official evaluator never scores them)",
      )
      .option(
        "--identity",
        "also count identity switches per GT track (CLEAR-MOT, GT association by mask IoU ≥ 0.5)",
      )
      .option(
        "--identity-score <s>",
        "identity switches, leaving out result tracks scoring below s (default 0.3)",
      )
      .option(
        "--train-gt <file>",
        "the train split's annotation JSON: also AP on the rare and the frequent half of the categories " +
          "(split at the median of their train track counts)",
      )
      .action(
        action(async (options: EvalVisOptions) => {
          const { evaluateVisFiles, perCategoryLines, summaryLines, identityLine, categoryHalvesLines } =
            await import("../evaluate.js");
          const evaluation = await evaluateVisFiles({
            gt: options.gt,
            results: options.results,
            occlusion,
            perCategory: options.perCategory,
            strict: options.strict,
            identity: options.identity || options.identityScore !== undefined,
            identityScoreThreshold: numberOption(options.identityScore, "--identity-score", { min: 0 }),
            trainGt: options.trainGt,
          });
          if (evaluation.droppedResults > 0)
            process.stderr.write(
              `vidseg: warning: ${options.results}: ${evaluation.droppedResults} result(s) of a category that ` +
                "is not in the GT, not scored (as the official evaluator); --strict makes this an error\n",
            );
          if (options.json) {
            printJson({
              stats: evaluation.stats,
              ...(evaluation.perCategory ? { per_category: evaluation.perCategory } : {}),
              ...(evaluation.identity ? { identity: evaluation.identity } : {}),
              ...(evaluation.categoryHalves ? { category_halves: evaluation.categoryHalves } : {}),
            });
            return;
          }
          const lines = summaryLines(evaluation, occlusion);
          if (evaluation.perCategory) lines.push("", ...perCategoryLines(evaluation.perCategory));
          if (evaluation.categoryHalves) lines.push("", ...categoryHalvesLines(evaluation.categoryHalves));
          if (evaluation.identity) lines.push("", identityLine(evaluation.identity));
          process.stdout.write(lines.join("\n") + "\n");
        }),
      );
  }
}
