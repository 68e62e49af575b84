import type { Command } from "commander";
import { action, printJson } from "./common.js";

interface EvalVisOptions {
  gt: string;
  results: string;
  json?: boolean;
  perCategory?: boolean;
  strict?: boolean;
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
      .option("--json", "print one JSON document on stdout: {stats, per_category?}")
      .option("--per-category", "also report AP, AP50 and AP75 per category")
      .option(
        "--strict",
        "reject results whose category is not in the GT (by default they are dropped with a warning, " +
          "as the official evaluator never scores them)",
      )
      .action(
        action(async (options: EvalVisOptions) => {
          const { evaluateVisFiles, perCategoryLines, summaryLines } = await import("../evaluate.js");
          const evaluation = await evaluateVisFiles({
            gt: options.gt,
            results: options.results,
            occlusion,
            perCategory: options.perCategory,
            strict: options.strict,
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
            });
            return;
          }
          const lines = summaryLines(evaluation, occlusion);
          if (evaluation.perCategory) lines.push("", ...perCategoryLines(evaluation.perCategory));
          process.stdout.write(lines.join("\n") + "\n");
        }),
      );
  }
}
