/**
 * The project's own wasm kernels for training.
 *
 * tfjs-backend-wasm 4.22.0 cannot train a conv net as shipped: it has no `Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter/Input` or `UnsortedSegmentSum` (the gradient of `tf.gather`),
 * its `Conv2DBackpropInput` is a naive loop (~12× slower than the same-size conv2d), and its matMul
 * uses XNNPACK only when neither operand is transposed and the batch is 1 (otherwise a scalar loop,
 * ~10× slower). The gradients registered in tfjs-core call these kernels, so registering kernels for
 * the wasm backend fixes both the gradient path and fused conv paths that call them directly.
 *
 * Each kernel is written with ordinary tfjs ops that have fast wasm implementations (XNNPACK conv2d
 * and matMul, rank ≤ 4 slices, transposes). Ops run inside a kernel are not recorded on the gradient
 * tape (tfjs only tapes at kernel depth 0), so these kernels are plain functions of their inputs.
 *
 * Some shipped data-movement kernels are replaced too, because a training step calls them hundreds of
 * times: Slice/Unpack/SplitV (the shipped ones copy the whole input out of the heap first), PadV2,
 * Sum over leading axes (bias gradients), some 2-D transposes, and Identity/Cast, which share data
 * instead of copying. These read and write the wasm heap directly (see WasmHeapBackend).
 *
 * The conv helpers (conv2dFilterGrad, conv2dInputGrad, ...) are exported: they work on any backend
 * and are what the gradient-check tests compare against the cpu backend's reference kernels.
 */
import * as tf from "@tensorflow/tfjs";

type Conv2DInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;
type PadSpec = "valid" | "same" | number | tf.backend_util.ExplicitPadding;
type Pair = [number, number];
type RoundingMode = "floor" | "round" | "ceil" | undefined;

const WASM = "wasm";

function pair(value: number | readonly number[] | undefined): Pair {
  if (value === undefined) return [1, 1];
  return typeof value === "number" ? [value, value] : [value[0], value[1]];
}

/** NCHW ↔ NHWC: the kernels compute in NHWC and convert at the edges. */
const toNhwc = (t: tf.Tensor4D): tf.Tensor4D => tf.transpose(t, [0, 2, 3, 1]);
const toNchw = (t: tf.Tensor4D): tf.Tensor4D => tf.transpose(t, [0, 3, 1, 2]);
const nhwcShape = (s: readonly number[]): [number, number, number, number] => [s[0], s[2], s[3], s[1]];

/**
 * The input split into stride phases, channels first and flattened: [(rowPhase, colPhase, C), N·Hq·Wq],
 * where phase (r, c) holds padded rows r, r + sh, … and columns c, c + sw, … and Hq × Wq is the
 * phase grid (big enough for the last output of the farthest tap). Built with one rank-4 transpose:
 * [N·Hq, sh, Wq, sw·C] → [sh, sw·C, N·Hq, Wq]. (tf.stridedSlice is ~10× slower than a copy on wasm,
 * and rank-5/6 transposes and slices are slow too.)
 */
function phaseSplit(x: tf.Tensor4D, info: Conv2DInfo): { phases: tf.Tensor2D; gridH: number; gridW: number } {
  const {
    outHeight,
    outWidth,
    strideHeight: sh,
    strideWidth: sw,
    dilationHeight: dh,
    dilationWidth: dw,
  } = info;
  const [n, height, width, c] = x.shape;
  const gridH = Math.floor(((info.filterHeight - 1) * dh) / sh) + outHeight;
  const gridW = Math.floor(((info.filterWidth - 1) * dw) / sw) + outWidth;
  const { top, left } = info.padInfo;
  const padded = padOrCrop(x, top, gridH * sh - top - height, left, gridW * sw - left - width);
  const phases =
    sh === 1 && sw === 1 && c > 1
      ? tf.transpose(tf.reshape(padded, [n * gridH * gridW, c]))
      : tf.reshape(tf.transpose(tf.reshape(padded, [n * gridH, sh, gridW, sw * c]), [1, 3, 0, 2]), [
          sh * sw * c,
          n * gridH * gridW,
        ]);
  return { phases: phases as tf.Tensor2D, gridH, gridW };
}

/** tf.pad that also accepts negative amounts (which crop). */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  let y = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = y.shape;
    const t0 = Math.max(0, -top);
    const l0 = Math.max(0, -left);
    y = tf.slice(y, [0, t0, l0, 0], [n, h - t0 - Math.max(0, -bottom), w - l0 - Math.max(0, -right), c]);
  }
  const pads: Array<[number, number]> = [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ];
  return pads[1][0] + pads[1][1] + pads[2][0] + pads[2][1] === 0 ? y : tf.pad(y, pads);
}

/**
 * Stride-1 "valid" conv of x padded by (top, bottom, left, right). Non-negative padding is passed to
 * the conv itself (XNNPACK pads implicitly, no copy); negative amounts crop first.
 */
function paddedConv(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  [top, bottom, left, right]: [number, number, number, number],
  dilations: [number, number] = [1, 1],
): tf.Tensor4D {
  const cropped = padOrCrop(x, Math.min(0, top), Math.min(0, bottom), Math.min(0, left), Math.min(0, right));
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ];
  return tf.conv2d(cropped, filter, 1, pad, "NHWC", dilations);
}

/**
 * Inserts (stride - 1) zeros between neighbouring pixels: [N, H, W, C] → [N, (H-1)·sh+1, (W-1)·sw+1, C].
 * Done with rank-4 reshapes and pads only (rank-5/6 ops are slow on wasm).
 */
