// Types for the parts of gifenc (plain JavaScript, no bundled types) that vidseg uses.
declare module "gifenc" {
  type Palette = number[][];
  interface Encoder {
    writeFrame(
      index: Uint8Array,
      width: number,
      height: number,
      options?: {
        palette?: Palette;
        delay?: number;
        repeat?: number;
        transparent?: boolean;
        first?: boolean;
      },
    ): void;
    finish(): void;
    bytes(): Uint8Array;
    /** Manual mode (`auto: false`): the header, then frames, flushed with bytesView() + reset(). */
    writeHeader(): void;
    bytesView(): Uint8Array;
    reset(): void;
  }
  const gifenc: {
    GIFEncoder(options?: { auto?: boolean; initialCapacity?: number }): Encoder;
    quantize(rgba: Uint8Array | Uint8ClampedArray, maxColors: number, options?: { format?: string }): Palette;
    applyPalette(rgba: Uint8Array | Uint8ClampedArray, palette: Palette, format?: string): Uint8Array;
  };
  export default gifenc;
}
