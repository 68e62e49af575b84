/**
 * Untrusted JSON (dataset files, config files, model-file metadata): one parser that refuses the keys
 * through which a document could reach built-in objects, and one brief, bounded rendering of values for
 * error messages.
 */
import { VidsegError } from "./errors.js";

/**
 * Keys refused anywhere in untrusted JSON. `JSON.parse` keeps them as plain own properties, but any code
 * that later copies or indexes by them (`target[key] = value`, `key in object`) reaches
 * `Object.prototype` or a constructor instead of data.
 */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Parses untrusted JSON text. Malformed JSON, and any object key `__proto__`, `constructor` or
 * `prototype` at any depth, are one VidsegError naming `file` and the JSON path (under `where`, for
 * JSON embedded in another document, e.g. `__metadata__.info`).
 */
export function parseJson(text: string, file?: string, where?: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new VidsegError(`malformed JSON (${(error as Error).message})`, file, where);
  }
  // A forbidden key appears in the text as itself or with \u escapes; only then is the tree walked, so
  // that large dataset files pay one substring scan.
  if (/__proto__|constructor|prototype|\\u/.test(text)) {
    const path = forbiddenKeyPath(value);
    if (path !== undefined) {
      throw new VidsegError(
        `forbidden key "${path.at(-1)}" (the keys __proto__, constructor and prototype are refused)`,
        file,
        formatJsonPath(path, where),
      );
    }
  }
  return value;
}

/** The path to the first forbidden key, if any; walks iteratively, so depth is no limit. */
function forbiddenKeyPath(root: unknown): (string | number)[] | undefined {
  interface Node {
    value: unknown;
    parent: Node | undefined;
    key: string | number;
  }
  const pathOf = (node: Node | undefined, last: string | number): (string | number)[] => {
    const path = [last];
    for (let n = node; n?.parent !== undefined; n = n.parent) path.push(n.key);
    return path.reverse();
  };
  const stack: Node[] = [{ value: root, parent: undefined, key: "" }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const value = node.value;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (item !== null && typeof item === "object") stack.push({ value: item, parent: node, key: i });
      }
    } else if (value !== null && typeof value === "object") {
      for (const key of Object.keys(value)) {
        if (FORBIDDEN_KEYS.has(key)) return pathOf(node, key);
      }
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i]!;
        if (item !== null && typeof item === "object") stack.push({ value: item, parent: node, key });
      }
    }
  }
  return undefined;
}

/** `a.b[3]["odd key"]`, optionally under a prefix. */
export function formatJsonPath(path: readonly (string | number)[], prefix = ""): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/**
 * A value shown briefly in an error message: JSON-like, at most `maxLength` characters, built only as
 * far as it is shown (so a huge or deeply nested value costs nothing), and saying what JSON cannot:
 * `Infinity`, `NaN`, `undefined`.
 */
export function showValue(value: unknown, maxLength = 40): string {
  let out = "";
  const full = () => out.length > maxLength;
  const emit = (text: string) => {
    out += text;
    return !full();
  };
  // Recursion depth is bounded by maxLength: every level writes at least one bracket.
  const walk = (v: unknown): boolean => {
    if (Array.isArray(v)) {
      if (!emit("[")) return false;
      for (let i = 0; i < v.length; i++) {
        if (i > 0 && !emit(",")) return false;
        if (!walk(v[i])) return false;
      }
      return emit("]");
    }
    if (v !== null && typeof v === "object") {
      if (!emit("{")) return false;
      let first = true;
      for (const key in v) {
        if (!Object.hasOwn(v, key)) continue;
        if (!first && !emit(",")) return false;
        first = false;
        if (!emit(`${JSON.stringify(key.slice(0, maxLength + 1))}:`)) return false;
        if (!walk((v as Record<string, unknown>)[key])) return false;
      }
      return emit("}");
    }
    if (typeof v === "string") return emit(JSON.stringify(v.slice(0, maxLength + 1)));
    if (typeof v === "number" || typeof v === "boolean" || v === null) return emit(String(v));
    return emit(String(v as unknown));
  };
  walk(value);
  return full() ? `${out.slice(0, maxLength - 3)}...` : out;
}
