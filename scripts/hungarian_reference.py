"""Writes test/golden/hungarian-scipy.json: cost matrices (many with ties) and the assignment
scipy.optimize.linear_sum_assignment returns for them. Reference figures only; vidseg never runs this.

Usage: /usr/bin/python3 scripts/hungarian_reference.py test/golden/hungarian-scipy.json
"""
import json
import sys

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment


def main(out_path):
    rng = np.random.default_rng(20240517)
    cases = []

    def add(matrix, maximize=False):
        matrix = np.asarray(matrix, dtype=float)
        rows, cols = linear_sum_assignment(matrix, maximize=maximize)
        cases.append(
            {
                # JSON has no Infinity: forbidden pairs are written as null.
                "cost": [[None if np.isinf(x) else x for x in row] for row in matrix.tolist()],
                "maximize": maximize,
                "rows": rows.tolist(),
                "cols": cols.tolist(),
            }
        )

    # Constant matrices: maximal ties.
    for shape in [(1, 1), (3, 3), (2, 5), (5, 2), (4, 4)]:
        add(np.zeros(shape))
        add(np.full(shape, 2.5), maximize=True)
    # Small integer entries: many ties, square and both rectangular orientations.
    for _ in range(60):
        nr, nc = rng.integers(1, 8, size=2)
        add(rng.integers(0, 3, size=(nr, nc)), maximize=bool(rng.integers(0, 2)))
    # Values like -mean((J+F)/2) in DAVIS: few distinct levels, negative.
    for _ in range(20):
        nr, nc = rng.integers(1, 6), 20
        add(-rng.choice([0.0, 0.25, 0.5, 1.0], size=(nr, nc)))
    # Random floats (tie-free), with some forbidden (+inf) pairs.
    for _ in range(20):
        nr, nc = rng.integers(1, 9, size=2)
        m = rng.random((nr, nc))
        add(m)
    m = rng.random((4, 6))
    m[0, :3] = np.inf
    m[1, 3:] = np.inf
    add(m)
    with open(out_path, "w") as f:
        json.dump({"scipy": scipy.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
