import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import {
  evaluatePerExpression,
  evaluateRefDavis,
  mergeObjectProbabilities,
  scoreExpression,
  type PerExpressionResult,
  type RefDavisResult,
} from "../src/eval/refer.js";

const GOLDEN = fileURLToPath(new URL("golden/refer-cases/", import.meta.url));

function expectNumbersClose(ours: unknown, official: unknown, path = "$"): void {
  if (typeof official === "number") {
    expect(typeof ours, path).toBe("number");
    expect(Math.abs((ours as number) - official), path).toBeLessThanOrEqual(1e-9);
  } else if (official === null) {
    expect(ours, path).toBeNaN();
  } else if (Array.isArray(official)) {
    expect((ours as unknown[]).length, path).toBe(official.length);
    official.forEach((v, k) => expectNumbersClose((ours as unknown[])[k], v, `${path}[${k}]`));
  } else if (typeof official === "object") {
    expect(Object.keys(ours as object), path).toEqual(Object.keys(official));
    for (const [k, v] of Object.entries(official)) {
      expectNumbersClose((ours as Record<string, unknown>)[k], v, `${path}.${k}`);
    }
  } else {
    expect(ours, path).toEqual(official);
  }
}

function official<T>(kind: string): T {
  return JSON.parse(readFileSync(join(GOLDEN, kind, "official.json"), "utf8")) as T;
}

describe("per-expression J&F (MeViS eval_mevis.py logic with the official DAVIS metrics)", () => {
  it("MeViS-style split: union of the expression's objects from mask_dict.json; missing video scores 0", async () => {
    const root = join(GOLDEN, "mevis");
    const result = await evaluatePerExpression({
      protocol: "mevis",
      splitRoot: root,
      resultsDir: join(root, "pred"),
    });
    const expected = official<PerExpressionResult>("mevis");
    expectNumbersClose(result, expected);
    expect(result.per_expression["vid3_0"]).toEqual({ J: 0, F: 0 });
  });

  it("Ref-YouTube-VOS-style split: the Annotations PNG equal to obj_id", async () => {
    const root = join(GOLDEN, "refytvos");
    const result = await evaluatePerExpression({
      protocol: "ref-youtube-vos",
      splitRoot: root,
      resultsDir: join(root, "pred"),
    });
    expectNumbersClose(result, official<PerExpressionResult>("refytvos"));
  });

  it("a missing frame inside a predicted video is an error naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vidseg-refer-"));
    try {
      cpSync(join(GOLDEN, "mevis"), dir, { recursive: true });
      const file = join(dir, "pred", "vid0", "0", "00000.png");
      rmSync(file);
      await expect(
        evaluatePerExpression({ protocol: "mevis", splitRoot: dir, resultsDir: join(dir, "pred") }),
      ).rejects.toThrow(`${file}: missing frame`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("scores an expression by hand: J and F are means over frames", () => {
    const dot = Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 0, 0]);
    const empty = new Uint8Array(9);
    // Frame 0 perfect (J = F = 1); frame 1 empty prediction of a present object (J = F = 0).
    expect(scoreExpression([dot, empty], [dot, dot], 3, 3)).toEqual({ J: 0.5, F: 0.5 });
    // Both empty on every frame: J = F = 1.
    expect(scoreExpression([empty], [empty], 3, 3)).toEqual({ J: 1, F: 1 });
    // seg2bmap never marks the image border, so a mask covering the whole frame has no boundary:
    // against an empty prediction, J = 0 but F = 1 (both boundaries empty), as in the reference.
    expect(scoreExpression([empty], [Uint8Array.from([1, 1, 1, 1])], 2, 2)).toEqual({ J: 0, F: 1 });
  });
});

describe("Ref-DAVIS17", () => {
  // refdavis-void: void bands in the GT and predictions that cover void pixels (the unsupervised task
  // leaves them out of J and F).
  for (const kind of ["refdavis", "refdavis-void"]) {
    it(`${kind}: 4 expression sets, each scored with the DAVIS unsupervised task, averaged (official numbers)`, async () => {
      const root = join(GOLDEN, kind);
      const result = await evaluateRefDavis({
        davisRoot: join(root, "DAVIS"),
        resultsDir: join(root, "results"),
      });
      const expected = official<RefDavisResult>(kind);
      expectNumbersClose(result, expected);
      expect(result.runs.map((r) => r.name)).toEqual(["anno_0", "anno_1", "anno_2", "anno_3"]);
    });
  }

  it("a missing expression set is an error", async () => {
    await expect(
      evaluateRefDavis({
        davisRoot: join(GOLDEN, "refdavis", "DAVIS"),
        resultsDir: join(GOLDEN, "refdavis"),
      }),
    ).rejects.toThrow(/anno_0: missing predictions of expression set 0/);
  });

  it("merges per-object probabilities: argmax over objects, background below 0.5, first maximum wins", () => {
    const a = Float32Array.from([0.9, 0.2, 0.5, 0.7, 0.6]);
    const b = Float32Array.from([0.1, 0.3, 0.5, 0.7, 0.8]);
    expect(Array.from(mergeObjectProbabilities([a, b]))).toEqual([1, 0, 0, 1, 2]);
    expect(Array.from(mergeObjectProbabilities([a, b], [3, 7]))).toEqual([3, 0, 0, 3, 7]);
    expect(() => mergeObjectProbabilities([a, b], [1])).toThrow(/2 objects/);
    expect(() => mergeObjectProbabilities([a, Float32Array.from([1])])).toThrow(/object 1 has 1/);
  });
});

describe("vidseg eval refer (CLI)", () => {
  const run = promisify(execFile);
  const cli = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

  it("--protocol mevis --json prints the per-expression document", async () => {
    const root = join(GOLDEN, "mevis");
    const { stdout } = await run(process.execPath, [
      "--import",
      "tsx",
      cli,
      "eval",
      "refer",
      "--protocol",
      "mevis",
      "--split-root",
      root,
      "--results",
      join(root, "pred"),
      "--json",
    ]);
    expectNumbersClose(JSON.parse(stdout), official<PerExpressionResult>("mevis"));
  }, 30_000);

  it("--protocol ref-davis without --davis-root is a one-line error", async () => {
    const error = await run(process.execPath, [
      "--import",
      "tsx",
      cli,
      "eval",
      "refer",
      "--protocol",
      "ref-davis",
      "--results",
      "x",
    ]).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 1, stderr: "vidseg: error: ref-davis needs --davis-root\n" });
  }, 30_000);
});
