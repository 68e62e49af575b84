/**
 * The browser demo (web/, scripts/web.ts) in a real Chromium (Debian's `chromium`, driven by
 * playwright-core): the page loads the exported model into onnxruntime-web in a Worker, streams the
 * bundled synthetic clip and a fake webcam (Chromium's file-backed fake capture device), and the tracks
 * it draws equal onnxruntime-node's on the same frames (identical ids and labels, masks within a few
 * pixels); with two sentences typed, the referring model (weights/refer-yofo.safetensors, exported by
 * the demo's build as `npm run web` does, or a small seeded one while that file does not exist) gives
 * onnxruntime-node's masks on the same frames; a reload takes the models from the Cache API. Skipped, saying so, when Chromium is absent.
 *
 * VIDSEG_UPDATE_SCREENSHOT=1 writes the screenshots to docs/web-demo.png and docs/web-demo-refer.png
 * (the README shows them).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnlineSegmenter } from "../src/infer/online-segmenter.js";
import { ReferringSegmenter } from "../src/infer/referring-segmenter.js";
import { initRuntime } from "../src/runtime/backend.js";
import { resolveOptions } from "../src/synth/options.js";
import { SceneRenderer } from "../src/synth/render.js";
import { planScene } from "../src/synth/scene.js";
import { serveWeb } from "../scripts/web.js";
import { writeRandomReferModel } from "./helpers/models.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
if (!CHROMIUM) {
  console.warn(
    "test/web.test.ts: SKIPPED — Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)",
  );
}

interface RecordedFrame {
  width: number;
  height: number;
  rgb: string;
  instances: { trackId: number; label: string; score: number; mask: string }[];
}

const root = mkdtempSync(join(tmpdir(), "vidseg-web-"));
const outDir = join(root, "site");
let server: { url: string; refer: string | null; stop: () => Promise<void> } | undefined;
// Two objects of the bundled clip (the random model reads words it does not know as UNK).
const EXPRESSIONS = ["the blue square", "the green ellipse"];
const SHIPPED_REFER = "weights/refer-yofo.safetensors";
let browser: Browser | undefined;
let page: Page;

/** The synthetic clip as a Y4M file (4:2:0, full-range BT.601), what Chromium's fake camera plays. */
function writeY4m(path: string, frames: number): void {
  const size = 128;
  const renderer = new SceneRenderer(
    planScene(resolveOptions("ytvis", 1, { frames, width: size, height: size }), "valid", 3),
  );
  const parts: Buffer[] = [Buffer.from(`YUV4MPEG2 W${size} H${size} F10:1 Ip A1:1 C420jpeg\n`)];
  const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  for (let t = 0; t < frames; t++) {
    const rgb = renderer.render(t).rgb;
    const y = Buffer.alloc(size * size);
    const u = Buffer.alloc((size * size) / 4);
    const v = Buffer.alloc((size * size) / 4);
    for (let p = 0; p < size * size; p++) {
      const [r, g, b] = [rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]];
      y[p] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
      const [row, col] = [Math.floor(p / size), p % size];
      if (row % 2 === 0 && col % 2 === 0) {
        const q = (row / 2) * (size / 2) + col / 2;
        u[q] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
        v[q] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
      }
    }
    parts.push(Buffer.from("FRAME\n"), y, u, v);
  }
  writeFileSync(path, Buffer.concat(parts));
}

/** onnxruntime-node on the page's frames must give the page's tracks. */
async function expectNodeTracks(recorded: RecordedFrame[]): Promise<void> {
  expect(recorded.length).toBeGreaterThan(0);
  const node = await OnlineSegmenter.createFromPath(join(outDir, "models/model.onnx"), {
    onnx: { threads: 1 },
    syntheticInput: true,
  });
  try {
    for (const [t, frame] of recorded.entries()) {
      const data = new Uint8Array(Buffer.from(frame.rgb, "base64"));
      const result = await node.segmentForVideoAsync(
        { width: frame.width, height: frame.height, data },
        t * 40,
      );
      const ids = (list: { trackId: number; label?: string }[]) => list.map((i) => [i.trackId, i.label]);
      expect(ids(frame.instances), `frame ${t}`).toEqual(ids(result.instances));
      frame.instances.forEach((instance, k) => {
        const expected = result.instances[k];
        expect(Math.abs(instance.score - expected.score)).toBeLessThan(1e-3);
        const mask = Buffer.from(instance.mask, "base64");
        const differing = expected.mask.reduce((n, v, i) => n + (v !== mask[i] ? 1 : 0), 0);
        expect(differing, `frame ${t}, track ${instance.trackId}`).toBeLessThanOrEqual(
          0.002 * mask.length + 2,
        );
      });
    }
  } finally {
    node.close();
  }
}

