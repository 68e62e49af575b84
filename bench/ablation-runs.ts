/**
 * What the ablation benchmarks share (bench/distill-ablation.ts, bench/refer-ablation.ts): mean ±
 * spread over seeds, the training seconds of a run from its log, the settings a finished run must
 * match, and durations for people.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { VidsegError } from "../src/index.js";

export interface MetricSummary {
  mean: number | null;
  /** Sample standard deviation over the seeds (null with fewer than 2). */
  spread: number | null;
  values: (number | null)[];
}

/** Mean and sample standard deviation of the known values (null and -1, "undefined", left out). */
export function meanSpread(values: readonly (number | null)[]): MetricSummary {
  const known = values.filter((v): v is number => v !== null && v > -1);
  if (known.length === 0) return { mean: null, spread: null, values: [...values] };
  const mean = known.reduce((a, b) => a + b, 0) / known.length;
  const spread =
    known.length < 2 ? null : Math.sqrt(known.reduce((a, v) => a + (v - mean) ** 2, 0) / (known.length - 1));
  return { mean, spread, values: [...values] };
}

/** "0.512 ± 0.031", "0.512" with one seed, "–" without a value. */
export function meanSpreadCell({ mean, spread }: MetricSummary, digits = 3): string {
  if (mean === null) return "–";
  return spread === null ? mean.toFixed(digits) : `${mean.toFixed(digits)} ± ${spread.toFixed(digits)}`;
}

/** Seconds of training steps of a run, across resumes: the time of the last step in its log. */
export async function trainingSeconds(runDir: string): Promise<number> {
  const lines = (await readFile(join(runDir, "log.jsonl"), "utf8")).trim().split("\n");
  const steps = lines.map((line) => JSON.parse(line) as { type: string; time?: number });
  return steps.filter((e) => e.type === "train").at(-1)?.time ?? 0;
}

/** A finished run counts only if it was run with these settings. */
export function checkSettings(
  run: { settings?: Record<string, unknown> },
  settings: Record<string, unknown>,
  file: string,
): void {
  for (const [key, value] of Object.entries(settings))
    if (JSON.stringify(run.settings?.[key]) !== JSON.stringify(value))
      throw new VidsegError(
        `was run with ${key} ${JSON.stringify(run.settings?.[key])}, not ${JSON.stringify(value)}: ` +
          "use another --out, or remove it",
        file,
        `settings.${key}`,
      );
}

/** Seconds as "42 s", "12 min" or "3.4 h". */
export function duration(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
