"""Reference figures for vidseg's DAVIS-2017 evaluation, from the official davis2017-evaluation code.

The official code is NOT part of vidseg: rebuild it outside git in .refs/davis2017-evaluation (the
package `davis2017/` from github.com/davisvideochallenge/davis2017-evaluation; with NumPy >= 1.24
replace the removed alias `np.bool` by `bool` in metrics.py). This script only imports it.

Usage (run with /usr/bin/python3; it needs numpy, scipy, scikit-image, opencv, pillow, pandas):

  # Random synthetic DAVIS roots + results folders (one case per folder under OUT):
  davis_reference.py generate OUT --cases N --seed S [--size HxW] [--frames A-B]
  # Official numbers for one case, as JSON (the `vidseg eval davis --json` document) and the CSVs:
  davis_reference.py evaluate --davis-root R --results D --task T [--set val] --out JSON [--csv-dir DIR]
  # Every case under OUT, both tasks: writes OUT/<case>/official-<task>.json
  davis_reference.py evaluate-all OUT
"""
import argparse
import json
import math
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", ".refs", "davis2017-evaluation")


def palette():
    cmap = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap.flatten().tolist()


def save_png(labels, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    img.putpalette(palette())
    img.save(path)


def blob(h, w, rng, t, motion):
    """A random ellipse or rectangle that moves with t."""
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ry, rx = rng.uniform(1, h / 3), rng.uniform(1, w / 3)
    dy, dx = motion
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = cy + dy * t, cx + dx * t
    if rng.random() < 0.5:
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)


def object_tracks(h, w, frames, n, rng):
    """n object masks per frame (frames × n × h × w), moving shapes, sometimes absent."""
    masks = np.zeros((frames, n, h, w), dtype=bool)
    for k in range(n):
        seed = rng.integers(1 << 30)
        motion = rng.uniform(-3, 3, size=2)
        absent = rng.random(frames) < 0.15
        for t in range(frames):
            if absent[t] and t > 0:
                continue
            masks[t, k] = blob(h, w, np.random.default_rng(seed), t, motion)
    return masks


def paint(masks):
    """Label maps from per-object masks: later objects over earlier ones."""
    frames, n, h, w = masks.shape
    labels = np.zeros((frames, h, w), dtype=np.uint8)
    for k in range(n):
        labels[masks[:, k]] = k + 1
    return labels


NOISE_LEVELS = [0.0, 0.01, 0.05]
VOID_DENSITY = [0.3]


def perturb(labels, rng, n_labels):
    """A prediction derived from GT labels: shifted, with noise, objects dropped or relabelled."""
    out = labels.copy()
    frames = out.shape[0]
    shift = rng.integers(-3, 4, size=2)
    out = np.roll(out, tuple(shift), axis=(1, 2))
    noise = rng.random(out.shape) < rng.choice(NOISE_LEVELS)
    out[noise] = rng.integers(0, n_labels + 1, size=noise.sum())
    if rng.random() < 0.2 and frames > 0:
        out[rng.integers(frames)] = 0  # an empty predicted frame
    return out


def generate_case(root, rng, h, w, frames, case_kind, plain_images=False):
    davis = os.path.join(root, "DAVIS")
    n_seq = int(rng.integers(1, 4))
    seqs = [f"seq{k}" for k in range(n_seq)]
    os.makedirs(os.path.join(davis, "ImageSets", "2017"), exist_ok=True)
    with open(os.path.join(davis, "ImageSets", "2017", "val.txt"), "w") as f:
        f.write("".join(s + "\n" for s in seqs))
    for seq in seqs:
        t = int(rng.integers(frames[0], frames[1] + 1))
        n = int(rng.integers(0, 5)) if case_kind != "empty-gt" else 0
        tracks = object_tracks(h, w, t, n, rng)
        gt = paint(tracks)
        # The first frame defines the object count: make sure object n is in it.
        if n > 0 and not (gt[0] == n).any():
            gt[0, 0, 0] = n
        # Void pixels.
        if rng.random() < 0.5:
            void = blob(h, w, rng, 0, (0, 0)) & (rng.random((h, w)) < VOID_DENSITY[0])
            gt[:, void] = 255
        n_gt = int(gt[0][gt[0] != 255].max()) if (gt[0] != 255).any() else 0
        for k in range(t):
            name = f"{k:05d}"
            if plain_images:  # small files for committed fixtures; the evaluator only reads the size
                img = Image.new("RGB", (w, h), (128, 128, 128))
            else:
                img = Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8))
            os.makedirs(os.path.join(davis, "JPEGImages", "480p", seq), exist_ok=True)
            img.save(os.path.join(davis, "JPEGImages", "480p", seq, name + ".jpg"), quality=30)
            for folder in ["Annotations", "Annotations_unsupervised"]:
                save_png(gt[k], os.path.join(davis, folder, "480p", seq, name + ".png"))
        # Predictions. Semi-supervised: labels 1..n_gt with n_gt present in a scored frame.
        gt_clean = np.where(gt == 255, 0, gt)
        gt_clean[gt_clean > n_gt] = 0
        semi = perturb(gt_clean, rng, n_gt) if case_kind != "empty-pred" else np.zeros_like(gt_clean)
        if n_gt > 0 and t >= 3 and not (semi[1:-1] == n_gt).any():
            semi[1, -1, -1] = n_gt
        if n_gt == 0:
            semi[:] = 0
        # Unsupervised: up to 20 proposals, object labels permuted, extra proposals.
        n_prop = int(rng.integers(0, min(20, n_gt + 4) + 1))
        perm = np.concatenate([[0], rng.permutation(np.arange(1, 21))])
        unsup = perm[perturb(gt_clean, rng, n_gt)]
        unsup[unsup > n_prop] = 0
        for extra in range(1, n_prop + 1):
            if rng.random() < 0.3:
                fr = rng.integers(t)
                unsup[fr][blob(h, w, rng, fr, (1, 1))] = extra
        if case_kind == "empty-pred":
            unsup[:] = 0
        for k in range(t):
            name = f"{k:05d}"
            save_png(unsup[k], os.path.join(root, "results-unsupervised", seq, name + ".png"))
            if 0 < k < t - 1:
                save_png(semi[k], os.path.join(root, "results-semi-supervised", seq, name + ".png"))


