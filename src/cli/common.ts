/**
 * What every command shares: errors as one line, the `--json` contract, option parsing and the
 * progress bar. Commands import the library only through its public entry points (src/index.ts,
 * src/data.ts), and only inside their actions, so that `vidseg --help` and `vidseg eval` do not load
 * TensorFlow.js.
 */
import type { JobProgress, Progress } from "../data.js";

/** The error type, checked by name so that this module need not load the library. */
function isVidsegError(error: unknown): error is Error {
  return error instanceof Error && error.name === "VidsegError";
}

/**
 * Wraps a command's action: a VidsegError (bad input) becomes one line on stderr and exit code 1; any
 * other error is a bug and keeps its stack trace.
 */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<void> | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (error) {
      if (isVidsegError(error)) {
        process.stderr.write(`vidseg: error: ${error.message}\n`);
        process.exitCode = 1;
        return;
      }
      throw error;
    }
  };
}

/** Prints one JSON document on stdout (the `--json` contract: nothing else goes to stdout). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

/** A notice on stderr, one line. */
export function warn(message: string): void {
  process.stderr.write(`vidseg: warning: ${message}\n`);
}

/** Bad command-line input: the same one-line error as the library's. */
export class OptionError extends Error {
  constructor(flag: string | undefined, message: string) {
    super(flag === undefined ? message : `${flag}: ${message}`);
    this.name = "VidsegError";
  }
}

/**
 * A number from an option string (undefined stays undefined): finite, an integer when asked, at least
 * `min`, above `above`, at most `max`, below `below`; otherwise a one-line error naming the flag.
 */
export function numberOption(
  text: string | undefined,
  flag: string,
  rule: { integer?: boolean; min?: number; above?: number; max?: number; below?: number } = {},
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  const kind = rule.integer ? "integer" : "number";
  const what =
    rule.below !== undefined
      ? `a ${kind} in [${rule.min ?? "−∞"}, ${rule.below})`
      : rule.max !== undefined
        ? `a ${kind} in [${rule.min ?? "−∞"}, ${rule.max}]`
        : rule.min === 0
          ? `a non-negative ${kind}`
          : rule.min === 1 || rule.above === 0
            ? `a positive ${kind}`
            : rule.min !== undefined
              ? `${rule.integer ? "an integer" : "a number"} ≥ ${rule.min}`
              : `${rule.integer ? "an integer" : "a number"}`;
  const ok =
    text.trim() !== "" &&
    Number.isFinite(value) &&
    (!rule.integer || Number.isInteger(value)) &&
    (rule.min === undefined || value >= rule.min) &&
    (rule.above === undefined || value > rule.above) &&
    (rule.max === undefined || value <= rule.max) &&
    (rule.below === undefined || value < rule.below);
  if (!ok) throw new OptionError(flag, `expected ${what}, got "${text}"`);
  return value;
}

/** One of `choices`, or a one-line error naming the flag. */
export function choiceOption<T extends string>(text: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text))
    throw new OptionError(
      flag,
      `expected ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}, got "${text}"`,
    );
  return text as T;
}

/** A progress bar on stderr driven by a job's progress reports (none when silent). */
export function progressBar(
  ProgressClass: typeof Progress,
  label: string,
  silent: boolean | undefined,
): { onProgress: (progress: JobProgress) => void; stop: () => void } {
  let bar: Progress | undefined;
  return {
    // The bar measures the rate itself (over a window, with the ETA).
    onProgress: ({ done, total, unit }) => {
      bar ??= new ProgressClass({ total: total ?? 0, label, silent, unit: unit.replace(/s$/, "") });
      bar.update(done);
    },
    stop: () => bar?.stop(),
  };
}
