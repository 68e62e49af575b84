/**
 * Mutations as fast-check arbitraries: lists of small edits applied to a valid document, text or file,
 * so that inputs stay close enough to valid to reach deep into the readers, and shrink to the one edit
 * that matters.
 */
import fc from "fast-check";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Stands for a number literal JSON cannot carry (1e999 reads as Infinity); written by {@link jsonText}. */
const OVERFLOW = "\u0000OVERFLOW\u0000";

/** Values that broke readers before, or could: extremes, paths, keys that reach prototypes, depth. */
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    0,
    -1,
    1,
    0.5,
    -0.5,
    255,
    256,
    2 ** 31,
    2 ** 32 + 1,
    2 ** 53 + 2,
    4e8,
    -4e8,
    1e300,
    OVERFLOW,
    "",
    "../../x",
    "/etc/passwd",
    "a\nb",
    "\u0000",
    "__proto__",
    "constructor",
    "P".repeat(40) + "0",
    [],
    {},
  ),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e4, max: 1e4 }),
  fc.string({ maxLength: 12 }),
  fc.array(fc.integer({ min: -5, max: 300 }), { maxLength: 6 }),
  fc.integer({ min: 1, max: 2000 }).map((depth) => {
    let value: Json = [];
    for (let k = 0; k < depth; k++) value = [value];
    return value;
  }),
  // Built by JSON.parse: in an object literal, "__proto__" would set the prototype instead of a key.
  fc
    .constantFrom<string>(
      `{"__proto__": {"polluted": true}}`,
      `{"constructor": {"keys": 1}}`,
      `{"prototype": 1}`,
    )
    .map((text) => JSON.parse(text) as Json),
);

/** Object keys worth trying: the prototype-reaching ones, and any. */
const hostileKey = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString"),
  fc.string({ maxLength: 6 }),
);

export interface JsonEdit {
  /** Which node (modulo the number of nodes, in document order). */
  node: number;
  op: "replace" | "delete" | "insert" | "wrap" | "copy";
  value: Json;
  key: string;
  other: number;
}

export const jsonEdits: fc.Arbitrary<JsonEdit[]> = fc.array(
  fc.record({
    node: fc.nat(),
    op: fc.constantFrom<JsonEdit["op"]>("replace", "replace", "delete", "insert", "wrap", "copy"),
    value: hostileValue,
    key: hostileKey,
    other: fc.nat(),
  }),
  { maxLength: 4 },
);

/** Every node of a document: its parent and key (the root has none). */
function nodes(root: Json): { value: Json; parent?: Json[] | Record<string, Json>; key?: string | number }[] {
  const out: { value: Json; parent?: Json[] | Record<string, Json>; key?: string | number }[] = [];
  const stack: { value: Json; parent?: Json[] | Record<string, Json>; key?: string | number }[] = [
    { value: root },
  ];
  while (stack.length > 0 && out.length < 100_000) {
    const node = stack.pop()!;
    out.push(node);
    const value = node.value;
    if (Array.isArray(value)) value.forEach((item, i) => stack.push({ value: item, parent: value, key: i }));
    else if (value !== null && typeof value === "object")
      for (const key of Object.keys(value)) stack.push({ value: value[key], parent: value, key });
  }
  return out;
}

/** A deep copy that keeps a "__proto__" key as an own key (as JSON.parse does). */
function clone(value: Json): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

/** Applies edits to a copy of `base`. */
export function applyJsonEdits(base: Json, edits: readonly JsonEdit[]): Json {
  let root = clone(base);
  for (const edit of edits) {
    const all = nodes(root);
    const target = all[edit.node % all.length];
    const set = (value: Json) => {
      if (target.parent === undefined) root = value;
      else if (Array.isArray(target.parent)) target.parent[target.key as number] = value;
      else
        Object.defineProperty(target.parent, target.key as string, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
    };
    switch (edit.op) {
      case "replace":
        set(clone(edit.value));
        break;
      case "delete":
        if (Array.isArray(target.parent)) target.parent.splice(target.key as number, 1);
        else if (target.parent) delete target.parent[target.key as string];
        break;
      case "insert":
        if (Array.isArray(target.value)) target.value.push(clone(edit.value));
        // defineProperty: a key "__proto__" becomes an own key, as JSON.parse makes it.
        else if (target.value !== null && typeof target.value === "object")
          Object.defineProperty(target.value, edit.key, {
            value: clone(edit.value),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        break;
      case "wrap":
        set([target.value]);
        break;
      case "copy":
        set(clone(all[edit.other % all.length].value));
        break;
    }
  }
  return root;
}

/** JSON text of a document, with the overflow marker written as 1e999. */
export function jsonText(value: Json): string {
  return JSON.stringify(value).replaceAll(JSON.stringify(OVERFLOW), "1e999");
}

export interface TextEdit {
  at: number;
  remove: number;
  insert: string;
}

export const textEdits: fc.Arbitrary<TextEdit[]> = fc.array(
  fc.record({
    at: fc.nat(),
    remove: fc.nat({ max: 4 }),
    insert: fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom("", "[", "{", '"', ",", "1e999", "\\u", "-"),
    ),
  }),
  { maxLength: 3 },
);

export function applyTextEdits(text: string, edits: readonly TextEdit[]): string {
  let out = text;
  for (const edit of edits) {
    const at = edit.at % (out.length + 1);
    out = out.slice(0, at) + edit.insert + out.slice(at + edit.remove);
  }
  return out;
}

export interface ByteEdit {
  at: number;
  op: "set" | "int32" | "insert" | "truncate";
  value: number;
}

export const byteEdits: fc.Arbitrary<ByteEdit[]> = fc.array(
  fc.record({
    at: fc.nat(),
    op: fc.constantFrom<ByteEdit["op"]>("set", "set", "set", "int32", "insert", "truncate"),
    value: fc.oneof(fc.nat({ max: 255 }), fc.constantFrom(0, 0xffffffff, 0x7fffffff, 30000, 65535, 1 << 20)),
  }),
  { maxLength: 6 },
);

export function applyByteEdits(bytes: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const edit of edits) {
    const at = edit.at % Math.max(1, out.length);
    if (edit.op === "set") out[at] = edit.value & 0xff;
    else if (edit.op === "int32") {
      for (let k = 0; k < 4 && at + k < out.length; k++) out[at + k] = (edit.value >>> (24 - 8 * k)) & 0xff;
    } else if (edit.op === "insert") {
      const grown = new Uint8Array(out.length + 1);
      grown.set(out.subarray(0, at));
      grown[at] = edit.value & 0xff;
      grown.set(out.subarray(at), at + 1);
      out = grown;
    } else out = out.slice(0, at);
  }
  return out;
}