def generate(args):
    rng = np.random.default_rng(args.seed)
    h, w = (int(x) for x in args.size.split("x"))
    frames = tuple(int(x) for x in args.frames.split("-"))
    kinds = ["normal", "normal", "normal", "empty-pred", "empty-gt"]
    if args.no_noise:
        NOISE_LEVELS[:] = [0.0]
        VOID_DENSITY[:] = [1.0]
    for c in range(args.cases):
        name = f"{args.prefix}{c:03d}"
        generate_case(os.path.join(args.out, name), rng, h, w, frames, kinds[c % len(kinds)], args.plain_images)


def run_official(davis_root, results, task, subset):
    sys.path.insert(0, REF)
    from davis2017.evaluation import DAVISEvaluation

    metrics = DAVISEvaluation(davis_root=davis_root, task=task, gt_set=subset).evaluate(results)
    J, F = metrics["J"], metrics["F"]
    names = list(J["M_per_object"].keys())
    per_object = {}
    for k, name in enumerate(names):
        per_object[name] = {
            "J-Mean": J["M"][k],
            "J-Recall": J["R"][k],
            "J-Decay": J["D"][k],
            "F-Mean": F["M"][k],
            "F-Recall": F["R"][k],
            "F-Decay": F["D"][k],
        }
    g = {
        "J&F-Mean": (np.mean(J["M"]) + np.mean(F["M"])) / 2.0,
        "J-Mean": np.mean(J["M"]),
        "J-Recall": np.mean(J["R"]),
        "J-Decay": np.mean(J["D"]),
        "F-Mean": np.mean(F["M"]),
        "F-Recall": np.mean(F["R"]),
        "F-Decay": np.mean(F["D"]),
    }
    return J, F, {"global": {k: float(v) for k, v in g.items()}, "per_object": per_object}


def write_csvs(J, F, csv_dir, subset):
    """The two CSV files, exactly as evaluation_method.py writes them."""
    import pandas as pd

    os.makedirs(csv_dir, exist_ok=True)
    g_measures = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
    final_mean = (np.mean(J["M"]) + np.mean(F["M"])) / 2.0
    g_res = np.array(
        [final_mean, np.mean(J["M"]), np.mean(J["R"]), np.mean(J["D"]), np.mean(F["M"]), np.mean(F["R"]),
         np.mean(F["D"])])
    g_res = np.reshape(g_res, [1, len(g_res)])
    table_g = pd.DataFrame(data=g_res, columns=g_measures)
    with open(os.path.join(csv_dir, f"global_results-{subset}.csv"), "w") as f:
        table_g.to_csv(f, index=False, float_format="%.3f")
    seq_names = list(J["M_per_object"].keys())
    seq_measures = ["Sequence", "J-Mean", "F-Mean"]
    J_per_object = [J["M_per_object"][x] for x in seq_names]
    F_per_object = [F["M_per_object"][x] for x in seq_names]
    table_seq = pd.DataFrame(data=list(zip(seq_names, J_per_object, F_per_object)), columns=seq_measures)
    with open(os.path.join(csv_dir, f"per-sequence_results-{subset}.csv"), "w") as f:
        table_seq.to_csv(f, index=False, float_format="%.3f")


def finite(value):
    """JSON has no NaN: the vidseg contract writes null there."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def evaluate(args):
    J, F, doc = run_official(args.davis_root, args.results, args.task, args.set)
    with open(args.out, "w") as f:
        json.dump(finite(doc), f, indent=1)
    if args.csv_dir:
        write_csvs(J, F, args.csv_dir, args.set)


def evaluate_all(args):
    for case in sorted(os.listdir(args.out)):
        root = os.path.join(args.out, case)
        for task in ["semi-supervised", "unsupervised"]:
            J, F, doc = run_official(os.path.join(root, "DAVIS"), os.path.join(root, f"results-{task}"), task, "val")
            with open(os.path.join(root, f"official-{task}.json"), "w") as f:
                json.dump(finite(doc), f, indent=1)
            write_csvs(J, F, os.path.join(root, f"csv-{task}"), "val")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("out")
    g.add_argument("--cases", type=int, default=10)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--size", default="48x64")
    g.add_argument("--frames", default="3-8")
    g.add_argument("--prefix", default="case", help="case folder name prefix")
    g.add_argument("--plain-images", action="store_true", help="uniform JPEGs (small files)")
    g.add_argument("--no-noise", action="store_true", help="no pixel noise in predictions, solid void regions (small PNGs)")
    e = sub.add_parser("evaluate")
    e.add_argument("--davis-root", required=True)
    e.add_argument("--results", required=True)
    e.add_argument("--task", required=True, choices=["semi-supervised", "unsupervised"])
    e.add_argument("--set", default="val")
    e.add_argument("--out", required=True)
    e.add_argument("--csv-dir")
    a = sub.add_parser("evaluate-all")
    a.add_argument("out")
    args = parser.parse_args()
    {"generate": generate, "evaluate": evaluate, "evaluate-all": evaluate_all}[args.command](args)


if __name__ == "__main__":
    main()
