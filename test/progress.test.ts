import { describe, expect, it } from "vitest";
import { Progress } from "../src/core/progress.js";

/** A non-TTY stream that records what is written. */
function recorder(): { stream: NodeJS.WritableStream; lines: string[] } {
  const lines: string[] = [];
  const stream = { write: (text: string) => lines.push(text) > 0, isTTY: false };
  return { stream: stream as unknown as NodeJS.WritableStream, lines };
}

describe("plain progress lines", () => {
  it("show the rate once, in the caller's unit, per second or seconds per step", () => {
    let now = 0;
    const { stream, lines } = recorder();
    const progress = new Progress({ total: 68, label: "infer", unit: "frame", stream, now: () => now });
    for (let frame = 1; frame <= 68; frame++) {
      now += frame <= 40 ? 250 : 2500; // 4 frames/s, then 0.4 frames/s
      progress.update(frame);
    }
    progress.stop();
    // One line per 10 s. The rate is measured over the last 30 s: 41 frames in 12.5 s, 45 in 22.5 s,
    // then (49 - 9) frames in (32.5 - 2.25) s, then 0.4 frames/s once the window holds only slow frames.
    expect(lines).toEqual([
      "infer  1/68   1% 4.00 frame/s eta 17s\n",
      "infer 41/68  60% 3.28 frame/s eta 8s\n",
      "infer 45/68  66% 2.00 frame/s eta 12s\n",
      "infer 49/68  72% 1.32 frame/s eta 14s\n",
      "infer 53/68  77% 2.50 s/frame eta 38s\n",
      "infer 57/68  83% 2.50 s/frame eta 28s\n",
      "infer 61/68  89% 2.50 s/frame eta 18s\n",
      "infer 65/68  95% 2.50 s/frame eta 8s\n",
      "infer 68/68 100% 2.50 s/frame eta 0s\n",
    ]);
    for (const line of lines) expect(line.match(/\/s|s\//g)).toHaveLength(1);
  });
});
