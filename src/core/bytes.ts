/**
 * Reading a file's bytes on any platform: the file system in Node, `fetch` elsewhere (a URL or a path
 * the page can fetch). Node's modules are imported by a variable specifier so that browser bundles
 * built from the Node-free entry (src/web.ts) do not pull them in.
 */
import { VidsegError } from "./errors.js";

const isNode = typeof process !== "undefined" && process.versions?.node !== undefined;
const NODE_FS = "node:fs/promises";

/** The bytes of a file (Node) or a URL (browser); a missing file is one VidsegError naming it. */
export async function readBytes(path: string): Promise<Uint8Array> {
  if (isNode && !/^(https?|blob|data):/.test(path)) {
    const fs = (await import(/* @vite-ignore */ NODE_FS)) as typeof import("node:fs/promises");
    let stats;
    try {
      stats = await fs.stat(path);
    } catch {
      throw new VidsegError("file not found", path);
    }
    if (!stats.isFile()) throw new VidsegError("not a regular file", path);
    return new Uint8Array(await fs.readFile(path));
  }
  let response: Response;
  try {
    response = await fetch(path);
  } catch (error) {
    throw new VidsegError(`cannot fetch (${(error as Error).message})`, path);
  }
  if (!response.ok) throw new VidsegError(`cannot fetch (HTTP ${response.status})`, path);
  return new Uint8Array(await response.arrayBuffer());
}

/** Whether `path` is a folder (Node; always false elsewhere, where paths are URLs). */
export async function isDirectory(path: string): Promise<boolean> {
  if (!isNode || /^(https?|blob|data):/.test(path)) return false;
  const fs = (await import(/* @vite-ignore */ NODE_FS)) as typeof import("node:fs/promises");
  return fs.stat(path).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
}
