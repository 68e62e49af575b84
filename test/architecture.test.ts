/**
 * ARCHITECTURE.md is true: every import between the folders of src/ goes in a direction its layer
 * table allows, the CLI reaches the library only through the public entry points, the data API does not
 * load TensorFlow.js, and the browser entry reaches nothing that needs Node.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve("src");

interface Import {
  specifier: string;
  /** `import type` / `export type`: erased at run time. */
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

/** The imports of a TypeScript file: static (`import … from`, `export … from`, side-effect) and dynamic. */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const found: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+"([^"]+)"/gms))
    found.push({ specifier: m[4], typeOnly: m[2] !== undefined });
  for (const m of text.matchAll(/^\s*import\s+"([^"]+)"/gm)) found.push({ specifier: m[1], typeOnly: false });
  for (const m of text.matchAll(/(?<!typeof\s)\bimport\(\s*"([^"]+)"\s*\)/g))
    found.push({ specifier: m[1], typeOnly: false });
  return found;
}

/** A relative specifier → the source file it names (".js" → ".ts"). */
function resolveLocal(from: string, specifier: string): string {
  return resolve(dirname(from), specifier).replace(/\.js$/, ".ts");
}

/** The layer of a source file: its top folder under src/, or "(entry)" for src/*.ts. */
function layerOf(file: string): string {
  const parts = relative(SRC, file).split("/");
  return parts.length === 1 ? "(entry)" : parts[0];
}

/** The layer table of ARCHITECTURE.md: folder → the folders it may import. */
function layerTable(): Map<string, Set<string>> {
  const table = new Map<string, Set<string>>();
  for (const line of readFileSync("ARCHITECTURE.md", "utf8").split("\n")) {
    const row = /^\|\s*`([a-z-]+)\/`\s*\|[^|]*\|([^|]*)\|\s*$/.exec(line);
    if (!row) continue;
    const deps = [...row[2].matchAll(/`?([a-z-]+)`?/g)].map((m) => m[1]).filter((d) => d !== "none");
    table.set(row[1], new Set(deps));
  }
  return table;
}

/** Every file reachable from `entry` through run-time imports, and the packages they import. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const { specifier, typeOnly } of importsOf(file)) {
      if (typeOnly) continue;
      if (specifier.startsWith(".")) visit(resolveLocal(file, specifier));
      else packages.add(specifier);
    }
  };
  visit(entry);
  return { files, packages };
}

describe("architecture", () => {
  const files = sourceFiles(SRC);
  const table = layerTable();

  it("ARCHITECTURE.md has a row for every folder of src/", () => {
    const folders = new Set(files.map(layerOf).filter((layer) => layer !== "(entry)"));
    expect([...table.keys()].sort()).toEqual([...folders].sort());
  });

  it("every import between folders goes in a direction the table allows", () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      if (from === "(entry)") continue;
      for (const { specifier } of importsOf(file)) {
        if (!specifier.startsWith(".")) continue;
        const to = layerOf(resolveLocal(file, specifier));
        if (to === from) continue;
        const allowed = table.get(from)!;
        const ok = from === "cli" ? to === "(entry)" : allowed.has(to);
        if (!ok) violations.push(`${relative(SRC, file)} imports ${specifier} (${from} → ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it("the CLI reaches the library only through its public entry points", () => {
    const cliImports = files
      .filter((file) => layerOf(file) === "cli")
      .flatMap((file) => importsOf(file).map((i) => i.specifier))
      .filter((specifier) => specifier.startsWith("../"));
    expect(new Set(cliImports)).toEqual(new Set(["../index.js", "../data.js", "../evaluate.js"]));
  });

  it("infer/ does not reach train/", () => {
    const reached = [
      ...closure(join(SRC, "infer", "online-segmenter.ts")).files,
      ...closure(join(SRC, "infer", "offline-segmenter.ts")).files,
    ];
    expect(reached.filter((file) => layerOf(file) === "train")).toEqual([]);
  });

  it("the data API does not load TensorFlow.js; the evaluation API loads only formats and metrics", () => {
    const { packages } = closure(join(SRC, "data.ts"));
    expect([...packages].filter((name) => name.startsWith("@tensorflow/"))).toEqual([]);
    const evaluation = new Set([...closure(join(SRC, "evaluate.ts")).files].map(layerOf));
    expect([...evaluation].sort()).toEqual(["(entry)", "core", "eval", "formats", "jobs", "mask", "math"]);
  });

  it("the browser entry reaches nothing that needs Node (node:*, sharp, ffmpeg)", () => {
    const { files: reached, packages } = closure(join(SRC, "web.ts"));
    const nodeOnly = [...packages].filter((name) => name.startsWith("node:") || name === "sharp");
    expect(nodeOnly).toEqual([]);
    const names = [...reached].map((file) => relative(SRC, file));
    expect(names.filter((name) => /ffmpeg|core\/fs\.ts|infer\/sources\.ts/.test(name))).toEqual([]);
    expect(names).toContain("infer/online-segmenter.ts");
  });
});