function insertZeros(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape;
  let y: tf.Tensor4D = x;
  if (sw > 1) {
    y = tf.pad(tf.reshape(y, [n * h, w, 1, c]), [
      [0, 0],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
  }
  y = tf.reshape(y, [n * h, 1, w * sw, c]);
  if (sh > 1) {
    y = tf.pad(y, [
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, 0],
    ]);
  }
  y = tf.reshape(y, [n, h * sh, w * sw, c]);
  return tf.slice(y, [0, 0, 0, 0], [n, (h - 1) * sh + 1, (w - 1) * sw + 1, c]);
}

/**
 * Padding (top, bottom, left, right) of the stride-1 conv over the zero-inserted output gradient
 * that yields the input gradient of a conv with `info`.
 */
function transposedConvPadding(
  info: Conv2DInfo,
  dilatedH: number,
  dilatedW: number,
): [number, number, number, number] {
  const top = info.effectiveFilterHeight - 1 - info.padInfo.top;
  const left = info.effectiveFilterWidth - 1 - info.padInfo.left;
  const bottom = info.inHeight + info.effectiveFilterHeight - 1 - dilatedH - top;
  const right = info.inWidth + info.effectiveFilterWidth - 1 - dilatedW - left;
  return [top, bottom, left, right];
}

export interface ConvGradOptions {
  strides: number | [number, number];
  pad: PadSpec;
  dataFormat?: "NHWC" | "NCHW";
  dilations?: number | [number, number];
  dimRoundingMode?: RoundingMode;
}

function convInfo(
  xShapeNhwc: [number, number, number, number],
  filterShape: [number, number, number, number],
  o: ConvGradOptions,
  depthwise: boolean,
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShapeNhwc,
    filterShape,
    pair(o.strides),
    pair(o.dilations),
    o.pad,
    o.dimRoundingMode,
    depthwise,
    "channelsLast",
  );
}

/**
 * Filter gradient of conv2d: dW[i, j] = Σ_positions patch(i, j)ᵀ · dy, one plain (untransposed)
 * XNNPACK matMul per filter tap, [Cin, L] × [L, Cout], always with the same right operand.
 *
 * Positions are taken on the whole flattened phase grid (n, y < Hq, x < Wq), with dy zero outside
 * the real outputs: then tap (i, j) reads its phase at a constant offset (qi·Wq + qj), so its patch
 * matrix is one contiguous 2-D slice instead of a strided gather. The few grid columns beyond the
 * outputs cost a little extra arithmetic, multiplied by zeros.
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  options: ConvGradOptions,
): tf.Tensor4D {
  return tf.tidy(() => {
    const nchw = options.dataFormat === "NCHW";
    const x4 = nchw ? toNhwc(x) : x;
    const dy4 = nchw ? toNhwc(dy) : dy;
    const [kh, kw, cin, cout] = filterShape;
    const info = convInfo(x4.shape, filterShape, options, false);
    const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
    const { phases, gridH, gridW } = phaseSplit(x4, info);
    const [n, outH, outW] = dy4.shape;
    const maxOffset = Math.floor(((kh - 1) * dh) / sh) * gridW + Math.floor(((kw - 1) * dw) / sw);
    const length = n * gridH * gridW - maxOffset;
    const dyGrid = tf.pad(dy4, [
      [0, 0],
      [0, gridH - outH],
      [0, gridW - outW],
      [0, 0],
    ]);
    // Rows past `length` are grid padding (zeros), so dropping them loses nothing.
    const dyRows = tf.slice(tf.reshape(dyGrid, [n * gridH * gridW, cout]), [0, 0], [length, cout]);
    const blocks: ColumnBlock[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const phase = ((i * dh) % sh) * sw + ((j * dw) % sw);
        const offset = Math.floor((i * dh) / sh) * gridW + Math.floor((j * dw) / sw);
        blocks.push({ row: phase * cin, column: offset });
      }
    }
    // One product for all taps: dyRows is packed by XNNPACK once, and small Cin (e.g. RGB input)
    // still fills the GEMM tiles.
    const patches = stackBlocks(phases, blocks, cin, length); // [kh·kw·Cin, L]
    return tf.reshape(tf.matMul(patches, dyRows), [kh, kw, cin, cout]);
  });
}

/** A [rows, columns] block of a matrix, by its top-left corner. */
interface ColumnBlock {
  row: number;
  column: number;
}

/**
 * The blocks matrix[row : row + rows, column : column + columns], stacked vertically. On wasm each
 * block row is one copy straight into the result (no per-block tensors); elsewhere slices + concat.
 */
function stackBlocks(matrix: tf.Tensor2D, blocks: ColumnBlock[], rows: number, columns: number): tf.Tensor2D {
  const [{ row, column }] = blocks;
  if (
    blocks.length === 1 &&
    row === 0 &&
    column === 0 &&
    rows === matrix.shape[0] &&
    columns === matrix.shape[1]
  ) {
    return matrix; // a 1×1 stride-1 conv: the phase matrix is the im2col matrix
  }
  if (tf.getBackend() !== WASM || matrix.dtype !== "float32") {
    return tf.concat(
      blocks.map(({ row, column }) => tf.slice(matrix, [row, column], [rows, columns])),
      0,
    );
  }
  const backend = tf.backend() as unknown as WasmHeapBackend;
  const out = backend.makeOutput([blocks.length * rows, columns], "float32");
  const source = backend.typedArrayFromHeap(matrix);
  const target = backend.typedArrayFromHeap(out);
  const stride = matrix.shape[1];
  let written = 0;
  for (const { row, column } of blocks) {
    for (let r = row; r < row + rows; r++, written += columns) {
      const start = r * stride + column;
      target.set(source.subarray(start, start + columns), written);
    }
  }
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor2D;
}

/**
 * Input gradient of conv2d. Stride 1: a conv2d of the padded output gradient with the spatially
 * flipped, in/out-swapped filter. Strided: the same per stride phase (sub-pixel convolution), so no
 * multiply-adds are spent on inserted zeros; the phases are interleaved by one transpose.
 */
