import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  GIF_MAX_FRAMES,
  GIF_MAX_SIDE,
  MP4_MAX_SIDE,
  defaultAnimationFormat,
  mp4EncoderAvailable,
} from "../src/viz/animation.js";

const hasX264 = /\blibx264\b/.test(
  spawnSync("ffmpeg", ["-hide_banner", "-encoders"]).stdout?.toString() ?? "",
);

describe("default animation format", () => {
  it("is MP4 whenever ffmpeg is there, whatever the length", () => {
    for (const frames of [1, 795, undefined]) {
      expect(defaultAnimationFormat({ frames, width: 640, height: 360, ffmpegAvailable: true })).toEqual({
        format: "mp4",
        maxSide: MP4_MAX_SIDE,
        reason: "MP4: ffmpeg is installed",
      });
    }
  });

  it("without ffmpeg, is a scaled-down GIF for short clips only", () => {
    expect([GIF_MAX_FRAMES, GIF_MAX_SIDE]).toEqual([150, 320]);
    expect(defaultAnimationFormat({ frames: 150, width: 640, height: 360, ffmpegAvailable: false })).toEqual({
      format: "gif",
      maxSide: 320,
      reason: "GIF: no ffmpeg for MP4, and 150 frames is short enough for a GIF of 320×180",
    });
    // A small video is not enlarged by the policy.
    expect(
      defaultAnimationFormat({ frames: 10, width: 64, height: 48, ffmpegAvailable: false }).reason,
    ).toMatch(/GIF of 64×48$/);
    // 795 frames × 320 × 180 px × 0.5 B ≈ 23 MB: no animation, and the line says how to get one.
    expect(defaultAnimationFormat({ frames: 795, width: 640, height: 360, ffmpegAvailable: false })).toEqual({
      format: "none",
      maxSide: 320,
      reason:
        "no animation: 795 frames is too long for a GIF (about 23 MB at 320×180); " +
        "install ffmpeg for an MP4, or ask for a GIF explicitly",
    });
    expect(
      defaultAnimationFormat({ frames: 151, width: 640, height: 360, ffmpegAvailable: false }).format,
    ).toBe("none");
    expect(
      defaultAnimationFormat({ frames: undefined, width: 640, height: 360, ffmpegAvailable: false }).reason,
    ).toMatch(/^no animation: the video's length is unknown; install ffmpeg/);
  });
});

describe("MP4 encoder detection", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("is false when the ffmpeg named by VIDSEG_FFMPEG does not exist", async () => {
    vi.stubEnv("VIDSEG_FFMPEG", join(tmpdir(), "no-such-ffmpeg"));
    expect(await mp4EncoderAvailable()).toBe(false);
  });

  it.skipIf(!hasX264)("is true with the system's ffmpeg (skipped without ffmpeg/libx264)", async () => {
    expect(await mp4EncoderAvailable()).toBe(true);
  });
});
