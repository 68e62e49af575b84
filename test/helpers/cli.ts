import { Command } from "commander";
import { vi } from "vitest";
import { registerBatch } from "../../src/cli/batch.js";
import { registerEvalDavis } from "../../src/cli/eval-davis.js";
import { registerEvalVis } from "../../src/cli/eval-vis.js";
import { registerInfer } from "../../src/cli/infer.js";
import { registerSynth } from "../../src/cli/synth.js";
import { registerTrain } from "../../src/cli/train.js";

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `vidseg <args>` in this process (the commands of src/cli/main.ts), capturing stdout, stderr and
 * the exit code. A bug (any error other than VidsegError) rejects, with its stack trace.
 */
export async function runCli(args: readonly string[]): Promise<CliRun> {
  const program = new Command("vidseg").exitOverride();
  const evaluate = program.command("eval");
  registerEvalVis(evaluate);
  registerEvalDavis(evaluate);
  registerSynth(program);
  registerTrain(program);
  registerInfer(program);
  registerBatch(program);
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const previous = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(["node", "vidseg", ...args]);
    return { exitCode: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = previous;
  }
}
