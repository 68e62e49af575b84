/**
 * One error type for every bad input: it names the file, where in the file (a JSON path, a frame,
 * a field) and what is wrong, so the CLI can print a single clear line and exit non-zero.
 */
export class VidsegError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly where?: string,
  ) {
    super([file, where, message].filter((part) => part !== undefined && part !== "").join(": "));
    this.name = "VidsegError";
  }
}

/** Throws a VidsegError unless `condition` holds. */
export function check(condition: unknown, message: string, file?: string, where?: string): asserts condition {
  if (!condition) throw new VidsegError(message, file, where);
}
