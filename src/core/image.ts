/** The one image type: RGB bytes, row-major (`data.length === width * height * 3`). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

/** A video frame: an image with its position in the video. */
export interface Frame extends RgbImage {
  data: Uint8Array;
  /** Position in the source, from 0. */
  index: number;
  /** Presentation time in milliseconds. */
  timestampMs: number;
}
