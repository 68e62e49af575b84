/**
 * Manifest paths are relative to a root folder that the worker is given (`--root`), so that a manifest
 * line can never make a worker read or write elsewhere, and the same manifest works on machines that
 * mount the data at different places.
 *
 * Local until the shared path-containment helper lands in core/ (then this becomes a call to it).
 */
import { isAbsolute, join, normalize, resolve, sep } from "node:path";
import { VidsegError } from "../core/errors.js";

/**
 * `root` joined with `path`, after checking that `path` is relative and stays inside `root` (no `..`
 * out of it, not the root itself). A violation is one VidsegError naming `file` and `where`.
 */
export function resolveInRoot(root: string, path: string, file?: string, where?: string): string {
  const fail = (problem: string): never => {
    throw new VidsegError(
      `path ${JSON.stringify(path)} ${problem}: manifest paths are relative to the root ${root}`,
      file,
      where,
    );
  };
  if (path === "") fail("is empty");
  if (path.includes("\0")) fail("contains a NUL character");
  if (isAbsolute(path)) fail("is absolute");
  const normal = normalize(path);
  if (normal === "." || normal === `.${sep}`) fail("names the root itself");
  if (normal === ".." || normal.startsWith(`..${sep}`)) fail("leads outside the root");
  const base = resolve(root);
  const target = resolve(base, normal);
  if (!target.startsWith(base.endsWith(sep) ? base : base + sep)) fail("leads outside the root");
  return join(base, normal);
}
