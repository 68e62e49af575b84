/**
 * The vidseg browser demo: frames from the bundled synthetic clip, a webcam or a video file go to the
 * inference Worker (worker.ts) one at a time; the overlay (stable colour per track id, "id label score")
 * is drawn with vidseg's own overlay code, with the frames/s. With a sentence in the text box (and a
 * second one, if added) the referring model segments what it describes instead, one colour per
 * expression; editing a sentence starts following the new one. `npm run web` serves the referring model
 * when weights/refer-yofo.safetensors exists (or --refer-checkpoint); without it the text box says so.
 *
 * `window.vidsegDemo` lets a test drive it: `run(source, frames)` processes that many frames and
 * returns each one's RGB bytes (base64) and instances, for comparison with Node.
 */
import { idColour, overlayMasks } from "../src/viz/overlay.js";
import { resolveOptions } from "../src/synth/options.js";
import { SceneRenderer } from "../src/synth/render.js";
import { planScene } from "../src/synth/scene.js";
import type { DemoInstance, LoadedReply, ReferLoadedReply, Reply, Request } from "./protocol.js";

/** The bundled clip: the synthetic benchmark's scene 0 (preset ytvis, seed 1), at the model's input size. */
const CLIP = { preset: "ytvis", seed: 1, frames: 36, width: 128, height: 128 } as const;
/** Frames from a camera or a file are scaled so that their longer side is at most this. */
const MAX_SIDE = 320;

type Source = "clip" | "webcam" | "file";

interface RecordedFrame {
  width: number;
  height: number;
  rgb: string;
  instances: { trackId: number; label: string; score: number; mask: string }[];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const view = $<HTMLCanvasElement>("view");
const status = $<HTMLDivElement>("status");
const fpsText = $<HTMLSpanElement>("fps");
const textBoxes = [$<HTMLInputElement>("text"), $<HTMLInputElement>("text2")];
const addText = $<HTMLButtonElement>("add-text");
const referStatus = $<HTMLSpanElement>("refer-status");
const worker = new Worker("worker.js", { type: "module" });
const grab = document.createElement("canvas").getContext("2d", { willReadFrequently: true })!;
let pending: ((reply: Reply) => void) | undefined;
worker.onmessage = ({ data }: MessageEvent<Reply>) => pending?.(data);

function ask(request: Request, transfer: Transferable[] = []): Promise<Reply> {
  return new Promise((resolve, reject) => {
    pending = (reply) => (reply.type === "error" ? reject(new Error(reply.message)) : resolve(reply));
    worker.postMessage(request, transfer);
  });
}

const loaded = ask({
  type: "load",
  model: "models/model.onnx",
  cropClassifier: "models/model.crop.onnx",
}).then((reply) => {
  const { backend, cached } = reply as LoadedReply;
  status.textContent = `model loaded on ${backend}${cached ? " (from cache)" : ""}`;
  return reply as LoadedReply;
});

/** The referring model, loaded after the instance model (one request at a time); null when none is served. */
const referLoaded: Promise<ReferLoadedReply | null> = loaded
  .then(() => ask({ type: "loadRefer", model: "models/refer.onnx" }))
  .then(
    (reply) => {
      const { cached, vocabulary } = reply as ReferLoadedReply;
      referStatus.textContent = `referring model loaded${cached ? " (from cache)" : ""}; it knows ${vocabulary.length} words`;
      textBoxes[0].disabled = false;
      addText.disabled = false;
      return reply as ReferLoadedReply;
    },
    (error: Error) => {
      referStatus.textContent =
        `no referring model (${error.message}): \`npm run web\` serves weights/refer-yofo.safetensors ` +
        "when it exists, or the model given with --refer-checkpoint";
      return null;
    },
  );

addText.onclick = () => {
  textBoxes[1].hidden = false;
  addText.disabled = true;
};

/** The expressions typed now (none: instance segmentation). */
function texts(): string[] {
  return textBoxes
    .filter((box) => !box.hidden && !box.disabled)
    .map((box) => box.value.trim())
    .filter(Boolean);
}

/** A source of RGB frames. */
interface FrameSource {
  next(): Promise<{ width: number; height: number; data: Uint8Array } | null>;
  stop(): void;
}

function clipSource(): FrameSource {
  const scene = planScene(resolveOptions(CLIP.preset, CLIP.seed, CLIP), "valid", 0);
  const renderer = new SceneRenderer(scene);
  let t = 0;
  return {
    next: async () => {
      const rgb = renderer.render(t++ % CLIP.frames).rgb;
      return { width: CLIP.width, height: CLIP.height, data: Uint8Array.from(rgb) };
    },
    stop: () => {},
  };
}

/** Frames of a playing <video> (a camera stream or a file), scaled to at most MAX_SIDE. */
async function videoSource(video: HTMLVideoElement, stop: () => void): Promise<FrameSource> {
  await video.play();
  while (video.videoWidth === 0) await new Promise((r) => setTimeout(r, 20));
  const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
  const width = Math.round(video.videoWidth * scale);
  const height = Math.round(video.videoHeight * scale);
  return {
    next: async () => {
      if (video.ended) return null;
      grab.canvas.width = width;
      grab.canvas.height = height;
      grab.drawImage(video, 0, 0, width, height);
      const rgba = grab.getImageData(0, 0, width, height).data;
      const data = new Uint8Array(width * height * 3);
      for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
        data[j] = rgba[i];
        data[j + 1] = rgba[i + 1];
        data[j + 2] = rgba[i + 2];
      }
      return { width, height, data };
    },
    stop,
  };
}

