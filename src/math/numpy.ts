/**
 * NumPy's float64 reductions, reproduced operation for operation so that means computed here agree with
 * the official Python evaluators to the last bit (the order of additions changes the rounding).
 */

/** numpy's pairwise summation (`pairwise_sum_DOUBLE`: blocks of 128, 8-way unrolled). */
export function pairwiseSum(values: ArrayLike<number>, start = 0, n = values.length - start): number {
  if (n < 8) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[start + i];
    return sum;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = values[start + j];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += values[start + i + j];
    let sum = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) sum += values[start + i];
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return pairwiseSum(values, start, half) + pairwiseSum(values, start + half, n - half);
}

/**
 * `np.sum` of a float64 vector: the reduction runs over buffers of 8192 elements, each summed pairwise,
 * and adds the buffer sums in order (this matters from 8193 values on, e.g. AP over 40 categories).
 */
export function numpySum(values: ArrayLike<number>): number {
  const buffer = 8192;
  let sum = 0;
  for (let start = 0; start < values.length; start += buffer)
    sum += pairwiseSum(values, start, Math.min(buffer, values.length - start));
  return sum;
}

/** `np.mean` of a float64 vector (numpy's sum / n; NaN when empty). */
export function numpyMean(values: ArrayLike<number>): number {
  return numpySum(values) / values.length;
}

/** `np.nanmean`: NaNs count as 0 in the sum and are left out of the count (NaN when nothing is left). */
export function numpyNanMean(values: ArrayLike<number>): number {
  const replaced = new Float64Array(values.length);
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    replaced[i] = v;
    count++;
  }
  return numpySum(replaced) / count;
}
