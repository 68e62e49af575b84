import { randomBytes } from "node:crypto";
import { constants as bufferConstants } from "node:buffer";
import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { readBytes } from "./bytes.js";
import { parseJson } from "./json.js";

/** Temporary files of atomic writes: `.<name>.<12 hex digits>.tmp`, next to the target. */
const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * A fresh temporary name next to `path` for a file that is renamed over `path` once complete; left-overs
 * of killed writers are recognised by {@link removeTempFiles}.
 */
export function temporaryPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

/**
 * Writes a file so that it appears whole or not at all, even across a power loss: the bytes go to a
 * temporary file in the same folder (same file system, so rename is atomic), which is flushed to disk
 * before it is renamed over the target; the folder is flushed after, so that the rename itself is
 * durable. A kill mid-way leaves only a temporary file, which {@link removeTempFiles} cleans up.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true });
  const tmp = temporaryPath(path);
  try {
    const handle = await open(tmp, "w");
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await syncFolder(folder);
}

/** Flushes a folder's entries (a rename in it) to disk. */
export async function syncFolder(folder: string): Promise<void> {
  let handle;
  try {
    handle = await open(folder, "r");
    await handle.sync();
  } catch {
    // Some platforms and file systems cannot open or flush a folder; the rename is then as durable as
    // the system makes it, which is all that can be done.
  } finally {
    await handle?.close();
  }
}

/**
 * Deletes the temporary files that interrupted {@link writeFileAtomic} calls left in `folder` (a kill
 * between the write and the rename); returns how many. Call it only on a folder no other process is
 * writing to at the same time, e.g. a run's checkpoints when the run starts.
 */
export async function removeTempFiles(folder: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return 0; // no folder, nothing left over
  }
  const stale = names.filter((name) => TEMP_FILE.test(name));
  for (const name of stale) await rm(join(folder, name), { force: true });
  return stale.length;
}

/** Writes a JSON document atomically. */
export async function writeJsonAtomic(path: string, value: unknown, indent?: number): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, indent) + (indent ? "\n" : ""));
}

/** The most bytes of a text file: the longest string Node can hold. */
export const MAX_TEXT_BYTES = bufferConstants.MAX_STRING_LENGTH;

/** Reads a regular text file (UTF-8): a bounded read of a regular file only (see `readBytes`). */
export async function readTextFile(path: string): Promise<string> {
  return new TextDecoder().decode(await readBytes(path, MAX_TEXT_BYTES));
}

/**
 * Reads an untrusted JSON file: a bounded read of a regular file, then {@link parseJson} (malformed JSON
 * and the keys `__proto__`, `constructor`, `prototype` are one VidsegError naming the file).
 */
export async function readJson(path: string): Promise<unknown> {
  return parseJson(await readTextFile(path), path);
}
