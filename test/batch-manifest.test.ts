/**
 * The batch runner without a queue: manifest lines checked (fields, tasks, options, ids, paths inside
 * the root, output folders that cannot clobber each other or their inputs), and one job run into a
 * temporary folder renamed into place: the same bytes as the infer-vis job run directly, an earlier
 * attempt's folder replaced whole, a failed attempt leaving nothing.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkEntry, readManifest, type BatchJobData } from "../src/batch/manifest.js";
import { runBatchJob } from "../src/batch/run-job.js";
import { VidsegError } from "../src/core/errors.js";
import { evaluateVisFiles } from "../src/jobs/evaluate.js";
import { inferVis } from "../src/jobs/infer-vis.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset } from "../src/synth/vis.js";
import { folderFiles } from "./helpers/files.js";
import { writeRandomOnlineModel } from "./helpers/models.js";

const root = mkdtempSync(join(tmpdir(), "vidseg-batch-manifest-"));
const MANIFEST = join(root, "jobs.jsonl");
let video: string;

const line = (value: Record<string, unknown>) => JSON.stringify(value);
const job = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  task: "infer-vis",
  input: "data/valid/JPEGImages/valid_00000",
  out: `seg/${id}`,
  options: { checkpoint: "model.safetensors" },
  ...extra,
});

/** The one-line error checkEntry gives for a line, or undefined. */
function entryError(value: unknown): string | undefined {
  try {
    checkEntry(value, root, MANIFEST, 3);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(VidsegError);
    return (error as Error).message;
  }
}

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await writeRandomOnlineModel(join(root, "model.safetensors"), 0);
  const synth = resolveOptions("tiny", 3, { videos: 1, frames: 4, format: "png" });
  await generateVisDataset(synth, join(root, "data"), { splits: ["valid"] });
  video = join(root, "data", "valid", "JPEGImages", "valid_00000");
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("batch manifest", () => {
  it("checks each field and names the file, the line and the field", () => {
    expect(entryError(job("v1"))).toBeUndefined();
    const resolved = checkEntry(
      job("v1", { options: { checkpoint: "model.safetensors", fps: 5 } }),
      root,
      MANIFEST,
      3,
    );
    expect(resolved.input).toBe(video);
    expect(resolved.out).toBe(join(root, "seg", "v1"));
    expect(resolved.options).toEqual({ checkpoint: join(root, "model.safetensors"), fps: 5 });

    const cases: [unknown, string][] = [
      [[1], "line 3: expected a JSON object"],
      [{ ...job("v1"), extra: 1 }, "line 3: extra: unknown field (expected id, task, input, out, options)"],
      [JSON.parse(line(job("v1", { out: undefined }))), "line 3: out: missing"],
      [job("42"), 'line 3: id: a bare integer is not a job id (e.g. "video-42" is)'],
      [job("a b"), "line 3: id: expected 1–200 letters, digits"],
      [
        job("v1", { task: "train" }),
        'line 3: task: expected one of infer-vis, infer-refer, eval, got "train"',
      ],
      [
        job("v1", { task: "infer-refer", options: { checkpoint: "m", texts: "the red square" } }),
        'line 3: options.texts: expected a list of 1–64 non-empty strings, got "the red square"',
      ],
      [
        job("v1", { task: "infer-refer", options: { checkpoint: "m", texts: ["the red square", " "] } }),
        'line 3: options.texts[1]: expected a non-empty string, got " "',
      ],
      [
        job("v1", { task: "infer-refer", options: { checkpoint: "m", png: true } }),
        "line 3: options.png: unknown option of infer-refer (expected checkpoint, texts, animation, fps, maxFrames)",
      ],
      [job("v1", { input: "../../etc" }), 'line 3: input: path "../../etc" leads outside its folder'],
      [job("v1", { out: "/tmp/x" }), 'line 3: out: path "/tmp/x" is absolute'],
      [job("v1", { out: "seg/../.." }), 'line 3: out: path "seg/../.." leads outside its folder'],
      [job("v1", { out: "." }), 'line 3: out: path "." names the folder itself'],
      [
        job("v1", { options: { checkpoint: "../m" } }),
        'line 3: options.checkpoint: path "../m" leads outside',
      ],
      [job("v1", { options: {} }), "line 3: options.checkpoint: missing"],
      [
        job("v1", { options: { checkpoint: "m", fps: -1 } }),
        "line 3: options.fps: expected a positive number, got -1",
      ],
      [
        job("v1", { options: { checkpoint: "m", maxFrames: 1.5 } }),
        "line 3: options.maxFrames: expected a non-negative integer, got 1.5",
      ],
      [
        job("v1", { options: { checkpoint: "m", animation: "avi" } }),
        'line 3: options.animation: expected one of "auto", "gif", "mp4", "none", got "avi"',
      ],
      [
        job("v1", { options: { checkpoint: "m", gpu: true } }),
        "line 3: options.gpu: unknown option of infer-vis",
      ],
      [job("v1", { out: "data" }), "line 3: out: the output folder must not hold the job's inputs"],
      [
        job("v1", { out: "data/valid/JPEGImages/valid_00000/x" }),
        "line 3: out: the output folder must not hold",
      ],
      [
        job("v1", { task: "eval", input: "r.json", options: { metric: "ovis" } }),
        "line 3: options.gt: missing",
      ],
    ];
    for (const [value, expected] of cases) {
      const message = entryError(value);
      expect(message, JSON.stringify(value)).toContain(`${MANIFEST}: ${expected}`);
    }
  });

  it("reads a manifest: every non-blank line is a job; bad lines are jobs with their error", async () => {
    writeFileSync(
      MANIFEST,
      [
        line(job("v1")),
        "",
        '{"id": "v2", "task": ',
        line(job("v1", { out: "seg/other" })),
        line(job("v3", { out: "seg/v1" })),
        line(job("v4", { out: "seg/v1/inner" })),
        line(job("v5", { out: "seg" })),
        line(job("v6", { task: "infer-refer" })),
        line({ task: "eval" }),
        line(job("v7")),
        '{"id": "v8", "task": "eval", "__proto__": {"polluted": true}}',
      ].join("\n") + "\n",
    );
    const jobs = await readManifest(MANIFEST, root);
    const byLine = new Map<number, BatchJobData>(jobs.map((j) => [j.line, j]));
    expect(jobs.map((j) => j.line)).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(byLine.get(1)).toEqual({ id: "v1", manifest: MANIFEST, line: 1, entry: job("v1") });
    expect(byLine.get(3)!.id).toMatch(/^line-3-[0-9a-f]{8}$/);
    expect(byLine.get(3)!.problem).toMatch(new RegExp(`^${MANIFEST}: line 3: malformed JSON \\(`));
    expect(byLine.get(4)!.id).toMatch(/^line-4-[0-9a-f]{8}$/);
    expect(byLine.get(4)!.problem).toBe(`${MANIFEST}: line 4: id: duplicate id "v1" (first on line 1)`);
    expect(byLine.get(5)!.problem).toBe(
      `${MANIFEST}: line 5: out: is also the output folder of job "v1" (line 1)`,
    );
    expect(byLine.get(6)!.problem).toBe(
      `${MANIFEST}: line 6: out: is inside the output folder of job "v1" (line 1)`,
    );
    expect(byLine.get(7)!.problem).toBe(
      `${MANIFEST}: line 7: out: holds the output folder of job "v1" (line 1)`,
    );
    expect(byLine.get(8)).toEqual({
      id: "v6",
      manifest: MANIFEST,
      line: 8,
      entry: job("v6", { task: "infer-refer" }),
    });
    expect(byLine.get(9)!.problem).toContain("line 9: id: expected 1–200 letters");
    expect(byLine.get(10)).toEqual({ id: "v7", manifest: MANIFEST, line: 10, entry: job("v7") });
    expect(byLine.get(11)!.id).toMatch(/^line-11-[0-9a-f]{8}$/);
    expect(byLine.get(11)!.problem).toContain(`${MANIFEST}: line 11.__proto__: forbidden key "__proto__"`);
    await expect(readManifest(join(root, "none.jsonl"), root)).rejects.toThrow(VidsegError);
    // The same text gives the same ids (resubmitting is idempotent).
    expect((await readManifest(MANIFEST, root)).map((j) => j.id)).toEqual(jobs.map((j) => j.id));
  });
});

