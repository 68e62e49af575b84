import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
import { writeExpressionGroups, type ExpressionGroups } from "../src/formats/expression-groups.js";
import {
  writeExpressionMask,
  writeObjectMask,
  writeRefMetaExpressions,
  type RefMetaExpressions,
} from "../src/formats/refytvos.js";
import { runCli } from "./helpers/cli.js";

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

describe("expression groups (--groups)", () => {
  // Two videos of one 4×4 frame: object 1 the top-left 2×2 block, object 2 the bottom-right one.
  // Predictions: v/0 perfect (J = F = 1), v/1 empty (J = F = 0), v/2 object 1 plus 2 pixels
  // (J = 4/6), v/3 perfect; w has no predictions (its expression scores 0).
  const block = (x0: number, y0: number) =>
    Uint8Array.from({ length: 16 }, (_, i) =>
      i % 4 >= x0 && i % 4 < x0 + 2 && i >> 2 >= y0 && i >> 2 < y0 + 2 ? 1 : 0,
    );
  const one = block(0, 0);
  const two = block(2, 2);
  const labels = Uint8Array.from(one, (v, i) => (v ? 1 : two[i] ? 2 : 0));
  const grown = Uint8Array.from(one, (v, i) => (v || i === 2 || i === 3 ? 1 : 0));

  async function handMadeSplit(dir: string): Promise<string> {
    const split = join(dir, "split");
    const meta: RefMetaExpressions = {
      videos: {
        v: {
          frames: ["00000"],
          expressions: {
            "0": { exp: "the first", obj_id: "1" },
            "1": { exp: "the second", obj_id: "2" },
            "2": { exp: "the first again", obj_id: "1" },
            "3": { exp: "the second again", obj_id: "2" },
          },
        },
        w: { frames: ["00000"], expressions: { "0": { exp: "the first", obj_id: "1" } } },
      },
    };
    await writeRefMetaExpressions(join(split, "meta_expressions.json"), meta);
    for (const video of ["v", "w"])
      await writeObjectMask(split, video, "00000", { width: 4, height: 4, data: labels });
    const predictions: [string, Uint8Array][] = [
      ["0", one],
      ["1", new Uint8Array(16)],
      ["2", grown],
      ["3", two],
    ];
    for (const [expId, data] of predictions)
      await writeExpressionMask(join(dir, "pred"), "v", expId, "00000", { width: 4, height: 4, data });
    return split;
  }

  it("scores each group over its expressions: exact means of the per-expression figures", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vidseg-groups-"));
    try {
      const split = await handMadeSplit(dir);
      const groups: ExpressionGroups = {
        videos: { v: { "0": ["a", "b"], "1": ["a"], "2": ["b", "c"], "3": [] }, w: { "0": ["c"] } },
      };
      const groupsFile = join(dir, "groups.json");
      await writeExpressionGroups(groupsFile, groups);
      const result = await evaluatePerExpression({
        protocol: "ref-youtube-vos",
        splitRoot: split,
        resultsDir: join(dir, "pred"),
        groupsFile,
      });
      const s = result.per_expression;
      expect(s.v_0).toEqual({ J: 1, F: 1 });
      expect(s.v_1).toEqual({ J: 0, F: 0 });
      expect(s.v_2.J).toBe(4 / 6);
      expect(s.v_3).toEqual({ J: 1, F: 1 });
      expect(s.w_0).toEqual({ J: 0, F: 0 });
      const f2 = s.v_2.F;
      expect(f2).toBeGreaterThan(0);
      expect(f2).toBeLessThan(1);
      expect(Object.keys(result.groups!)).toEqual(["a", "b", "c"]);
      expect(result.groups!.a).toEqual({ J: 0.5, F: 0.5, "J&F": 0.5, expressions: 2 });
      expect(result.groups!.b).toEqual({
        J: (1 + 4 / 6) / 2,
        F: (1 + f2) / 2,
        "J&F": ((1 + 4 / 6) / 2 + (1 + f2) / 2) / 2,
        expressions: 2,
      });
      expect(result.groups!.c).toEqual({
        J: 4 / 6 / 2,
        F: f2 / 2,
        "J&F": (4 / 6 / 2 + f2 / 2) / 2,
        expressions: 2,
      });

      // The CLI prints the same groups in --json, and a table without it.
      const json = await runCli([
        "eval",
        "refer",
        "--protocol",
        "ref-youtube-vos",
        "--split-root",
        split,
        "--results",
        join(dir, "pred"),
        "--groups",
        groupsFile,
        "--json",
      ]);
      expect(json.exitCode).toBe(0);
      expect((JSON.parse(json.stdout) as PerExpressionResult).groups).toEqual(result.groups);
      const text = await runCli([
        "eval",
        "refer",
        "--protocol",
        "ref-youtube-vos",
        "--split-root",
        split,
        "--results",
        join(dir, "pred"),
        "--groups",
        groupsFile,
      ]);
      expect(text.stdout).toMatch(
        /Per group\n\s*Group\s+Expressions\s+J&F\s+J\s+F\n\s+a\s+2\s+0\.500\d*\s+0\.500\d*\s+0\.500\d*\n/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bad groups files: one line naming the file and the field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vidseg-groups-"));
    try {
      const split = await handMadeSplit(dir);
      const cases: [string, string][] = [
        ['{"videos": {"v": {"0": "motion"}}}', '$.videos["v"]["0"]: expected a list, got "motion"'],
        ['{"videos": {"v": {"0": ["a", 3]}}}', '$.videos["v"]["0"][1]: expected a string, got 3'],
        ['{"videos": {"v": {"0": ["a", "a"]}}}', '$.videos["v"]["0"][1]: group "a" is listed twice'],
        ['{"videos": {"v": {"9": ["a"]}}}', '$.videos["v"]["9"]: no such expression in the scored split'],
        ['{"videos": {"toString": {"0": ["a"]}}}', '$.videos["toString"]["0"]: no such expression'],
        ['{"videos": {"v": {"__proto__": ["a"]}}}', "__proto__"],
        ['{"groups": {}}', "$.videos: missing field"],
      ];
      for (const [text, message] of cases) {
        const file = join(dir, "groups.json");
        writeFileSync(file, text);
        const run = await runCli([
          "eval",
          "refer",
          "--protocol",
          "ref-youtube-vos",
          "--split-root",
          split,
          "--results",
          join(dir, "pred"),
          "--groups",
          file,
        ]);
        expect(run.exitCode, text).toBe(1);
        expect(run.stderr.split("\n").filter(Boolean), text).toHaveLength(1);
        expect(run.stderr, text).toContain(file);
        expect(run.stderr, text).toContain(message);
      }
      const davis = await runCli([
        "eval",
        "refer",
        "--protocol",
        "ref-davis",
        "--davis-root",
        dir,
        "--results",
        dir,
        "--groups",
        "x",
      ]);
      expect(davis).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/--groups applies to/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
