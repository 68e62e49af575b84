/**
 * The core's defences against hostile input: the untrusted-JSON parser, the brief value rendering of
 * error messages, the one-line error, bounded reads of regular files only, the path-containment check,
 * and the atomic writer's temporary files.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { escapeControlCharacters, VidsegError } from "../src/core/errors.js";
import { readBytes } from "../src/core/bytes.js";
import { readJson, removeTempFiles, temporaryPath, writeFileAtomic } from "../src/core/fs.js";
import { formatJsonPath, parseJson, showValue } from "../src/core/json.js";
import { checkRelativePath, ffmpegFileArgument, resolveInside } from "../src/core/paths.js";

const dir = mkdtempSync(join(tmpdir(), "vidseg-core-untrusted-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vidsegError(run: () => unknown): VidsegError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(VidsegError);
    return error as VidsegError;
  }
  throw new Error("expected a VidsegError");
}

describe("parseJson", () => {
  it("refuses __proto__, constructor and prototype at any depth, naming the file and the JSON path", () => {
    const cases: [string, string][] = [
      [`{"__proto__": {"toString": "pwned"}}`, "__proto__"],
      [`{"a": [1, {"b": {"constructor": {"keys": 1}}}]}`, "a[1].b.constructor"],
      [`[[{"odd key": {"prototype": null}}]]`, `[0][0]["odd key"].prototype`],
      [`{"x": {"\\u005f\\u005fproto\\u005f\\u005f": 1}}`, "x.__proto__"],
    ];
    for (const [text, path] of cases) {
      const error = vidsegError(() => parseJson(text, "f.json"));
      expect(error.file).toBe("f.json");
      expect(error.where).toBe(path);
      expect(error.message).toMatch(/forbidden key "(__proto__|constructor|prototype)"/);
    }
    expect(vidsegError(() => parseJson(`{"a": {"prototype": 1}}`, "m.st", "__metadata__.info")).where).toBe(
      "__metadata__.info.a.prototype",
    );
    expect(Object.prototype.toString.call([])).toBe("[object Array]");
  });

  it("keeps values named like those keys, and ordinary documents, as they are", () => {
    const text = `{"name": "constructor", "list": ["__proto__", "prototype"], "n": 1.5, "é": "\\u00e9"}`;
    expect(parseJson(text)).toEqual({
      name: "constructor",
      list: ["__proto__", "prototype"],
      n: 1.5,
      é: "é",
    });
  });

  it("malformed JSON is one VidsegError; nesting 100,000 deep parses", () => {
    expect(vidsegError(() => parseJson("{", "bad.json")).message).toMatch(/^bad\.json: malformed JSON/);
    const deep = parseJson("[".repeat(100_000) + "]".repeat(100_000), "deep.json");
    expect(Array.isArray(deep)).toBe(true);
    expect(() => parseJson(`${"[".repeat(100_000)}{"__proto__": 1}${"]".repeat(100_000)}`)).toThrow(
      /forbidden key/,
    );
  });

  it("formats JSON paths as the format readers do", () => {
    expect(formatJsonPath(["videos", 3, "file_names", 0])).toBe("videos[3].file_names[0]");
    expect(formatJsonPath(["a b", "c"], "$")).toBe('$["a b"].c');
  });
});

describe("showValue", () => {
  it("is brief and bounded for any value, deep or huge", () => {
    const deep = JSON.parse("[".repeat(5000) + "]".repeat(5000)) as unknown;
    expect(showValue(deep)).toBe("[".repeat(37) + "...");
    expect(showValue("x".repeat(1e6))).toBe(`"${"x".repeat(36)}...`);
    const wide = Object.fromEntries(Array.from({ length: 1e5 }, (_, i) => [`k${i}`, i]));
    expect(showValue(wide)).toBe('{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"...');
  });

  it("reads like JSON, and says what JSON cannot", () => {
    expect(showValue({ a: [1, "b", null, true] })).toBe('{"a":[1,"b",null,true]}');
    expect(showValue(Infinity)).toBe("Infinity");
    expect(showValue(-Infinity)).toBe("-Infinity");
    expect(showValue(NaN)).toBe("NaN");
    expect(showValue(undefined)).toBe("undefined");
  });
});

describe("VidsegError is one line", () => {
  it("escapes control characters from file names and values", () => {
    const error = new VidsegError("bad value", "a\nb\r.json", "x\ty\u001b[31m");
    expect(error.message).toBe("a\\nb\\r.json: x\\ty\\x1b[31m: bad value");
    expect(error.file).toBe("a\nb\r.json");
    expect(escapeControlCharacters("line\u2028sep\u0085")).toBe("line\\u2028sep\\x85");
    expect(escapeControlCharacters("plain é ✓")).toBe("plain é ✓");
  });
});

describe("readBytes / readJson", () => {
  it("refuses folders, devices and pipes at once, and files over the bound", async () => {
    await expect(readJson(dir)).rejects.toThrow(`${dir}: is a folder, not a file`);
    await expect(readJson("/dev/zero")).rejects.toThrow("/dev/zero: is not a regular file");
    const fifo = join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    await expect(readJson(fifo)).rejects.toThrow(`${fifo}: is not a regular file`);
    const big = join(dir, "big.bin");
    writeFileSync(big, Buffer.alloc(1000));
    await expect(readBytes(big, 999)).rejects.toThrow(/file is 1000 bytes, more than the 999 read here/);
    expect((await readBytes(big, 1000)).length).toBe(1000);
    await expect(readJson(join(dir, "missing.json"))).rejects.toThrow(/missing\.json: file not found/);
  });

  it("parses with the untrusted-JSON rules", async () => {
    const file = join(dir, "p.json");
    writeFileSync(file, `{"ok": [1, 2], "nested": {"__proto__": {}}}`);
    await expect(readJson(file)).rejects.toThrow(`${file}: nested.__proto__: forbidden key "__proto__"`);
  });
});

describe("paths from dataset content", () => {
  it("accepts relative paths that stay inside, normalised", () => {
    expect(checkRelativePath("a/b.jpg")).toBe("a/b.jpg");
    expect(checkRelativePath("a/../b.jpg")).toBe("b.jpg");
    expect(checkRelativePath("./a//b")).toBe("a/b");
    expect(resolveInside("/data/JPEGImages", "v1/00000.jpg")).toBe("/data/JPEGImages/v1/00000.jpg");
    expect(resolveInside("rel/root", "x/../y.png")).toBe("rel/root/y.png");
  });

  it("refuses escaping, absolute, empty and NUL paths with one error naming file and field", () => {
    const cases: [string, RegExp][] = [
      ["../x", /leads outside its folder/],
      ["a/../../x", /leads outside its folder/],
      ["..", /leads outside its folder/],
      ["/etc/passwd", /is absolute/],
      ["", /is empty/],
      ["a\0b", /contains a NUL character/],
      [".", /names the folder itself/],
      ["a/..", /names the folder itself/],
    ];
    for (const [path, pattern] of cases) {
      const error = vidsegError(() => resolveInside("/root", path, "gt.json", "videos[0].file_names[1]"));
      expect(error.message).toMatch(/^gt\.json: videos\[0\]\.file_names\[1\]: path /);
      expect(error.message).toMatch(pattern);
      expect(error.message.split("\n")).toHaveLength(1);
    }
  });

  it("ffmpeg file arguments are file: URLs of absolute paths", () => {
    expect(ffmpegFileArgument("/v/-report")).toBe("file:/v/-report");
    expect(ffmpegFileArgument("concat:a|b")).toBe(`file:${join(process.cwd(), "concat:a|b")}`);
  });
});

describe("atomic writes", () => {
  it("leave no temporary file, and interrupted ones are removed at the next start", async () => {
    const folder = join(dir, "checkpoints");
    await writeFileAtomic(join(folder, "ckpt-1.safetensors"), "complete");
    expect(readdirSync(folder)).toEqual(["ckpt-1.safetensors"]);
    // What a kill between the write and the rename leaves behind.
    const left = temporaryPath(join(folder, "ckpt-2.safetensors"));
    writeFileSync(left, "half");
    writeFileSync(join(folder, ".hidden-but-not-ours.tmp"), "keep");
    expect(await removeTempFiles(folder)).toBe(1);
    expect(readdirSync(folder).sort()).toEqual([".hidden-but-not-ours.tmp", "ckpt-1.safetensors"]);
    expect(await removeTempFiles(join(dir, "no-such-folder"))).toBe(0);
  });
});