export function conv2dInputGrad(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  options: ConvGradOptions,
): tf.Tensor4D {
  return tf.tidy(() => {
    const nchw = options.dataFormat === "NCHW";
    const xShape = nchw ? nhwcShape(inputShape) : inputShape;
    const dy4 = nchw ? toNhwc(dy) : dy;
    const info = convInfo(xShape, filter.shape, options, false);
    const { strideHeight: sh, strideWidth: sw } = info;
    const dx =
      sh === 1 && sw === 1
        ? transposedConv(dy4, filter, info)
        : sh === sw
          ? subPixelTransposedConv(dy4, filter, info)
          : transposedConv(insertZeros(dy4, sh, sw), filter, info);
    return nchw ? toNchw(dx) : dx;
  });
}

/** Stride-1 conv over `dy` (already zero-inserted when the forward conv was strided). */
function transposedConv(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const [top, bottom, left, right] = transposedConvPadding(info, dy.shape[1], dy.shape[2]);
  const [kh, kw] = filter.shape;
  const flipped = swappedFilterTaps(
    filter.dataSync(),
    filter.shape,
    phaseTaps(0, 1, kh),
    phaseTaps(0, 1, kw),
  );
  return paddedConv(dy, flipped, [top, bottom, left, right], [info.dilationHeight, info.dilationWidth]);
}

/** Filter taps with index ≡ phase (mod stride), last first (the flipped order). */
function phaseTaps(phase: number, stride: number, size: number): number[] {
  const taps: number[] = [];
  for (let t = phase; t < size; t += stride) taps.unshift(t);
  return taps;
}

/**
 * Input gradient of a strided conv (equal strides, no dilation). With y + padTop = s·q + r, input
 * row y only receives filter taps i ≡ r (mod s), from output rows q - m for tap i = r + s·m: each
 * phase (r, c) is a stride-1 conv of dy with that phase's flipped taps.
 */
function subPixelTransposedConv(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const stride = info.strideHeight;
  const { top, left } = info.padInfo;
  const [n, outH, outW] = dy.shape;
  const [kh, kw, cin] = filter.shape;
  const phaseH = Math.ceil((info.inHeight + top) / stride);
  const phaseW = Math.ceil((info.inWidth + left) / stride);
  const weights = filter.dataSync();
  const phases: tf.Tensor4D[] = [];
  for (let r = 0; r < stride; r++) {
    for (let c = 0; c < stride; c++) {
      const rows = phaseTaps(r, stride, kh);
      const cols = phaseTaps(c, stride, kw);
      if (rows.length === 0 || cols.length === 0) {
        phases.push(tf.zeros([n, phaseH, phaseW, cin]));
        continue;
      }
      const taps = swappedFilterTaps(weights, filter.shape, rows, cols);
      phases.push(paddedConv(dy, taps, [rows.length - 1, phaseH - outH, cols.length - 1, phaseW - outW]));
    }
  }
  // Channels (r, c, ch) → pixels: [N·Hq, Wq, r, (c, ch)] → [N·Hq, r, Wq, (c, ch)] = [N, Hq·s, Wq·s, Cin].
  // (A rank-4 transpose: wasm's DepthToSpace is ~15× slower.)
  const stacked = tf.reshape(tf.concat(phases, 3), [n * phaseH, phaseW, stride, stride * cin]);
  const interleaved = tf.reshape(tf.transpose(stacked, [0, 2, 1, 3]), [
    n,
    phaseH * stride,
    phaseW * stride,
    cin,
  ]);
  return tf.slice(interleaved, [0, top, left, 0], [n, info.inHeight, info.inWidth, cin]) as tf.Tensor4D;
}

/**
 * The filter taps rows × cols (in the given order) with in/out channels swapped:
 * out[a, b, co, ci] = w[rows[a], cols[b], ci, co]. Filters are small, and this one pass in JS
 * replaces the reverse, transpose and gathers that are slow on wasm.
 */
function swappedFilterTaps(
  weights: ArrayLike<number>,
  shape: [number, number, number, number],
  rows: number[],
  cols: number[],
): tf.Tensor4D {
  const [, kw, cin, cout] = shape;
  const out = new Float32Array(rows.length * cols.length * cout * cin);
  let o = 0;
  for (const r of rows) {
    for (const c of cols) {
      const base = (r * kw + c) * cin * cout;
      for (let co = 0; co < cout; co++) {
        for (let ci = 0; ci < cin; ci++) out[o++] = weights[base + ci * cout + co];
      }
    }
  }
  return tf.tensor4d(out, [rows.length, cols.length, cout, cin]);
}

/** Filter gradient of depthwiseConv2d (filter [kh, kw, Cin, multiplier]); same layout as conv2dFilterGrad. */
export function depthwiseFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  options: ConvGradOptions,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, multiplier] = filterShape;
    const info = convInfo(x.shape, filterShape, options, true);
    const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
    const { phases, gridH, gridW } = phaseSplit(x, info);
    const [n, outH, outW, channels] = dy.shape;
    const maxOffset = Math.floor(((kh - 1) * dh) / sh) * gridW + Math.floor(((kw - 1) * dw) / sw);
    const length = n * gridH * gridW - maxOffset;
    const dyGrid = tf.pad(dy, [
      [0, 0],
      [0, gridH - outH],
      [0, gridW - outW],
      [0, 0],
    ]);
    const dyRows = tf.slice(tf.reshape(dyGrid, [n * gridH * gridW, channels]), [0, 0], [length, channels]);
    const dyT = tf.reshape(tf.transpose(dyRows), [cin, multiplier, length]);
    const taps: tf.Tensor2D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const phase = ((i * dh) % sh) * sw + ((j * dw) % sw);
        const offset = Math.floor((i * dh) / sh) * gridW + Math.floor((j * dw) / sw);
        const patch = tf.reshape(tf.slice(phases, [phase * cin, offset], [cin, length]), [cin, 1, length]);
        taps.push(tf.sum(tf.mul(patch, dyT), 2)); // [Cin, multiplier]
      }
    }
    return tf.reshape(tf.stack(taps), [kh, kw, cin, multiplier]);
  });
}

