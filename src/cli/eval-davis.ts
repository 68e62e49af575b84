import { join } from "node:path";
import { Command, Option } from "commander";
import type { DavisResult, DavisTask, ReferProtocol } from "../evaluate.js";
import { action, OptionError, printJson } from "./common.js";

/** The choices the flags offer (src/formats/davis.ts, src/eval/refer.ts). */
const DAVIS_TASKS: readonly DavisTask[] = ["semi-supervised", "unsupervised"];
const REFER_PROTOCOLS: readonly ReferProtocol[] = ["ref-davis", "ref-youtube-vos", "mevis"];

/** JSON has no NaN (e.g. the mean over zero objects): such values are written as null. */
function jsonSafe(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v)),
  );
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, c) => cell.padStart(widths[c]!)).join("  ");
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

type DataApi = typeof import("../evaluate.js");

function davisTable(api: DataApi, result: DavisResult, title: string): string {
  const { DAVIS_GLOBAL_STATS, DAVIS_OBJECT_STATS, formatFixed } = api;
  let out = `${title}\n`;
  out += table(DAVIS_GLOBAL_STATS, [DAVIS_GLOBAL_STATS.map((k) => formatFixed(result.global[k]))]);
  out += "\nPer object\n";
  out += table(
    ["Object", ...DAVIS_OBJECT_STATS],
    Object.entries(result.per_object).map(([name, stats]) => [
      name,
      ...DAVIS_OBJECT_STATS.map((k) => formatFixed(stats[k])),
    ]),
  );
  return out;
}

interface DavisOptions {
  davisRoot: string;
  results: string;
  task: DavisTask;
  set: string;
  json?: boolean;
  csvDir?: string;
}

interface ReferOptions {
  protocol: ReferProtocol;
  davisRoot?: string;
  set: string;
  splitRoot?: string;
  meta?: string;
  masks?: string;
  groups?: string;
  results: string;
  json?: boolean;
}

