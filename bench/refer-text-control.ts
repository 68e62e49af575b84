/**
 * Does a referring model read the sentence? The text control: the same model and frames, with
 *
 *   real      the split's expressions;
 *   constant  every expression replaced by one sentence ("the object");
 *   shuffled  every expression replaced by one of another video (seeded);
 *
 * each run through the `vidseg infer refer --split` job and scored by the `vidseg eval refer --protocol
 * ref-youtube-vos` evaluator against the real expressions' objects, and, without a model, every
 * expression answered by the union of all objects of its video (what ignoring the text can reach). A model that follows the text wins
 * on `real` by a clear margin; one that segments the salient object scores the same on all three.
 * Also: how much the masks of two expressions of *different* objects of one video overlap (mean IoU
 * per frame, real sentences): near 1 when the text is ignored.
 *
 *   npx tsx bench/refer-text-control.ts --checkpoint M --split data/refer2/valid --out runs/control \
 *     [--videos N] [--seed S] [--json]
 *
 * For each variant V it writes <out>/V/split/meta_expressions.json (frames linked to the split's) and the
 * masks in <out>/V/masks; the same figures come from
 *   npx vidseg infer refer --checkpoint M --split <out>/V/split --out <out>/V/masks
 *   npx vidseg eval refer --protocol ref-youtube-vos --split-root <split> --meta <out>/real/split/meta_expressions.json --results <out>/V/masks
 */
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { Rng } from "../src/core/rng.js";
import { evaluatePerExpression, groupScores, type PerExpressionResult } from "../src/eval/refer.js";
import {
  expressionGroupsPath,
  readExpressionGroups,
  type ExpressionGroups,
} from "../src/formats/expression-groups.js";
import { readIndexedPng } from "../src/formats/png.js";
import {
  expressionMaskPath,
  readRefMetaExpressions,
  resolveReferSplit,
  writeRefMetaExpressions,
  type RefMetaExpressions,
} from "../src/formats/refytvos.js";
import { inferRefer } from "../src/jobs/infer-refer.js";
import { splitWords } from "../src/models/refer/tokenizer.js";
import { COLOURS } from "../src/synth/shapes.js";
import { writeAllObjectsMasks } from "./refer-all-objects.js";

const args = process.argv.slice(2);
const arg = (name: string) => {
  const k = args.indexOf(name);
  return k >= 0 ? args[k + 1] : undefined;
};
const checkpoint = arg("--checkpoint");
const splitArg = arg("--split");
const out = arg("--out");
if (!checkpoint || !splitArg || !out) {
  process.stderr.write(
    "usage: refer-text-control --checkpoint M --split S --out D [--videos N] [--seed S] [--json]\n",
  );
  process.exit(1);
}
const maxVideos = Number(arg("--videos") ?? Infinity);
const seed = Number(arg("--seed") ?? 1);
const json = args.includes("--json");
const CONSTANT = "the object";

const split = resolveReferSplit(splitArg, "valid");
const full = await readRefMetaExpressions(split.annotationFile);
const real: RefMetaExpressions = {
  videos: Object.fromEntries(
    Object.entries(full.videos)
      .filter(([, v]) => Object.keys(v.expressions).length > 0 && v.frames.length > 0)
      .slice(0, maxVideos),
  ),
};

/** The expressions with texts replaced by `pick(video, expId)`. */
function variant(pick: (video: string, expId: string, text: string) => string): RefMetaExpressions {
  return {
    videos: Object.fromEntries(
      Object.entries(real.videos).map(([video, entry]) => [
        video,
        {
          ...entry,
          expressions: Object.fromEntries(
            Object.entries(entry.expressions).map(([id, e]) => [id, { ...e, exp: pick(video, id, e.exp) }]),
          ),
        },
      ]),
    ),
  };
}

const all = Object.entries(real.videos).flatMap(([video, entry]) =>
  Object.values(entry.expressions).map((e) => ({ video, text: e.exp })),
);
const rng = new Rng(seed);
const variants: Record<string, RefMetaExpressions> = {
  real,
  constant: variant(() => CONSTANT),
  shuffled: variant((video) => {
    const others = all.filter((e) => e.video !== video);
    return others[rng.int(others.length)].text;
  }),
};

// Expressions whose real sentence names a colour (the attribute a from-scratch model can read from the
// pixels at once) and the others (mostly the category: shapes told apart by outline).
const colourWords = new Set(COLOURS.map((c) => c.name));
const namesColour = new Set(
  Object.entries(real.videos).flatMap(([video, entry]) =>
    Object.entries(entry.expressions)
      .filter(([, e]) => splitWords(e.exp).some((w) => colourWords.has(w)))
      .map(([id]) => `${video}_${id}`),
  ),
);
// The motion-only expressions of the scored videos, when the split says which they are.
const groupsFile = expressionGroupsPath(split.splitRoot);
const groups: ExpressionGroups | null = existsSync(groupsFile)
  ? await readExpressionGroups(groupsFile).then((all) => ({
      videos: Object.fromEntries(
        Object.entries(all.videos).filter(([video]) => Object.hasOwn(real.videos, video)),
      ),
    }))
  : null;
const motionOnly = (scores: Record<string, { J: number; F: number }>) =>
  groups === null ? null : (groupScores(scores, groups, groupsFile)["motion-only"]?.["J&F"] ?? null);
