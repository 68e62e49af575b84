import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { VidsegError } from "./errors.js";

/**
 * Writes a file so that it appears whole or not at all: the bytes go to a temporary file in the same
 * folder (same file system, so rename is atomic), which is then renamed over the target.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Writes a JSON document atomically. */
export async function writeJsonAtomic(path: string, value: unknown, indent?: number): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, indent) + (indent ? "\n" : ""));
}

/** Reads a file, turning "not found" and parse errors into one clear VidsegError naming the file. */
export async function readJson(path: string): Promise<unknown> {
  if (!existsSync(path)) throw new VidsegError("file not found", path);
  const text = await readFile(path, "utf8");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new VidsegError(`malformed JSON (${(error as Error).message})`, path);
  }
}