async function openSource(source: Source): Promise<FrameSource> {
  if (source === "clip") return clipSource();
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  if (source === "webcam") {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    video.srcObject = stream;
    return videoSource(video, () => stream.getTracks().forEach((track) => track.stop()));
  }
  const file = $<HTMLInputElement>("file").files?.[0];
  if (!file) throw new Error("choose a video file first");
  video.src = URL.createObjectURL(file);
  return videoSource(video, () => URL.revokeObjectURL(video.src));
}

function draw(frame: { width: number; height: number; data: Uint8Array }, instances: DemoInstance[]): void {
  // Colour by track id (the CLI's overlays do the same), so a track keeps its colour in every frame.
  const drawn = overlayMasks(
    frame,
    instances.map((instance) => instance.mask),
    {
      colours: instances.map((instance) => idColour(instance.trackId)),
      labels: instances.map(
        (instance) => `${instance.trackId} ${instance.label} ${instance.score.toFixed(2)}`,
      ),
    },
  );
  view.width = frame.width;
  view.height = frame.height;
  const rgba = new ImageData(frame.width, frame.height);
  for (let i = 0, j = 0; j < drawn.data.length; i += 4, j += 3) {
    rgba.data[i] = drawn.data[j];
    rgba.data[i + 1] = drawn.data[j + 1];
    rgba.data[i + 2] = drawn.data[j + 2];
    rgba.data[i + 3] = 255;
  }
  view.getContext("2d")!.putImageData(rgba, 0, 0);
}

function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

let running: { stop: boolean } | undefined;

/** Streams `source` through the worker (at most `frames` frames; all when undefined) and draws each result. */
async function run(source: Source, frames?: number): Promise<RecordedFrame[]> {
  await loaded;
  await referLoaded;
  if (running) running.stop = true;
  const state = { stop: false };
  running = state;
  const input = await openSource(source);
  worker.postMessage({ type: "reset" } satisfies Request); // in order before the first frame; no reply
  const recorded: RecordedFrame[] = [];
  const times: number[] = [];
  try {
    for (let t = 0; frames === undefined || t < frames; t++) {
      if (state.stop) break;
      const frame = await input.next();
      if (!frame) break;
      const start = performance.now();
      const copy = frames === undefined ? undefined : base64(frame.data);
      const reply = await ask({
        type: "frame",
        texts: texts(),
        width: frame.width,
        height: frame.height,
        data: frame.data.slice(),
        timestampMs: t * 40,
      });
      if (reply.type !== "result") continue;
      draw(frame, reply.instances);
      times.push(performance.now() - start);
      if (times.length > 10) times.shift();
      fpsText.textContent = (1000 / (times.reduce((a, b) => a + b, 0) / times.length)).toFixed(1);
      if (copy !== undefined) {
        recorded.push({
          width: frame.width,
          height: frame.height,
          rgb: copy,
          instances: reply.instances.map((instance) => ({ ...instance, mask: base64(instance.mask) })),
        });
      }
    }
  } finally {
    input.stop();
    if (running === state) running = undefined;
  }
  return recorded;
}

$<HTMLButtonElement>("start").onclick = () => {
  const source = $<HTMLSelectElement>("source").value as Source;
  run(source).catch((error: Error) => (status.textContent = `error: ${error.message}`));
};
$<HTMLButtonElement>("stop").onclick = () => {
  if (running) running.stop = true;
};

(window as unknown as { vidsegDemo: unknown }).vidsegDemo = { loaded, referLoaded, run };
