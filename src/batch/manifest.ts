/**
 * Batch manifests: JSON Lines, one job a line,
 *
 *   {"id": "v001", "task": "infer-vis", "input": "videos/v001.mp4", "out": "seg/v001",
 *    "options": {"checkpoint": "models/online.safetensors", "png": true}}
 *
 * with every path relative to the root the workers are given. A line that is not a valid job still
 * becomes a job, one that fails at once with the line's one-line error, so that `vidseg batch status`
 * lists it beside the others.
 */
import { createHash } from "node:crypto";
import { sep } from "node:path";
import { VidsegError } from "../core/errors.js";
import { readTextFile } from "../core/fs.js";
import { parseJson } from "../core/json.js";
import { resolveInside } from "../core/paths.js";
import { BATCH_TASKS, BATCH_TASK_NAMES, type BatchTaskName, type OptionType } from "./tasks.js";

/** One job as written in the manifest. */
export interface ManifestEntry {
  id: string;
  task: BatchTaskName;
  input: string;
  out: string;
  options: Record<string, unknown>;
}

/** What a queued job carries. */
export interface BatchJobData {
  /** The job id (the line's id, or `line-<n>-<hash>` for a line without a usable one). */
  id: string;
  /** Where the line came from, for messages. */
  manifest: string;
  line: number;
  /** The line's job as read (checked again by the worker against its own root). */
  entry?: unknown;
  /** Why the line is not a job: the job fails at once with this message. */
  problem?: string;
}

/** A checked entry with its paths resolved inside the root. */
export interface ResolvedEntry {
  entry: ManifestEntry;
  input: string;
  out: string;
  /** The options, path options resolved. */
  options: Record<string, unknown>;
}

const FIELDS = ["id", "task", "input", "out", "options"];
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const own = (object: Record<string, unknown>, key: string) => Object.hasOwn(object, key);

/** `where` for a line and, optionally, a field of it. */
const at = (line: number, field?: string) =>
  field === undefined ? `line ${line}` : `line ${line}: ${field}`;

/** Checks a job id: what a queue accepts and a person can type. */
function checkId(value: unknown, file: string, line: number): string {
  if (typeof value !== "string" || !ID_PATTERN.test(value))
    throw new VidsegError(
      `expected 1–200 letters, digits, ".", "_" or "-" (not starting with "." "_" "-"), got ${JSON.stringify(value)}`,
      file,
      at(line, "id"),
    );
  // BullMQ keeps integer ids for the ones it numbers itself.
  if (String(parseInt(value, 10)) === value)
    throw new VidsegError(`a bare integer is not a job id (e.g. "video-${value}" is)`, file, at(line, "id"));
  return value;
}

/** The most strings a list option holds (e.g. expressions followed at once through one video). */
const MAX_STRINGS = 64;

function checkOption(value: unknown, type: OptionType, file: string, where: string): void {
  const fail = (expected: string): never => {
    throw new VidsegError(`expected ${expected}, got ${JSON.stringify(value)}`, file, where);
  };
  if (Array.isArray(type)) {
    if (typeof value !== "string" || !type.includes(value))
      fail(`one of ${type.map((choice) => `"${choice}"`).join(", ")}`);
  } else if (type === "path" || type === "string") {
    if (typeof value !== "string" || value === "") fail(type === "path" ? "a path" : "a string");
  } else if (type === "strings") {
    const strings = Array.isArray(value) ? (value as unknown[]) : [];
    if (strings.length === 0 || strings.length > MAX_STRINGS)
      fail(`a list of 1–${MAX_STRINGS} non-empty strings`);
    strings.forEach((item, i) => {
      if (typeof item !== "string" || item.trim() === "")
        throw new VidsegError(
          `expected a non-empty string, got ${JSON.stringify(item)}`,
          file,
          `${where}[${i}]`,
        );
    });
  } else if (type === "boolean") {
    if (typeof value !== "boolean") fail("true or false");
  } else if (type === "positive") {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) fail("a positive number");
  } else if (!Number.isInteger(value) || (value as number) < 0) {
    fail("a non-negative integer");
  }
}

/** `inner` is `outer` or inside it. */
const within = (inner: string, outer: string) => inner === outer || inner.startsWith(outer + sep);

/**
 * Checks one manifest entry (a parsed line) and resolves its paths inside `root`: known fields of the
 * right types, a task this version runs, the task's options, paths that stay inside the root, and an
 * output folder that holds none of the job's inputs (it is replaced whole when the job completes).
 */