/** Input gradient of depthwiseConv2d: a stride-1 depthwise conv of the zero-inserted dy with the flipped filter. */
export function depthwiseInputGrad(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  options: ConvGradOptions,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, multiplier] = filter.shape;
    const info = convInfo(inputShape, filter.shape, options, true);
    const dilated = insertZeros(dy, info.strideHeight, info.strideWidth);
    const [top, bottom, left, right] = transposedConvPadding(info, dilated.shape[1], dilated.shape[2]);
    const padded = padOrCrop(dilated, top, bottom, left, right);
    // Every dy channel (c, m) gets its own flipped tap; the multiplier copies of c are then summed.
    const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, cin * multiplier, 1]) as tf.Tensor4D;
    const perChannel = tf.depthwiseConv2d(padded, flipped, 1, "valid", "NHWC", [
      info.dilationHeight,
      info.dilationWidth,
    ]);
    if (multiplier === 1) return perChannel;
    const [n, h, w] = perChannel.shape;
    return tf.reshape(tf.sum(tf.reshape(perChannel, [n * h * w, cin, multiplier]), 2), [n, h, w, cin]);
  });
}

/**
 * out[s] = Σ_{i: ids[i] = s} x[i] for 0 ≤ s < numSegments; ids outside that range are dropped (as in
 * TensorFlow). Built on scatterND, which sums duplicate indices.
 */
export function unsortedSegmentSum(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  return tf.tidy(() => {
    const count = segmentIds.size;
    const ids = tf.reshape(segmentIds, [count]);
    const valid = tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, numSegments));
    const safeIds = tf.where(valid, ids, tf.zerosLike(ids));
    const rows = tf.reshape(x, [count, -1]) as tf.Tensor2D;
    const kept = tf.mul(rows, tf.cast(tf.reshape(valid, [count, 1]), rows.dtype));
    const inner = x.shape.slice(segmentIds.rank);
    const sums = tf.scatterND(tf.reshape(safeIds, [count, 1]), kept, [numSegments, rows.shape[1]] as [
      number,
      number,
    ]);
    return tf.reshape(sums, [numSegments, ...inner]);
  });
}

// ---------------------------------------------------------------------------------------------
// matMul: XNNPACK only runs untransposed, unbatched products on wasm.

/** Products smaller than this (multiply-adds per batch item) stay on the shipped kernel. */
const SMALL_MATMUL_MACS = 4096;

type KernelFunc = tf.KernelConfig["kernelFunc"];

type Product = (a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean) => tf.Tensor;

function swapLastAxes(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1], perm[t.rank - 2]];
  return tf.transpose(t, perm);
}

/**
 * One 2-D product on XNNPACK (untransposed operands only). Computes either A·B or (Bᵀ·Aᵀ)ᵀ, whichever
 * moves fewer elements: explicit transposes plus packing of the right operand, which XNNPACK
 * repacks on every call. E.g. q·kᵀ with few queries becomes (k·qᵀ)ᵀ: only q and the output move.
 */
function product2d(
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA: boolean,
  transposeB: boolean,
  shipped: Product,
): tf.Tensor {
  if (!transposeA && !transposeB) return shipped(a, b, false, false);
  const m: number = transposeA ? a.shape[1]! : a.shape[0]!;
  const k: number = transposeA ? a.shape[0]! : a.shape[1]!;
  const n: number = transposeB ? b.shape[0]! : b.shape[1]!;
  const direct = (transposeA ? m * k : 0) + (transposeB ? k * n : 0) + k * n;
  const swapped = (transposeA ? 0 : m * k) + (transposeB ? 0 : k * n) + m * n + k * m;
  if (swapped < direct) {
    const bT = transposeB ? b : tf.transpose(b);
    const aT = transposeA ? a : tf.transpose(a);
    return tf.transpose(shipped(bT, aT, false, false));
  }
  return shipped(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b, false, false);
}

/**
 * BatchMatMul on XNNPACK, which tfjs-wasm uses only for untransposed, unbatched products: when one
 * side is unbatched its batch folds into rows (or columns), otherwise one 2-D product per batch item.
 * Tiny products and general broadcasting stay on the shipped kernel.
 */
