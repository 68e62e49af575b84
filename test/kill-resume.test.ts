/**
 * Durability under kill -9: a small training run (the train-vis job with --resume, tiny preset, a
 * checkpoint every step, in a child process: test/helpers/train-child.ts) is killed with SIGKILL at
 * random moments, 20 times or more, and resumed each time; every run that reaches the end writes a model
 * file byte-identical to an uninterrupted run's. Kills land anywhere: while starting, mid-step, while
 * writing a checkpoint, the log or the model file.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { generateVisDataset } from "../src/synth/vis.js";
import { mulberry32 } from "./helpers/random.js";

const CHILD = fileURLToPath(new URL("./helpers/train-child.ts", import.meta.url));
const STEPS = 3;
const KILLS = 20;
const root = mkdtempSync(join(tmpdir(), "vidseg-kill-"));
const data = join(root, "data");

beforeAll(async () => {
  await initRuntime({ backend: "wasm" });
  await generateVisDataset(resolveOptions("tiny", 0, { videos: 2, frames: 4 }), data, { splits: ["train"] });
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Trains (resuming) into `out`; kills the process with SIGKILL after `killAfterMs` if given. */
function train(out: string, killAfterMs?: number): Promise<{ code: number | null; killed: boolean }> {
  const args = ["--import", "tsx", CHILD, data, out, String(STEPS)];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let killed = false;
  const timer =
    killAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          killed = child.kill("SIGKILL");
        }, killAfterMs);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (!killed && code !== 0) reject(new Error(`train exited ${code}: ${stderr}`));
      else resolve({ code, killed });
    });
  });
}

describe("kill -9 and resume", () => {
  it(`${KILLS} kills at random moments; every resumed run ends with the uninterrupted run's bytes`, async () => {
    const reference = join(root, "reference");
    const started = performance.now();
    await train(reference);
    const fullMs = performance.now() - started;
    const expected = readFileSync(join(reference, "model.safetensors"));

    const random = mulberry32(16);
    let kills = 0;
    let completed = 0;
    let chain = 0;
    while (kills < KILLS) {
      const out = join(root, `run-${chain++}`);
      // Kill and resume until a run gets through, then resume once more and compare the bytes.
      for (;;) {
        const { killed } = await train(out, 100 + random() * fullMs);
        if (!killed) break;
        kills++;
      }
      await train(out);
      expect(readFileSync(join(out, "model.safetensors")).equals(expected), out).toBe(true);
      // Nothing half-written is left behind.
      for (const folder of [out, join(out, "checkpoints")])
        if (existsSync(folder))
          expect(readdirSync(folder).filter((name) => name.endsWith(".tmp"))).toEqual([]);
      completed++;
    }
    expect(kills).toBeGreaterThanOrEqual(KILLS);
    expect(completed).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
