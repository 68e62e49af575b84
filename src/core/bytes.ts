/**
 * Reading a file's bytes on any platform: the file system in Node, `fetch` elsewhere (a URL or a path
 * the page can fetch). Node's modules are imported by a variable specifier so that browser bundles
 * built from the Node-free entry (src/web.ts) do not pull them in.
 */
import { VidsegError } from "./errors.js";

const isNode = typeof process !== "undefined" && process.versions?.node !== undefined;
const NODE_FS = "node:fs/promises";

/** The most bytes {@link readBytes} reads by default (model weights, images). */
export const MAX_FILE_BYTES = 2 ** 31;

/**
 * The bytes of a file (Node) or a URL (browser). In Node only a regular file of at most `maxBytes` bytes
 * is read; anything else is one VidsegError naming the path: not found, a folder, a device such as
 * /dev/zero, a pipe, a file over the bound.
 */
export async function readBytes(path: string, maxBytes = MAX_FILE_BYTES): Promise<Uint8Array> {
  if (isNode && !/^(https?|blob|data):/.test(path)) {
    const fs = (await import(/* @vite-ignore */ NODE_FS)) as typeof import("node:fs/promises");
    return readRegularFile(fs, path, maxBytes);
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

async function readRegularFile(
  fs: typeof import("node:fs/promises"),
  path: string,
  maxBytes: number,
): Promise<Uint8Array> {
  const fail = (error: unknown): never => {
    const code = (error as NodeJS.ErrnoException).code;
    throw new VidsegError(
      code === "ENOENT" ? "file not found" : `cannot read file (${code ?? (error as Error).message})`,
      path,
    );
  };
  let handle;
  try {
    // O_NONBLOCK: opening a named pipe must not wait for a writer; it is refused below.
    handle = await fs.open(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (error) {
    return fail(error);
  }
  try {
    const info = await handle.stat().catch(fail);
    if (info.isDirectory()) throw new VidsegError("is a folder, not a file", path);
    if (!info.isFile()) throw new VidsegError("is not a regular file (a device, pipe or socket)", path);
    if (info.size > maxBytes)
      throw new VidsegError(`file is ${info.size} bytes, more than the ${maxBytes} read here`, path);
    // Read what the size said, no more: a file that grows meanwhile cannot make the read unbounded.
    const bytes = new Uint8Array(info.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled).catch(fail);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
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