describe.skipIf(!CHROMIUM)("browser demo in Chromium", () => {
  beforeAll(async () => {
    const y4m = join(root, "camera.y4m");
    writeY4m(y4m, 24);
    // The shipped referring model once it exists (as `npm run web` serves it), else a small seeded one.
    let refer = SHIPPED_REFER;
    if (!existsSync(refer)) {
      refer = join(root, "refer.safetensors");
      await initRuntime();
      await writeRandomReferModel(refer, 3);
    }
    server = await serveWeb(outDir, { port: 0, referCheckpoint: refer });
    expect(server.refer).toBe(refer);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        `--use-file-for-fake-video-capture=${y4m}`,
      ],
    });
    page = await browser.newPage();
    await page.goto(server.url);
    const loaded = await page.evaluate(
      () => (window as unknown as { vidsegDemo: { loaded: Promise<unknown> } }).vidsegDemo.loaded,
    );
    expect(loaded).toMatchObject({
      type: "loaded",
      cached: false,
      categoryNames: expect.arrayContaining(["circle"]),
    });
    const referLoaded = await page.evaluate(
      () => (window as unknown as { vidsegDemo: { referLoaded: Promise<unknown> } }).vidsegDemo.referLoaded,
    );
    expect(referLoaded).toMatchObject({
      type: "referLoaded",
      cached: false,
      vocabulary: expect.arrayContaining(["red"]),
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const run = (source: string, frames: number) =>
    page.evaluate(
      ([s, n]) =>
        (
          window as unknown as { vidsegDemo: { run(s: string, n: number): Promise<RecordedFrame[]> } }
        ).vidsegDemo.run(s, n),
      [source, frames] as [string, number],
    );

  it("streams the bundled clip with onnxruntime-node's tracks, and shows the overlay and frames/s", async () => {
    const recorded = await run("clip", 5);
    expect(recorded).toHaveLength(5);
    expect(recorded.some((frame) => frame.instances.length > 0)).toBe(true);
    await expectNodeTracks(recorded);
    expect(Number(await page.textContent("#fps"))).toBeGreaterThan(0);
    const screenshot = await page.screenshot();
    expect(screenshot.subarray(1, 4).toString()).toBe("PNG");
    if (process.env.VIDSEG_UPDATE_SCREENSHOT === "1") writeFileSync("docs/web-demo.png", screenshot);
  }, 60_000);

  it("streams a (fake) webcam with onnxruntime-node's tracks", async () => {
    const recorded = await run("webcam", 4);
    expect(recorded).toHaveLength(4);
    expect(recorded[0]).toMatchObject({ width: 128, height: 128 });
    expect(recorded.some((frame) => frame.instances.length > 0)).toBe(true);
    await expectNodeTracks(recorded);
  }, 60_000);

  it("follows two typed sentences with the referring model, with onnxruntime-node's masks", async () => {
    await page.fill("#text", EXPRESSIONS[0]);
    await page.click("#add-text");
    await page.fill("#text2", EXPRESSIONS[1]);
    const recorded = await run("clip", 5);
    expect(recorded).toHaveLength(5);
    const node = await ReferringSegmenter.createFromPath(join(outDir, "models/refer.onnx"), {
      onnx: { threads: 1 },
      syntheticInput: true,
    });
    const targets = EXPRESSIONS.map((text) => node.track(text));
    let foreground = 0;
    try {
      for (const [t, frame] of recorded.entries()) {
        const data = new Uint8Array(Buffer.from(frame.rgb, "base64"));
        expect(frame.instances.map((i) => [i.trackId, i.label])).toEqual(
          EXPRESSIONS.map((e, k) => [k + 1, e]),
        );
        for (const [k, target] of targets.entries()) {
          const expected = await target.segmentForVideoAsync(
            { width: frame.width, height: frame.height, data },
            t * 40,
          );
          const instance = frame.instances[k];
          expect(Math.abs(instance.score - expected.score)).toBeLessThan(1e-3);
          const mask = Buffer.from(instance.mask, "base64");
          const differing = expected.mask.reduce((n, v, i) => n + (v !== mask[i] ? 1 : 0), 0);
          expect(differing, `frame ${t}, "${instance.label}"`).toBeLessThanOrEqual(0.002 * mask.length + 2);
          foreground += expected.mask.reduce((n, v) => n + v, 0);
        }
      }
    } finally {
      node.close();
    }
    expect(foreground).toBeGreaterThan(0);
    expect(Number(await page.textContent("#fps"))).toBeGreaterThan(0);
    const screenshot = await page.screenshot();
    expect(screenshot.subarray(1, 4).toString()).toBe("PNG");
    if (process.env.VIDSEG_UPDATE_SCREENSHOT === "1") writeFileSync("docs/web-demo-refer.png", screenshot);
    // Back to instance segmentation for the next test.
    await page.fill("#text", "");
    await page.fill("#text2", "");
  }, 60_000);

  it("takes the model from the Cache API after the first load", async () => {
    await page.reload();
    const loaded = await page.evaluate(
      () => (window as unknown as { vidsegDemo: { loaded: Promise<unknown> } }).vidsegDemo.loaded,
    );
    expect(loaded).toMatchObject({ type: "loaded", cached: true });
    expect(await page.textContent("#status")).toMatch(/from cache/);
    const referLoaded = await page.evaluate(
      () => (window as unknown as { vidsegDemo: { referLoaded: Promise<unknown> } }).vidsegDemo.referLoaded,
    );
    expect(referLoaded).toMatchObject({ type: "referLoaded", cached: true });
  }, 60_000);
});