function fastBatchMatMul(
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA: boolean,
  transposeB: boolean,
  shipped: Product,
): tf.Tensor {
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const sizeA = batchA.reduce((p, d) => p * d, 1);
  const sizeB = batchB.reduce((p, d) => p * d, 1);
  const m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2];
  const k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1];
  const n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1];
  const sameBatch = batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i]);
  const simple = !transposeA && !transposeB && sizeA === 1 && sizeB === 1;
  if (simple || m * n * k < SMALL_MATMUL_MACS || !(sameBatch || sizeA === 1 || sizeB === 1)) {
    return shipped(a, b, transposeA, transposeB);
  }
  return tf.tidy(() => {
    const outShape = [...tf.backend_util.assertAndGetBroadcastShape(batchA, batchB), m, n];
    if (sizeA === 1 && sizeB === 1) {
      const a2 = tf.reshape(a, transposeA ? [k, m] : [m, k]);
      const b2 = tf.reshape(b, transposeB ? [n, k] : [k, n]);
      return tf.reshape(product2d(a2, b2, transposeA, transposeB, shipped), outShape);
    }
    if (sizeB === 1) {
      // Every a-matrix multiplies the same b: stack a's rows.
      const rows = tf.reshape(transposeA ? swapLastAxes(a) : a, [sizeA * m, k]);
      const b2 = tf.reshape(b, transposeB ? [n, k] : [k, n]);
      return tf.reshape(product2d(rows, b2, false, transposeB, shipped), outShape);
    }
    if (sizeA === 1) {
      // One a against many b: [M, K] × [K, B·N], then bring the batch to the front.
      const b3 = tf.reshape(transposeB ? swapLastAxes(b) : b, [sizeB, k, n]);
      const bWide = tf.reshape(tf.transpose(b3, [1, 0, 2]), [k, sizeB * n]);
      const a2 = tf.reshape(a, transposeA ? [k, m] : [m, k]);
      const out = product2d(a2, bWide, transposeA, false, shipped);
      return tf.reshape(tf.transpose(tf.reshape(out, [m, sizeB, n]), [1, 0, 2]), outShape);
    }
    const as = tf.unstack(tf.reshape(a, [sizeA, ...a.shape.slice(-2)]));
    const bs = tf.unstack(tf.reshape(b, [sizeB, ...b.shape.slice(-2)]));
    return tf.reshape(
      tf.stack(as.map((ai, i) => product2d(ai, bs[i], transposeA, transposeB, shipped))),
      outShape,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Resize gradients. tfjs 4.22's ResizeBilinearGrad ignores halfPixelCenters on wasm and cpu (wrong
// gradients for PyTorch's align_corners=False convention) and the cpu kernel reports a swapped
// [N, W, H, C] shape; ResizeNearestNeighborGrad is wrong with halfPixelCenters too. These are the
// exact transposes of the tfjs forward kernels (same source coordinates), written in JS.

interface ResizeAxis {
  /** Source row/column index pairs and weights for every output position. */
  low: Int32Array;
  high: Int32Array;
  frac: Float32Array;
}

function resizeAxis(
  inSize: number,
  outSize: number,
  alignCorners: boolean,
  halfPixel: boolean,
  nearest: boolean,
): ResizeAxis {
  const aligned = alignCorners && outSize > 1;
  const ratio = (aligned ? inSize - 1 : inSize) / (aligned ? outSize - 1 : outSize);
  const low = new Int32Array(outSize);
  const high = new Int32Array(outSize);
  const frac = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    if (nearest) {
      const source = halfPixel ? ratio * (o + 0.5) : ratio * o;
      let index = Math.min(inSize - 1, alignCorners ? Math.round(source) : Math.floor(source));
      if (halfPixel) index = Math.max(0, index);
      low[o] = high[o] = index;
    } else {
      const source = halfPixel ? ratio * (o + 0.5) - 0.5 : ratio * o;
      low[o] = Math.max(0, Math.floor(source));
      high[o] = Math.min(inSize - 1, Math.ceil(source));
      frac[o] = source - low[o];
    }
  }
  return { low, high, frac };
}

/** dx of tf.image.resizeBilinear / resizeNearestNeighbor (NHWC), scattering dy back to the sources. */
export function resizeGrad(
  images: tf.Tensor4D,
  dy: tf.Tensor4D,
  alignCorners: boolean,
  halfPixelCenters: boolean,
  nearest: boolean,
): tf.Tensor4D {
  const [batch, inH, inW, depth] = images.shape;
  const [, outH, outW] = dy.shape;
  const rows = resizeAxis(inH, outH, alignCorners, halfPixelCenters, nearest);
  const cols = resizeAxis(inW, outW, alignCorners, halfPixelCenters, nearest);
  const dyValues = dy.dataSync();
  const dx = new Float32Array(batch * inH * inW * depth);
  let offset = 0;
  for (let b = 0; b < batch; b++) {
    const base = b * inH;
    for (let r = 0; r < outH; r++) {
      const top = (base + rows.low[r]) * inW;
      const bottom = (base + rows.high[r]) * inW;
      const rf = rows.frac[r];
      for (let c = 0; c < outW; c++) {
        const cf = cols.frac[c];
        const tl = (top + cols.low[c]) * depth;
        const tr = (top + cols.high[c]) * depth;
        const bl = (bottom + cols.low[c]) * depth;
        const br = (bottom + cols.high[c]) * depth;
        const wtl = (1 - rf) * (1 - cf);
        const wtr = (1 - rf) * cf;
        const wbl = rf * (1 - cf);
        const wbr = rf * cf;
        for (let d = 0; d < depth; d++) {
          const g = dyValues[offset++];
          dx[tl + d] += g * wtl;
          dx[tr + d] += g * wtr;
          dx[bl + d] += g * wbl;
          dx[br + d] += g * wbr;
        }
      }
    }
  }
  return tf.tensor4d(dx, [batch, inH, inW, depth]);
}

/**
 * dx of maxPool (NHWC): each output's gradient goes to the first maximum of its window. The shipped
 * wasm MaxPoolGrad of tfjs 4.22 gives wrong gradients (e.g. 2×2/2 'valid', 3×3/1 'same').
 */
export function maxPoolGrad(
  dy: tf.Tensor4D,
  input: tf.Tensor4D,
  filterSize: number | [number, number],
  strides: number | [number, number],
  pad: PadSpec,
  dimRoundingMode?: RoundingMode,
): tf.Tensor4D {
  const info = tf.backend_util.computePool2DInfo(input.shape, filterSize, strides, 1, pad, dimRoundingMode);
  const [batch, height, width, depth] = input.shape;
  const { outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const x = input.dataSync();
  const g = dy.dataSync();
  const dx = new Float32Array(x.length);
  let offset = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - info.padInfo.top;
      const yStart = Math.max(0, y0);
      const yEnd = Math.min(height, y0 + filterHeight);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - info.padInfo.left;
        const xStart = Math.max(0, x0);
        const xEnd = Math.min(width, x0 + filterWidth);
        for (let d = 0; d < depth; d++) {
          let best = -Infinity;
          let bestIndex = -1;
          for (let y = yStart; y < yEnd; y++) {
            for (let xx = xStart; xx < xEnd; xx++) {
              const index = ((b * height + y) * width + xx) * depth + d;
              if (x[index] > best || bestIndex < 0) {
                best = x[index];
                bestIndex = index;
              }
            }
          }
          if (bestIndex >= 0) dx[bestIndex] += g[offset];
          offset++;
        }
      }
    }
  }
  return tf.tensor4d(dx, input.shape);
}

