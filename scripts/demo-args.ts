/** What the demos share: their options and how they show paths. */
import { relative } from "node:path";
import { VidsegError } from "../src/index.js";

/** The value of `--name` on the command line, or `fallback`. */
export function argument(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  if (i + 1 >= args.length) throw new VidsegError(`--${name} needs a value`);
  return args[i + 1];
}

/** A path as the user can type it: relative inside the working folder, absolute elsewhere. */
export function show(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" ? "." : rel.startsWith("..") ? path : rel;
}
