import { VidsegError } from "../core/errors.js";

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
      if (error instanceof VidsegError) {
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
