/**
 * `npm run demo:refer [-- --out <dir>]`: the referring segmentation demo (YOFO).
 *
 * 1. generates a synthetic referring video with its ground truth (`synth refer`, preset ytvis, a fixed
 *    seed) and picks two expressions of two different objects of it;
 * 2. follows both at once, frame by frame, through the shipped referring model
 *    (weights/refer-yofo.safetensors, trained by `vidseg train refer`; see BENCHMARKS.md), exactly as
 *    `vidseg infer refer --input <frames> --text … --text …` does;
 * 3. writes the overlay animation (each expression's mask in its colour, the expressions along the
 *    bottom) and the per-frame PNG masks;
 * 4. scores each expression's masks against its object (Ref-YouTube-VOS protocol: J, F, J&F).
 *
 * Options: --out <dir> (default demo-output/refer), --checkpoint <model file> (default the shipped
 * weights), --seed <n> (default 3).
 */
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  evaluatePerExpression,
  generateReferDataset,
  inferRefer,
  readRefMetaExpressions,
  resolveSynthOptions,
  VidsegError,
  writeRefMetaExpressions,
} from "../src/index.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SHIPPED_WEIGHTS = join(ROOT, "weights", "refer-yofo.safetensors");
/** Videos generated to find one with two described objects (the first such is used). */
const CANDIDATE_VIDEOS = 4;

function argument(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  if (i + 1 >= args.length) throw new VidsegError(`--${name} needs a value`);
  return args[i + 1];
}

/** A path as the user can type it: relative inside the working folder, absolute elsewhere. */
function show(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" ? "." : rel.startsWith("..") ? path : rel;
}

async function main(): Promise<void> {
  const out = resolve(argument("out", join("demo-output", "refer")));
  const checkpoint = argument("checkpoint", SHIPPED_WEIGHTS);
  const seed = Number(argument("seed", "3"));
  if (!existsSync(checkpoint)) {
    throw new VidsegError(
      checkpoint === SHIPPED_WEIGHTS
        ? "the shipped weights are missing; they are trained with `npx vidseg train refer` " +
            "(see BENCHMARKS.md) and copied there, or pass --checkpoint <model file>"
        : "model file not found",
      show(checkpoint),
    );
  }

  // 1. A synthetic referring video, and one expression of each of two objects.
  const dataDir = join(out, "video");
  const synth = resolveSynthOptions("ytvis", seed, { videos: CANDIDATE_VIDEOS });
  process.stdout.write(
    `generating a synthetic referring video (${synth.frames} frames, ${synth.width}×${synth.height}, seed ${seed})…\n`,
  );
  await generateReferDataset(synth, dataDir, { splits: ["valid"] });
  const split = join(dataDir, "valid");
  const meta = await readRefMetaExpressions(join(split, "meta_expressions.json"));
  const picked = Object.entries(meta.videos)
    .map(([video, entry]) => {
      const first = new Map<string, string>();
      for (const e of Object.values(entry.expressions)) if (!first.has(e.obj_id)) first.set(e.obj_id, e.exp);
      return { video, frames: entry.frames, objects: [...first].slice(0, 2) };
    })
    .find((v) => v.objects.length === 2);
  if (!picked)
    throw new VidsegError(`no video with two described objects (seed ${seed}); try another --seed`);
  const texts = picked.objects.map(([, text]) => text);

  // 2–3. Both expressions followed at once; masks and the overlay animation.
  process.stdout.write(`following ${texts.map((t) => `"${t}"`).join(" and ")} with ${show(checkpoint)}…\n`);
  const summary = await inferRefer({
    checkpoint,
    input: join(split, "JPEGImages", picked.video),
    texts,
    out,
    animation: "gif",
    fps: 8,
  });

  // 4. J and F of each expression against its object.
  const demoMeta = join(out, "meta_expressions.json");
  await writeRefMetaExpressions(demoMeta, {
    videos: {
      [picked.video]: {
        frames: picked.frames,
        expressions: Object.fromEntries(
          picked.objects.map(([objId, exp], k) => [String(k), { exp, obj_id: objId }]),
        ),
      },
    },
  });
  const scores = await evaluatePerExpression({
    protocol: "ref-youtube-vos",
    splitRoot: split,
    metaFile: demoMeta,
    resultsDir: out,
  });
  const perExpression = texts.map((text, k) => {
    const s = scores.per_expression[`${picked.video}_${k}`];
    return `  ${k} "${text}": J ${s.J.toFixed(3)}  F ${s.F.toFixed(3)}  J&F ${((s.J + s.F) / 2).toFixed(3)}`;
  });
  process.stdout.write(
    [
      "",
      "Ref-YouTube-VOS protocol, each expression against its object:",
      ...perExpression,
      `  mean: J ${scores.J.toFixed(3)}  F ${scores.F.toFixed(3)}  J&F ${scores["J&F"].toFixed(3)}`,
      "",
      `${summary.frames} frames, 2 expressions, at ${summary.framesPerSecond.toFixed(1)} frames/s (model and drawing)`,
      `written to ${show(out)}/:`,
      `  overlay animation   ${summary.animation ? show(summary.animation) : "(none)"}`,
      `  masks (binary PNG)  ${show(join(summary.annotations, picked.video))}/<k>/`,
      `  expressions         ${show(join(out, "expressions.json"))}`,
      `  ground truth        ${show(join(split, "Annotations", picked.video))}/  (frames in ${show(join(split, "JPEGImages", picked.video))}/)`,
      "",
    ].join("\n"),
  );
}

main().catch((error: unknown) => {
  if (error instanceof VidsegError) {
    process.stderr.write(`demo:refer: error: ${error.message}\n`);
    process.exitCode = 1;
    return;
  }
  throw error;
});