const motionOnlyCount = groups
  ? Object.values(groups.videos).reduce(
      (n, expressions) => n + Object.values(expressions).filter((g) => g.includes("motion-only")).length,
      0,
    )
  : 0;

const meanJF = (scores: Record<string, { J: number; F: number }>, keep: (key: string) => boolean) => {
  const picked = Object.entries(scores).filter(([key]) => keep(key));
  return picked.reduce((sum, [, s]) => sum + (s.J + s.F) / 2, 0) / picked.length;
};

interface Row {
  variant: string;
  J: number;
  F: number;
  "J&F": number;
  colourJF: number;
  otherJF: number;
  /** J&F of the motion-only expressions (null without a groups file or such expressions). */
  motionOnlyJF: number | null;
  seconds: number;
}

/** A table row from the evaluator's scores of one variant's masks. */
function row(variant: string, scores: PerExpressionResult, seconds: number): Row {
  return {
    variant,
    J: scores.J,
    F: scores.F,
    "J&F": scores["J&F"],
    colourJF: meanJF(scores.per_expression, (key) => namesColour.has(key)),
    otherJF: meanJF(scores.per_expression, (key) => !namesColour.has(key)),
    motionOnlyJF: motionOnly(scores.per_expression),
    seconds,
  };
}

const rows: Row[] = [];
for (const [name, meta] of Object.entries(variants)) {
  const dir = join(out, name, "split");
  mkdirSync(dir, { recursive: true });
  await writeRefMetaExpressions(join(dir, "meta_expressions.json"), meta);
  if (!existsSync(join(dir, "JPEGImages"))) symlinkSync(resolve(split.imagesDir), join(dir, "JPEGImages"));
  const masks = join(out, name, "masks");
  // --score-only: score masks written by an earlier run of the same command.
  const inferred = args.includes("--score-only")
    ? { seconds: NaN }
    : await inferRefer({ checkpoint, split: dir, out: masks });
  const scores = await evaluatePerExpression({
    protocol: "ref-youtube-vos",
    splitRoot: split.splitRoot,
    metaFile: join(out, "real", "split", "meta_expressions.json"),
    resultsDir: masks,
  });
  rows.push(row(name, scores, inferred.seconds));
  if (!json)
    process.stderr.write(`${name}: J&F ${scores["J&F"].toFixed(4)} (${inferred.seconds.toFixed(0)} s)\n`);
}

// The baseline without a model: every expression answered by the union of all objects of its video.
const unionDir = join(out, "all-objects", "masks");
await writeAllObjectsMasks(split.splitRoot, real, unionDir);
const union = await evaluatePerExpression({
  protocol: "ref-youtube-vos",
  splitRoot: split.splitRoot,
  metaFile: join(out, "real", "split", "meta_expressions.json"),
  resultsDir: unionDir,
});
rows.push(row("all objects (no model)", union, 0));

// Overlap of the masks of two expressions of different objects of a video (real sentences).
let iouSum = 0;
let iouCount = 0;
const realMasks = join(out, "real", "masks");
for (const [video, entry] of Object.entries(real.videos)) {
  const exps = Object.entries(entry.expressions);
  for (let a = 0; a < exps.length; a++) {
    for (let b = a + 1; b < exps.length; b++) {
      if (exps[a][1].obj_id === exps[b][1].obj_id) continue;
      for (const frame of entry.frames) {
        const ma = await readIndexedPng(expressionMaskPath(realMasks, video, exps[a][0], frame));
        const mb = await readIndexedPng(expressionMaskPath(realMasks, video, exps[b][0], frame));
        let inter = 0;
        let union = 0;
        for (let i = 0; i < ma.data.length; i++) {
          const x = ma.data[i] > 0;
          const y = mb.data[i] > 0;
          if (x && y) inter++;
          if (x || y) union++;
        }
        if (union > 0) {
          iouSum += inter / union;
          iouCount++;
        }
      }
    }
  }
}
const crossObjectIou = iouCount > 0 ? iouSum / iouCount : NaN;
const summary = {
  checkpoint,
  split: split.splitRoot,
  videos: Object.keys(real.videos).length,
  expressions: all.length,
  colourExpressions: namesColour.size,
  motionOnlyExpressions: groups === null ? null : motionOnlyCount,
  rows,
  crossObjectIou,
};
if (json) process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
else {
  process.stdout.write(`${summary.videos} videos, ${summary.expressions} expressions\n`);
  const motionColumn = groups === null ? "" : ` J&F, the ${motionOnlyCount} motion-only |`;
  process.stdout.write(
    `| sentence | J | F | J&F | J&F, the ${namesColour.size} naming a colour | J&F, the other ${all.length - namesColour.size} |${motionColumn}\n` +
      `|---|---|---|---|---|---|${groups === null ? "" : "---|"}\n`,
  );
  for (const r of rows)
    process.stdout.write(
      `| ${r.variant} | ${r.J.toFixed(3)} | ${r.F.toFixed(3)} | ${r["J&F"].toFixed(3)} | ${r.colourJF.toFixed(3)} | ${r.otherJF.toFixed(3)} |` +
        (groups === null ? "" : ` ${r.motionOnlyJF === null ? "–" : r.motionOnlyJF.toFixed(3)} |`) +
        "\n",
    );
  process.stdout.write(
    `mean IoU of the masks of two different objects' expressions, per frame: ${crossObjectIou.toFixed(3)}\n`,
  );
}
