/**
 * Paths built from dataset content (file names, video and sequence names, expression ids) must stay
 * inside the folder they are relative to: a name such as `../../x` or `/etc/x` in a JSON file must never
 * make vidseg read or write elsewhere. Every such path goes through {@link resolveInside} (or, where a
 * name is checked when its file is read, {@link checkRelativePath}).
 */
import { isAbsolute, join, normalize, resolve, sep } from "node:path";
import { VidsegError } from "./errors.js";

/**
 * Checks that `path`, read from a dataset file, is a relative path that stays inside the folder it is
 * relative to, and returns it normalised. Empty, absolute, NUL-containing, escaping (`..`) paths and
 * paths that name the folder itself are one VidsegError naming `file` and `where`.
 */
export function checkRelativePath(path: string, file?: string, where?: string): string {
  const fail = (problem: string): never => {
    throw new VidsegError(
      `path ${JSON.stringify(path)} ${problem}: a path from a dataset must stay inside its folder`,
      file,
      where,
    );
  };
  if (typeof path !== "string") fail("is not a string");
  if (path === "") fail("is empty");
  if (path.includes("\0")) fail("contains a NUL character");
  if (isAbsolute(path)) fail("is absolute");
  const normal = normalize(path);
  if (normal === "." || normal === `.${sep}`) fail("names the folder itself");
  if (normal === ".." || normal.startsWith(`..${sep}`)) fail("leads outside its folder");
  return normal;
}

/**
 * `root` joined with `path` (from a dataset file), after checking that the result stays inside `root`
 * (see {@link checkRelativePath}).
 */
export function resolveInside(root: string, path: string, file?: string, where?: string): string {
  const joined = join(root, checkRelativePath(path, file, where));
  // Belt and braces: the lexical check above already implies this.
  const base = resolve(root);
  const target = resolve(joined);
  if (!target.startsWith(base.endsWith(sep) ? base : base + sep))
    throw new VidsegError(`path ${JSON.stringify(path)} leads outside ${root}`, file, where);
  return joined;
}

/**
 * A file path as an ffmpeg/ffprobe argument: `file:` + the absolute path, so that a name starting with
 * `-` is not read as an option and one such as `concat:a|b` or `http://…` not as a protocol.
 */
export function ffmpegFileArgument(path: string): string {
  return `file:${resolve(path)}`;
}