export function registerEvalDavis(parent: Command): void {
  parent
    .command("davis")
    .description(
      "DAVIS-2017 J&F (region and boundary), as the official davis2017-evaluation computes it: " +
        "per-object Mean/Recall/Decay and the global table",
    )
    .requiredOption(
      "--davis-root <dir>",
      "DAVIS folder with ImageSets/, JPEGImages/, Annotations[_unsupervised]/",
    )
    .requiredOption("--results <dir>", "results folder: <dir>/<sequence>/<frame>.png (indexed PNGs)")
    .addOption(new Option("--task <task>", "evaluation task").choices(DAVIS_TASKS).makeOptionMandatory())
    .option("--set <name>", "image set (ImageSets/2017/<name>.txt)", "val")
    .option("--json", "print one JSON document {global, per_object} on stdout and nothing else")
    .option("--csv-dir <dir>", "also write global_results-<set>.csv and per-sequence_results-<set>.csv here")
    .addHelpText(
      "after",
      `
JSON: {"global": {"J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"},
       "per_object": {"<sequence>_<k>": {"J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"}}}
Values are raw float64 (null where the reference gives NaN, e.g. no objects at all). As in the official
tool, in the unsupervised task the k-th entry of a sequence is the k-th matched (proposal, object) pair in
ascending proposal order.`,
    )
    .action(
      action(async (options: DavisOptions) => {
        const api = await import("../evaluate.js");
        const result = await api.evaluateDavis({
          davisRoot: options.davisRoot,
          resultsDir: options.results,
          task: options.task,
          set: options.set,
        });
        if (options.csvDir !== undefined) {
          for (const file of api.davisCsvFiles(result, options.set)) {
            await api.writeFileAtomic(join(options.csvDir, file.name), file.content);
          }
        }
        if (options.json) printJson(jsonSafe(result));
        else process.stdout.write(davisTable(api, result, `DAVIS-2017 ${options.task}, set ${options.set}`));
      }),
    );

  parent
    .command("refer")
    .description("referring video object segmentation J&F")
    .addOption(
      new Option("--protocol <name>", "which protocol").choices(REFER_PROTOCOLS).makeOptionMandatory(),
    )
    .requiredOption(
      "--results <dir>",
      "predictions. ref-davis: <dir>/anno_<k>/<sequence>/<frame>.png for the 4 expression sets k = 0..3 " +
        "(indexed PNGs, one label per object); ref-youtube-vos, mevis: <dir>/<video>/<exp_id>/<frame>.png " +
        "binary PNGs (or <dir>/Annotations/<video>/...)",
    )
    .option("--davis-root <dir>", "ref-davis: the DAVIS-2017 folder (scored with the unsupervised task)")
    .option("--set <name>", "ref-davis: image set", "val")
    .option(
      "--split-root <dir>",
      "ref-youtube-vos: split folder with meta_expressions.json and Annotations/<video>/<frame>.png; " +
        "mevis: split folder with meta_expressions.json and mask_dict.json",
    )
    .option("--meta <file>", "meta_expressions.json (default: <split-root>/meta_expressions.json)")
    .option("--masks <file>", "mevis: mask_dict.json (default: <split-root>/mask_dict.json)")
    .option(
      "--groups <file>",
      "ref-youtube-vos, mevis: expression groups ({videos: {<video>: {<exp_id>: [group, …]}}}, e.g. the " +
        "expression_groups.json `vidseg synth refer` writes): J, F and J&F per group too",
    )
    .option("--json", "print one JSON document on stdout and nothing else")
    .addHelpText(
      "after",
      `
Protocols:
  ref-davis        Ref-DAVIS17: each of the 4 expression sets is scored with the DAVIS unsupervised task;
                   the 4 runs are averaged. JSON: {"J&F", "J", "F", "global", "runs": [{"name", "global",
                   "per_object"}]}.
  ref-youtube-vos  each expression is scored with DAVIS J and F over all its frames against the mask of
                   its object (Annotations PNG == obj_id), then averaged over expressions; a video
                   without predictions scores 0.
  mevis            as ref-youtube-vos, the expression's mask being the union of its objects' RLEs in
                   mask_dict.json. JSON (both): {"J", "F", "J&F", "per_expression": {"<video>_<exp_id>":
                   {"J", "F"}}}, and with --groups "groups": {"<group>": {"J", "F", "J&F", "expressions"}}.`,
    )
    .action(
      action(async (options: ReferOptions) => {
        const api = await import("../evaluate.js");
        if (options.protocol === "ref-davis") {
          if (options.davisRoot === undefined)
            throw new OptionError(undefined, "ref-davis needs --davis-root");
          if (options.groups !== undefined)
            throw new OptionError(undefined, "--groups applies to ref-youtube-vos and mevis, not ref-davis");
          const result = await api.evaluateRefDavis({
            davisRoot: options.davisRoot,
            resultsDir: options.results,
            set: options.set,
          });
          if (options.json) printJson(jsonSafe(result));
          else {
            let out = `Ref-DAVIS17 (${result.runs.length} expression sets, unsupervised task, set ${options.set})\n`;
            out += table(api.DAVIS_GLOBAL_STATS, [
              api.DAVIS_GLOBAL_STATS.map((k) => api.formatFixed(result.global[k])),
            ]);
            for (const run of result.runs) out += "\n" + davisTable(api, run, run.name);
            process.stdout.write(out);
          }
          return;
        }
        if (options.splitRoot === undefined && options.meta === undefined) {
          throw new OptionError(undefined, `${options.protocol} needs --split-root (or --meta)`);
        }
        const result = await api.evaluatePerExpression({
          protocol: options.protocol,
          splitRoot: options.splitRoot,
          metaFile: options.meta,
          maskDictFile: options.masks,
          resultsDir: options.results,
          groupsFile: options.groups,
        });
        if (options.json) printJson(jsonSafe(result));
        else {
          let out = `${options.protocol}: ${Object.keys(result.per_expression).length} expressions\n`;
          const figures = (s: { J: number; F: number; "J&F": number }) =>
            [s["J&F"], s.J, s.F].map((v) => api.formatFixed(v));
          out += table(["J&F", "J", "F"], [figures(result)]);
          if (result.groups !== undefined) {
            out += "\nPer group\n";
            out += table(
              ["Group", "Expressions", "J&F", "J", "F"],
              Object.entries(result.groups).map(([name, s]) => [name, String(s.expressions), ...figures(s)]),
            );
          }
          process.stdout.write(out);
        }
      }),
    );
}
