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
    super(
      escapeControlCharacters(
        [file, where, message].filter((part) => part !== undefined && part !== "").join(": "),
      ),
    );
    this.name = "VidsegError";
  }
}

/** Throws a VidsegError unless `condition` holds. */
export function check(condition: unknown, message: string, file?: string, where?: string): asserts condition {
  if (!condition) throw new VidsegError(message, file, where);
}

/**
 * Control characters written as escapes (`\n`, `\t`, `\x1b`, `\u2028`): a file name or a value from a
 * hostile file must not split the one-line error or drive the terminal.
 */
export function escapeControlCharacters(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    const code = c.charCodeAt(0);
    return (
      named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`)
    );
  });
}