export function checkEntry(value: unknown, root: string, file: string, line: number): ResolvedEntry {
  if (!isObject(value)) throw new VidsegError("expected a JSON object", file, at(line));
  for (const key of Object.keys(value))
    if (!FIELDS.includes(key))
      throw new VidsegError(`unknown field (expected ${FIELDS.join(", ")})`, file, at(line, key));
  for (const key of ["id", "task", "input", "out"])
    if (!own(value, key)) throw new VidsegError("missing", file, at(line, key));
  const id = checkId(value.id, file, line);
  const taskName = value.task;
  if (typeof taskName !== "string" || !own(BATCH_TASKS, taskName))
    throw new VidsegError(
      `expected one of ${BATCH_TASK_NAMES.join(", ")}, got ${JSON.stringify(taskName)}`,
      file,
      at(line, "task"),
    );
  const task = BATCH_TASKS[taskName as BatchTaskName];
  if (typeof task === "string") throw new VidsegError(`${taskName}: ${task}`, file, at(line, "task"));
  for (const key of ["input", "out"])
    if (typeof value[key] !== "string") throw new VidsegError("expected a path", file, at(line, key));
  const input = resolveInside(root, value.input as string, file, at(line, "input"));
  const out = resolveInside(root, value.out as string, file, at(line, "out"));
  const options = own(value, "options") ? value.options : {};
  if (!isObject(options)) throw new VidsegError("expected a JSON object", file, at(line, "options"));
  const resolved: Record<string, unknown> = {};
  const inputs = [input];
  for (const [key, option] of Object.entries(options)) {
    const where = at(line, `options.${key}`);
    if (!own(task.options, key))
      throw new VidsegError(
        `unknown option of ${taskName} (expected ${Object.keys(task.options).join(", ")})`,
        file,
        where,
      );
    const type = task.options[key];
    checkOption(option, type, file, where);
    if (type === "path") {
      resolved[key] = resolveInside(root, option as string, file, where);
      inputs.push(resolved[key] as string);
    } else {
      resolved[key] = option;
    }
  }
  for (const key of task.required)
    if (!own(options, key)) throw new VidsegError("missing", file, at(line, `options.${key}`));
  if (inputs.some((path) => within(path, out) || within(out, path)))
    throw new VidsegError(
      "the output folder must not hold the job's inputs, nor be inside one (it is replaced whole when the job completes)",
      file,
      at(line, "out"),
    );
  const entry: ManifestEntry = {
    id,
    task: taskName as BatchTaskName,
    input: value.input as string,
    out: value.out as string,
    options: { ...options },
  };
  return { entry, input, out, options: resolved };
}

interface Owner {
  id: string;
  line: number;
}

/** The jobs' output folders: each is replaced whole on completion, so none may hold another. */
class OutputFolders {
  private readonly folders = new Map<string, Owner>();
  /** Every parent folder of an output folder → one job whose output is inside it. */
  private readonly parents = new Map<string, Owner>();

  private static parentsOf(folder: string): string[] {
    const found: string[] = [];
    for (let end = folder.lastIndexOf(sep); end > 0; end = folder.lastIndexOf(sep, end - 1))
      found.push(folder.slice(0, end));
    return found;
  }

  conflict(folder: string): (Owner & { relation: string }) | undefined {
    const same = this.folders.get(folder);
    if (same) return { ...same, relation: "is also" };
    const inner = this.parents.get(folder);
    if (inner) return { ...inner, relation: "holds" };
    for (const parent of OutputFolders.parentsOf(folder)) {
      const outer = this.folders.get(parent);
      if (outer) return { ...outer, relation: "is inside" };
    }
    return undefined;
  }

  add(folder: string, owner: Owner): void {
    this.folders.set(folder, owner);
    for (const parent of OutputFolders.parentsOf(folder))
      if (!this.parents.has(parent)) this.parents.set(parent, owner);
  }
}

/** The id of a line that has no usable one: its number and a hash of its text (stable across submits). */
function lineId(line: number, text: string): string {
  return `line-${line}-${createHash("sha256").update(text).digest("hex").slice(0, 8)}`;
}

/**
 * Reads a manifest into the jobs to queue, one per non-blank line, in order. Lines that are not valid
 * jobs (malformed JSON, a bad field, a path outside the root, an id or output folder used twice) become
 * jobs with a problem.
 */
export async function readManifest(file: string, root: string): Promise<BatchJobData[]> {
  const text = await readTextFile(file);
  const jobs: BatchJobData[] = [];
  const ids = new Map<string, number>();
  const outputs = new OutputFolders();
  text.split("\n").forEach((raw, index) => {
    const line = index + 1;
    const source = raw.trim();
    if (source === "") return;
    let value: unknown;
    try {
      value = parseJson(source, file, at(line));
    } catch (error) {
      if (!(error instanceof VidsegError)) throw error;
      jobs.push({ id: lineId(line, source), manifest: file, line, problem: error.message });
      return;
    }
    const rawId = isObject(value) ? value.id : undefined;
    let id: string;
    try {
      id = checkId(rawId, file, line);
    } catch (error) {
      jobs.push({ id: lineId(line, source), manifest: file, line, problem: (error as Error).message });
      return;
    }
    const first = ids.get(id);
    if (first !== undefined) {
      const message = new VidsegError(`duplicate id "${id}" (first on line ${first})`, file, at(line, "id"));
      jobs.push({ id: lineId(line, source), manifest: file, line, problem: message.message });
      return;
    }
    ids.set(id, line);
    try {
      const { out } = checkEntry(value, root, file, line);
      const conflict = outputs.conflict(out);
      if (conflict)
        throw new VidsegError(
          `${conflict.relation} the output folder of job "${conflict.id}" (line ${conflict.line})`,
          file,
          at(line, "out"),
        );
      outputs.add(out, { id, line });
      jobs.push({ id, manifest: file, line, entry: value });
    } catch (error) {
      if (!(error instanceof VidsegError)) throw error;
      jobs.push({ id, manifest: file, line, entry: value, problem: error.message });
    }
  });
  return jobs;
}
