/**
 * Which object does a referring model pick? For every expression and frame where its object and at
 * least one other object are visible: the share of the object's pixels the predicted mask covers, the
 * highest share of another object's, and whether the object's is higher (a right pick). Per attribute
 * group of `expression_groups.json` (what `vidseg synth refer` writes beside a split), with the pick
 * rate a random choice among the visible objects would have. J&F cannot tell "covers every object" from
 * "picks the right one" apart; this can.
 *
 *   npx tsx bench/refer-picks.ts --split data/refer2/valid --results out/refer2 [--groups G] [--json]
 *
 * `--results` is what `vidseg infer refer --split` writes (binary masks per expression and frame).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expressionGroupsPath, readExpressionGroups } from "../src/formats/expression-groups.js";
import { readIndexedPng } from "../src/formats/png.js";
import {
  expressionMaskPath,
  objectMaskPath,
  readRefMetaExpressions,
  resolveReferSplit,
} from "../src/formats/refytvos.js";

/** One frame of one expression: coverage of its object and of the most covered other object. */
export type FramePick = { target: number; other: number; objects: number };

/**
 * Labels (palette indices, 0 background, 255 void) and a predicted mask (non-zero = on) of one frame →
 * the pick, or undefined when the target or every other object is absent.
 */
export function framePick(labels: Uint8Array, mask: Uint8Array, targetId: number): FramePick | undefined {
  const area = new Map<number, number>();
  const covered = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label === 0 || label === 255) continue;
    area.set(label, (area.get(label) ?? 0) + 1);
    if (mask[i] !== 0) covered.set(label, (covered.get(label) ?? 0) + 1);
  }
  if (!area.has(targetId) || area.size < 2) return undefined;
  const share = (label: number) => (covered.get(label) ?? 0) / area.get(label)!;
  const others = [...area.keys()].filter((label) => label !== targetId).map(share);
  return { target: share(targetId), other: Math.max(...others), objects: area.size };
}

export type PickSummary = {
  group: string;
  frames: number;
  targetCoverage: number;
  otherCoverage: number;
  pickRate: number;
  chancePickRate: number;
};

export function summarisePicks(group: string, picks: FramePick[]): PickSummary {
  const mean = (f: (p: FramePick) => number) => picks.reduce((s, p) => s + f(p), 0) / picks.length;
  return {
    group,
    frames: picks.length,
    targetCoverage: mean((p) => p.target),
    otherCoverage: mean((p) => p.other),
    pickRate: mean((p) => (p.target > p.other ? 1 : 0)),
    chancePickRate: mean((p) => 1 / p.objects),
  };
}

async function main() {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const k = args.indexOf(name);
    return k >= 0 ? args[k + 1] : undefined;
  };
  const splitArg = arg("--split");
  const results = arg("--results");
  if (!splitArg || !results) {
    process.stderr.write("usage: refer-picks --split S --results R [--groups G] [--json]\n");
    process.exit(1);
  }
  const split = resolveReferSplit(splitArg, "valid");
  const meta = await readRefMetaExpressions(split.annotationFile);
  const groupsFile = arg("--groups") ?? expressionGroupsPath(split.splitRoot);
  const groups = existsSync(groupsFile) ? await readExpressionGroups(groupsFile) : undefined;
  const byGroup = new Map<string, FramePick[]>([["all", []]]);
  for (const [video, entry] of Object.entries(meta.videos)) {
    const expressions = Object.entries(entry.expressions).filter(([expId]) =>
      existsSync(expressionMaskPath(results, video, expId, entry.frames[0] ?? "")),
    );
    if (expressions.length === 0) continue;
    for (const frame of entry.frames) {
      const labels = await readIndexedPng(objectMaskPath(split.splitRoot, video, frame));
      for (const [expId, expression] of expressions) {
        const mask = await readIndexedPng(expressionMaskPath(results, video, expId, frame));
        const pick = framePick(labels.data, mask.data, Number(expression.obj_id));
        if (!pick) continue;
        for (const group of ["all", ...(groups?.videos[video]?.[expId] ?? [])]) {
          if (!byGroup.has(group)) byGroup.set(group, []);
          byGroup.get(group)!.push(pick);
        }
      }
    }
  }
  const rows = [...byGroup].filter(([, picks]) => picks.length > 0).map(([g, p]) => summarisePicks(g, p));
  if (args.includes("--json")) {
    process.stdout.write(`${JSON.stringify({ split: split.splitRoot, results, rows }, null, 2)}\n`);
    return;
  }
  const f = (x: number) => x.toFixed(3);
  process.stdout.write("| group | frames | target covered | best other covered | right picks | chance |\n");
  process.stdout.write("|---|---:|---:|---:|---:|---:|\n");
  for (const r of rows) {
    process.stdout.write(
      `| ${r.group} | ${r.frames} | ${f(r.targetCoverage)} | ${f(r.otherCoverage)} | ${f(r.pickRate)} | ${f(r.chancePickRate)} |\n`,
    );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
