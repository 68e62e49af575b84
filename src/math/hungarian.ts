/**
 * Exact rectangular linear sum assignment, with the same answers as
 * `scipy.optimize.linear_sum_assignment` (scipy ≥ 1.6), ties included.
 *
 * The algorithm is the shortest augmenting path method of Crouse (2016), "On implementing 2D
 * rectangular assignment algorithms", IEEE TAES 52(4), with the choices scipy makes that decide ties:
 * - a matrix with more rows than columns is solved transposed, and the pairs are then listed by
 *   ascending row;
 * - maximisation negates the matrix; there is no shift of the costs (it would change the rounding);
 * - every search scans the free columns starting from the highest index, and the removed column is
 *   replaced by the last one (so a constant matrix yields the identity);
 * - among columns with the same reduced cost, a free column (one that ends the path) wins over one
 *   seen earlier in the scan, otherwise the first one seen is kept.
 */
import { VidsegError } from "../core/errors.js";

/** Matched pairs: row `rows[k]` is assigned to column `cols[k]`, with `rows` ascending. */
export interface Assignment {
  rows: number[];
  cols: number[];
}

/**
 * Assigns each row to a distinct column (or each column to a distinct row, when there are fewer
 * columns) minimising (or maximising) the total cost. `+Infinity` marks a forbidden pair; NaN, `-Infinity`
 * (or `+Infinity` when maximising), a ragged matrix, or a matrix without any complete assignment is a
 * VidsegError.
 */
export function linearSumAssignment(cost: readonly (readonly number[])[], maximize = false): Assignment {
  const rowCount = cost.length;
  const colCount = rowCount === 0 ? 0 : cost[0]!.length;
  for (let i = 0; i < rowCount; i++) {
    if (cost[i]!.length !== colCount) {
      throw new VidsegError(
        `cost matrix is ragged: row ${i} has ${cost[i]!.length} entries, row 0 has ${colCount}`,
        undefined,
        "linearSumAssignment",
      );
    }
  }
  if (rowCount === 0 || colCount === 0) return { rows: [], cols: [] };

  // The search needs at least as many columns as rows: solve a tall matrix transposed.
  const transpose = colCount < rowCount;
  const nr = transpose ? colCount : rowCount;
  const nc = transpose ? rowCount : colCount;
  const sign = maximize ? -1 : 1;
  const flat = new Float64Array(nr * nc);
  for (let i = 0; i < rowCount; i++) {
    const row = cost[i]!;
    for (let j = 0; j < colCount; j++) {
      const value = sign * row[j]!;
      if (Number.isNaN(value) || value === -Infinity) {
        throw new VidsegError(
          `cost matrix contains an invalid entry (${row[j]}) at [${i}][${j}]`,
          undefined,
          "linearSumAssignment",
        );
      }
      flat[transpose ? j * nc + i : i * nc + j] = value;
    }
  }

  const col4row = solveWide(nr, nc, flat);

  if (!transpose) {
    return { rows: Array.from(col4row.keys()), cols: Array.from(col4row) };
  }
  // Solved rows are original columns: list the pairs by ascending original row.
  const order = Array.from(col4row.keys()).sort((a, b) => col4row[a]! - col4row[b]!);
  return { rows: order.map((k) => col4row[k]!), cols: order };
}

/** Solves an nr × nc problem with nr ≤ nc; returns the column of each row. */
function solveWide(nr: number, nc: number, cost: Float64Array): Int32Array {
  const u = new Float64Array(nr);
  const v = new Float64Array(nc);
  const shortestPathCosts = new Float64Array(nc);
  const path = new Int32Array(nc).fill(-1);
  const col4row = new Int32Array(nr).fill(-1);
  const row4col = new Int32Array(nc).fill(-1);
  const rowVisited = new Uint8Array(nr);
  const colVisited = new Uint8Array(nc);
  const remaining = new Int32Array(nc);

  for (let curRow = 0; curRow < nr; curRow++) {
    // Dijkstra-like search for the shortest augmenting path from curRow to a free column.
    let minVal = 0;
    let remainingCount = nc;
    for (let it = 0; it < nc; it++) remaining[it] = nc - it - 1;
    rowVisited.fill(0);
    colVisited.fill(0);
    shortestPathCosts.fill(Infinity);

    let i = curRow;
    let sink = -1;
    while (sink === -1) {
      let index = -1;
      let lowest = Infinity;
      rowVisited[i] = 1;
      for (let it = 0; it < remainingCount; it++) {
        const j = remaining[it]!;
        const reduced = minVal + cost[i * nc + j]! - u[i]! - v[j]!;
        if (reduced < shortestPathCosts[j]!) {
          path[j] = i;
          shortestPathCosts[j] = reduced;
        }
        if (shortestPathCosts[j]! < lowest || (shortestPathCosts[j] === lowest && row4col[j] === -1)) {
          lowest = shortestPathCosts[j]!;
          index = it;
        }
      }
      minVal = lowest;
      if (minVal === Infinity) {
        throw new VidsegError("cost matrix is infeasible", undefined, "linearSumAssignment");
      }
      const j = remaining[index]!;
      if (row4col[j] === -1) sink = j;
      else i = row4col[j]!;
      colVisited[j] = 1;
      remaining[index] = remaining[--remainingCount]!;
    }

    // Update the dual variables.
    u[curRow] = u[curRow]! + minVal;
    for (let r = 0; r < nr; r++) {
      if (rowVisited[r] && r !== curRow) u[r] = u[r]! + (minVal - shortestPathCosts[col4row[r]!]!);
    }
    for (let c = 0; c < nc; c++) {
      if (colVisited[c]) v[c] = v[c]! - (minVal - shortestPathCosts[c]!);
    }

    // Augment along the path back to curRow.
    let j = sink;
    for (;;) {
      const r = path[j]!;
      row4col[j] = r;
      const previous = col4row[r]!;
      col4row[r] = j;
      j = previous;
      if (r === curRow) break;
    }
  }
  return col4row;
}