// ---------------------------------------------------------------------------------------------
// Data movement on the wasm heap. tfjs-wasm 4.22's Slice kernel starts with `backend.readSync(x)`,
// which copies the WHOLE input out of the heap into a fresh JavaScript buffer (HEAPU8.slice) before
// copying the slice back in: ~1 ms per 2 MB input however small the slice. Reading the input through
// a heap view instead makes a slice cost only its own bytes.

/** The wasm backend's heap access (typed here to keep the rest of the file backend-agnostic). */
interface WasmHeapBackend {
  incRef(dataId: tf.DataId): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

/**
 * x[begin : begin + size] copied run by run: the trailing axes the slice covers whole form one
 * contiguous run per index of the leading axes. Any rank, any numeric dtype. `outShape` (same size)
 * names the result's shape when it differs from `size` (e.g. Unpack drops the sliced axis).
 */
function heapSlice(
  backend: WasmHeapBackend,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
  outShape: number[] = size,
): tf.TensorInfo {
  const out = backend.makeOutput(outShape, x.dtype);
  const total = size.reduce((p, d) => p * d, 1);
  if (total === 0) return out;
  const source = backend.typedArrayFromHeap(x);
  const target = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  const strides = [...tf.util.computeStrides(x.shape), 1];
  // Innermost axis that is cut: everything after it is copied whole, so one run spans it.
  let axis = rank - 1;
  while (axis > 0 && size[axis] === x.shape[axis]) axis--;
  const run = size.slice(axis).reduce((p, d) => p * d, 1);
  const runStart = begin[axis] * strides[axis];
  const index = new Array<number>(axis).fill(0); // odometer over the leading axes
  for (let written = 0; written < total; written += run) {
    let offset = runStart;
    for (let d = 0; d < axis; d++) offset += (begin[d] + index[d]) * strides[d];
    target.set(source.subarray(offset, offset + run), written);
    for (let d = axis - 1; d >= 0 && ++index[d] === size[d]; d--) index[d] = 0;
  }
  return out;
}

/**
 * Constant padding: the output is filled with the value, then x is copied in as contiguous runs
 * (everything from the innermost padded axis inwards is one run per index of the axes before it).
 * The shipped PadV2 copies element by element (~1.2 ms for a 128×128×32 map).
 */
function heapPad(
  backend: WasmHeapBackend,
  x: tf.TensorInfo,
  paddings: Array<[number, number]>,
  value: number,
): tf.TensorInfo {
  const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  const out = backend.makeOutput(outShape, x.dtype);
  const target = backend.typedArrayFromHeap(out);
  target.fill(value);
  const total = x.shape.reduce((p, d) => p * d, 1);
  if (total === 0) return out;
  const source = backend.typedArrayFromHeap(x);
  const outStrides = [...tf.util.computeStrides(outShape), 1];
  let axis = x.shape.length - 1;
  while (axis > 0 && paddings[axis][0] === 0 && paddings[axis][1] === 0) axis--;
  const run = x.shape.slice(axis).reduce((p, d) => p * d, 1);
  const runStart = paddings[axis][0] * outStrides[axis];
  const index = new Array<number>(axis).fill(0);
  for (let read = 0; read < total; read += run) {
    let offset = runStart;
    for (let d = 0; d < axis; d++) offset += (paddings[d][0] + index[d]) * outStrides[d];
    target.set(source.subarray(read, read + run), offset);
    for (let d = axis - 1; d >= 0 && ++index[d] === x.shape[d]; d--) index[d] = 0;
  }
  return out;
}

/**
 * Transpose of a float32 [rows, cols] matrix, in blocks of 32 rows: each column of a block is read
 * at stride `cols` and written contiguously. Round-robin min, loaded machine: [1024,128] 0.93 → 0.36
 * ms, [4096,128] 3.35 → 1.39 ms; see useHeapTranspose for where the shipped kernel stays faster.
 */
function heapTranspose2d(
  backend: WasmHeapBackend,
  x: tf.TensorInfo,
  rows: number,
  cols: number,
  outShape: number[],
): tf.TensorInfo {
  const out = backend.makeOutput(outShape, "float32");
  const source = backend.typedArrayFromHeap(x);
  const target = backend.typedArrayFromHeap(out);
  for (let r0 = 0; r0 < rows; r0 += 32) {
    const r1 = Math.min(rows, r0 + 32);
    for (let c = 0; c < cols; c++) {
      let o = c * rows + r0;
      for (let r = r0; r < r1; r++) target[o++] = source[r * cols + c];
    }
  }
  return out;
}

/**
 * The shipped kernel writes each output row at a stride of `rows` values; when that stride is a
 * multiple of 2 KB the writes fall into the same cache sets and it slows down 3-5× ([4096,64]:
 * 1.1 ms, [4356,64]: 0.19 ms). Only those shapes take the JavaScript path.
 */
const useHeapTranspose = (rows: number, cols: number): boolean => cols >= 64 && rows % 512 === 0;

/**
 * Sum of a float32 [rows, cols] matrix over its rows, as XNNPACK's average pooling over a
 * [rows, 1] window times rows. The shipped Sum reduces only innermost axes, so for leading axes (every
 * bias gradient: dy [N, H, W, C] over N, H, W) it transposes first: 2.0 ms for [16384, 32], against
 * 1.1 ms for a JavaScript loop and 0.11 ms for the pooling. XNNPACK's pooling keeps a row of
 * channels on the wasm stack (64 KB): 16384 channels overflowed it (memory access out of bounds), so
 * wider rows stay on the shipped kernel.
 */
const MAX_POOLED_COLUMNS = 4096;

function columnSum(x: tf.Tensor, rows: number, cols: number): tf.Tensor {
  return tf.tidy(() => {
    const column = tf.reshape(x, [1, rows, 1, cols]) as tf.Tensor4D;
    return tf.mul(tf.avgPool(column, [rows, 1], 1, "valid"), tf.scalar(rows));
  });
}

// ---------------------------------------------------------------------------------------------
// Registration.

type Inputs = Record<string, tf.Tensor>;
type Attrs = Record<string, unknown>;

/** Wraps an op-level implementation as a kernel function (the engine passes Tensors as inputs). */
function kernel(impl: (inputs: Inputs, attrs: Attrs) => tf.Tensor): KernelFunc {
  return ({ inputs, attrs }) => impl(inputs as unknown as Inputs, (attrs ?? {}) as Attrs);
}

function convOptions(attrs: Attrs): ConvGradOptions {
  return {
    strides: attrs.strides as number | [number, number],
    pad: attrs.pad as PadSpec,
    dataFormat: attrs.dataFormat as "NHWC" | "NCHW" | undefined,
    dilations: attrs.dilations as number | [number, number] | undefined,
    dimRoundingMode: attrs.dimRoundingMode as RoundingMode,
  };
}

function registerWasmKernel(
  kernelName: string,
  kernelFunc: KernelFunc,
  setupFunc?: tf.KernelSetupFunc,
): void {
  if (tf.getKernel(kernelName, WASM) !== undefined) tf.unregisterKernel(kernelName, WASM);
  tf.registerKernel({ kernelName, backendName: WASM, kernelFunc, setupFunc });
}

/** Replaces a shipped wasm kernel, keeping the original callable for the cases it handles well. */
function overrideWasmKernel(kernelName: string, make: (shipped: KernelFunc) => KernelFunc): void {
  const shipped = tf.getKernel(kernelName, WASM);
  if (shipped === undefined) return;
  registerWasmKernel(kernelName, make(shipped.kernelFunc), shipped.setupFunc);
}

let fixesRegistered = false;

/** Comparison and logical ops: not differentiable, so their gradient is zero (as in TensorFlow and PyTorch). */
const ZERO_GRADIENT_KERNELS: Array<[string, string[]]> = [
  ["Greater", ["a", "b"]],
  ["GreaterEqual", ["a", "b"]],
  ["Less", ["a", "b"]],
  ["LessEqual", ["a", "b"]],
  ["Equal", ["a", "b"]],
  ["NotEqual", ["a", "b"]],
  ["LogicalAnd", ["a", "b"]],
  ["LogicalOr", ["a", "b"]],
  ["LogicalXor", ["a", "b"]],
  ["LogicalNot", ["x"]],
];

/**
 * Fixes that apply whatever the backend (idempotent):
 * - gradients tfjs 4.22 ships for no backend: GatherNd (dx = scatterND(indices, dy, x.shape), which
 *   sums duplicate indices) and zero gradients for comparison/logical ops, so that masks computed
 *   from a tensor do not break backpropagation through it;
 * - ResizeBilinearGrad / ResizeNearestNeighborGrad on wasm and cpu (see resizeGrad).
 */
export function registerBackendFixes(): void {
  if (fixesRegistered) return;
  fixesRegistered = true;
  if (tf.getGradient("GatherNd") === undefined) {
    tf.registerGradient({
      kernelName: "GatherNd",
      inputsToSave: ["params", "indices"],
      gradFunc: (dy, saved) => {
        const [params, indices] = saved;
        return {
          params: () => tf.scatterND(indices, dy as tf.Tensor, params.shape),
          indices: () => tf.zerosLike(indices),
        };
      },
    });
  }
  for (const [kernelName, inputNames] of ZERO_GRADIENT_KERNELS) {
    if (tf.getGradient(kernelName) !== undefined) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: inputNames,
      gradFunc: (_dy, saved) =>
        Object.fromEntries(inputNames.map((name, i) => [name, () => tf.zeros(saved[i].shape)])),
    });
  }
  for (const backendName of [WASM, "cpu"]) {
    for (const [kernelName, nearest] of [
      ["ResizeBilinearGrad", false],
      ["ResizeNearestNeighborGrad", true],
    ] as const) {
      if (tf.getKernel(kernelName, backendName) !== undefined) tf.unregisterKernel(kernelName, backendName);
      tf.registerKernel({
        kernelName,
        backendName,
        kernelFunc: kernel(({ images, dy }, attrs) =>
          resizeGrad(
            images as tf.Tensor4D,
            dy as tf.Tensor4D,
            Boolean(attrs.alignCorners),
            Boolean(attrs.halfPixelCenters),
            nearest,
          ),
        ),
      });
    }
  }
}