describe("runBatchJob", () => {
  const data = (id: string, extra: Record<string, unknown> = {}): BatchJobData => ({
    id,
    manifest: MANIFEST,
    line: 1,
    entry: job(id, { options: { checkpoint: "model.safetensors", png: true, animation: "gif" }, ...extra }),
  });

  it("writes into a temporary folder renamed into place: the bytes of inferVis run directly", async () => {
    const direct = join(root, "direct");
    await inferVis({
      checkpoint: join(root, "model.safetensors"),
      input: video,
      out: direct,
      png: true,
      animation: "gif",
    });
    const expected = folderFiles(direct);
    expect([...expected.keys()].sort()).toEqual([
      ...["00000", "00001", "00002", "00003"].map((f) => join("Annotations", "valid_00000", `${f}.png`)),
      "overlay.gif",
      "results.json",
    ]);

    const out = join(root, "seg", "a");
    // What earlier attempts left: a complete folder with a file this attempt does not write, and a
    // killed attempt's temporary folder.
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "stale.txt"), "earlier attempt");
    mkdirSync(join(root, "seg", ".a.partial-killed"));
    const progress: number[] = [];
    const result = await runBatchJob(data("a"), { root, onProgress: (p) => progress.push(p.done) });
    expect(result).toMatchObject({
      id: "a",
      task: "infer-vis",
      out: "seg/a",
      summary: { videos: 1, frames: 4 },
      worker: `${hostname()}:${process.pid}`,
    });
    expect(result.seconds).toBeGreaterThan(0);
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(folderFiles(out)).toEqual(expected);
    expect(readdirSync(join(root, "seg")).sort()).toEqual(["a"]);
  }, 60_000);

  it("eval: the stats of `vidseg eval ovis --json` in out/eval.json", async () => {
    const evalJob: BatchJobData = {
      id: "e",
      manifest: MANIFEST,
      line: 2,
      entry: {
        id: "e",
        task: "eval",
        input: "seg/a/results.json",
        out: "eval/a",
        options: { gt: "data/valid.json", metric: "ovis" },
      },
    };
    const result = await runBatchJob(evalJob, { root });
    const direct = await evaluateVisFiles({
      gt: join(root, "data", "valid.json"),
      results: join(root, "seg", "a", "results.json"),
      occlusion: true,
    });
    expect(Object.keys(direct.stats)).toHaveLength(18);
    expect(JSON.parse(readFileSync(join(root, "eval", "a", "eval.json"), "utf8"))).toEqual({
      stats: direct.stats,
    });
    expect(result.summary.AP).toBe(direct.stats.AP);
  });

  it("bad input fails with its one-line error and leaves no folder behind", async () => {
    const missing = data("b", { input: "data/missing" });
    await expect(runBatchJob(missing, { root })).rejects.toThrow(
      `${join(root, "data", "missing")}: input not found`,
    );
    const problem: BatchJobData = {
      id: "line-2-00000000",
      manifest: MANIFEST,
      line: 2,
      problem: "m: line 2: bad",
    };
    await expect(runBatchJob(problem, { root })).rejects.toThrow(new VidsegError("m: line 2: bad"));
    // A worker does not trust the queue: the line is checked again against its own root.
    await expect(runBatchJob(data("c", { out: "../c" }), { root })).rejects.toThrow(
      'out: path "../c" leads outside',
    );
    expect(existsSync(join(root, "seg", "b"))).toBe(false);
    expect(readdirSync(join(root, "seg")).filter((name) => name.startsWith("."))).toEqual([]);
  }, 60_000);
});