let registered = false;

/** Registers the training kernels and the faster data-movement kernels on the wasm backend. Idempotent. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;

  registerWasmKernel(
    "Conv2DBackpropFilter",
    kernel(({ x, dy }, attrs) =>
      conv2dFilterGrad(
        x as tf.Tensor4D,
        dy as tf.Tensor4D,
        attrs.filterShape as [number, number, number, number],
        convOptions(attrs),
      ),
    ),
  );
  registerWasmKernel(
    "Conv2DBackpropInput",
    kernel(({ dy, filter }, attrs) =>
      conv2dInputGrad(
        attrs.inputShape as [number, number, number, number],
        dy as tf.Tensor4D,
        filter as tf.Tensor4D,
        convOptions(attrs),
      ),
    ),
  );
  registerWasmKernel(
    "DepthwiseConv2dNativeBackpropFilter",
    kernel(({ x, dy }, attrs) =>
      depthwiseFilterGrad(
        x as tf.Tensor4D,
        dy as tf.Tensor4D,
        attrs.filterShape as [number, number, number, number],
        convOptions(attrs),
      ),
    ),
  );
  registerWasmKernel(
    "DepthwiseConv2dNativeBackpropInput",
    kernel(({ dy, filter }, attrs) =>
      depthwiseInputGrad(
        attrs.inputShape as [number, number, number, number],
        dy as tf.Tensor4D,
        filter as tf.Tensor4D,
        convOptions(attrs),
      ),
    ),
  );
  registerWasmKernel(
    "UnsortedSegmentSum",
    kernel(({ x, segmentIds }, attrs) => unsortedSegmentSum(x, segmentIds, attrs.numSegments as number)),
  );

  registerWasmKernel(
    "MaxPoolGrad",
    kernel(({ dy, input }, attrs) =>
      maxPoolGrad(
        dy as tf.Tensor4D,
        input as tf.Tensor4D,
        attrs.filterSize as number | [number, number],
        attrs.strides as number | [number, number],
        attrs.pad as PadSpec,
        attrs.dimRoundingMode as RoundingMode,
      ),
    ),
  );

  // The engine clones every tensor it saves for the backward pass (~180 per training step of the bench
  // network, activations included) through Identity, which the shipped wasm kernel implements as a
  // full copy. Tensors are immutable, so sharing the data with a reference count (what the cpu
  // backend's Identity and wasm's own Reshape do) is enough.
  // The same for Cast to the tensor's own dtype: the gradient of each such clone.
  const share = (args: Parameters<KernelFunc>[0]): tf.TensorInfo => {
    const x = args.inputs.x as tf.TensorInfo;
    (args.backend as unknown as WasmHeapBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
  overrideWasmKernel(
    "Identity",
    (shippedKernel) => (args) =>
      (args.inputs.x as tf.TensorInfo).dtype === "string" ? shippedKernel(args) : share(args),
  );
  // Also: the shipped Cast copies values as they are, so casting 2 to bool gave 2 (cpu: 1).
  overrideWasmKernel("Cast", (shippedKernel) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const dtype = args.attrs?.dtype;
    if (x.dtype === "string") return shippedKernel(args);
    if (x.dtype === dtype) return share(args);
    if (dtype !== "bool") return shippedKernel(args);
    const backend = args.backend as unknown as WasmHeapBackend;
    const out = backend.makeOutput([...x.shape], "bool");
    const values = backend.typedArrayFromHeap(x);
    const flags = backend.typedArrayFromHeap(out);
    for (let i = 0; i < values.length; i++) flags[i] = values[i] !== 0 ? 1 : 0;
    return out;
  });

  // The shipped Unpack and SplitV call the shipped Slice (whole-input copy per output).
  overrideWasmKernel("Unpack", (shippedKernel) => (args) => {
    const x = args.inputs.value as tf.TensorInfo;
    if (x.dtype === "string") return shippedKernel(args);
    const axis = tf.util.parseAxisParam(args.attrs?.axis as number, x.shape)[0];
    const outShape = x.shape.filter((_, i) => i !== axis);
    const size = x.shape.map((d, i) => (i === axis ? 1 : d));
    const backend = args.backend as unknown as WasmHeapBackend;
    return Array.from({ length: x.shape[axis] }, (_, k) =>
      heapSlice(
        backend,
        x,
        x.shape.map((_, i) => (i === axis ? k : 0)),
        size,
        outShape,
      ),
    );
  });
  overrideWasmKernel("SplitV", (shippedKernel) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === "string") return shippedKernel(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as {
      numOrSizeSplits: number | number[];
      axis: number;
    };
    const dim = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, dim);
    const backend = args.backend as unknown as WasmHeapBackend;
    let start = 0;
    return sizes.map((length) => {
      const begin = x.shape.map((_, i) => (i === dim ? start : 0));
      start += length;
      return heapSlice(
        backend,
        x,
        begin,
        x.shape.map((d, i) => (i === dim ? length : d)),
      );
    });
  });
  overrideWasmKernel("Transpose", (shippedKernel) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const perm = (args.attrs as unknown as { perm: number[] }).perm;
    // A swap of the only two axes longer than 1 is a 2-D transpose.
    const long = x.shape.map((_, i) => i).filter((i) => x.shape[i] > 1);
    const longPerm = perm.filter((p) => x.shape[p] > 1);
    const swap = long.length === 2 && longPerm[0] === long[1];
    if (x.dtype !== "float32" || !swap || !useHeapTranspose(x.shape[long[0]], x.shape[long[1]])) {
      return shippedKernel(args);
    }
    const outShape = perm.map((p) => x.shape[p]);
    const backend = args.backend as unknown as WasmHeapBackend;
    return heapTranspose2d(backend, x, x.shape[long[0]], x.shape[long[1]], outShape);
  });
  overrideWasmKernel("PadV2", (shippedKernel) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === "string" || x.shape.length === 0) return shippedKernel(args);
    const { paddings, constantValue } = args.attrs as unknown as {
      paddings: Array<[number, number]>;
      constantValue: number;
    };
    return heapPad(args.backend as unknown as WasmHeapBackend, x, paddings, constantValue);
  });
  overrideWasmKernel("Sum", (shippedKernel) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
    if (x.dtype !== "float32" || !leading) return shippedKernel(args);
    const rows = x.shape.slice(0, axes.length).reduce((p, d) => p * d, 1);
    const kept = x.shape.slice(axes.length);
    const outShape = keepDims ? [...axes.map(() => 1), ...kept] : kept;
    const cols = kept.reduce((p, d) => p * d, 1);
    if (cols > MAX_POOLED_COLUMNS || rows === 0 || cols === 0) return shippedKernel(args);
    return tf.tidy(() => tf.reshape(columnSum(x as tf.Tensor, rows, cols), outShape));
  });

  overrideWasmKernel("Slice", (shippedKernel) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === "string") return shippedKernel(args);
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [begin4, size4] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return heapSlice(args.backend as unknown as WasmHeapBackend, x, begin4, size4);
  });

  overrideWasmKernel("BatchMatMul", (shippedKernel) => (args) => {
    const { a, b } = args.inputs as unknown as Inputs;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const shipped = (x: tf.Tensor, y: tf.Tensor, tA: boolean, tB: boolean): tf.Tensor =>
      tf.engine().makeTensorFromTensorInfo(
        shippedKernel({
          ...args,
          inputs: { a: x, b: y },
          attrs: { transposeA: tA, transposeB: tB },
        }) as tf.TensorInfo,
      );
    return fastBatchMatMul(a, b, transposeA, transposeB, shipped);
  });
}
