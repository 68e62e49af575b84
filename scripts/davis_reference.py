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
  # N random cases (void bands, predictions over void, missing objects included), both tasks, scored by
  # the official code and by `<cli> eval davis --json`; prints the largest absolute difference:
  davis_reference.py random --cases N --seed S [--cli "node dist/cli/main.js"]
  # Referring protocols: small MeViS-style, Ref-YouTube-VOS-style and Ref-DAVIS17 splits, and the
  # official numbers (MeViS tools/eval_mevis.py logic with the DAVIS metrics; Ref-DAVIS17: 4 runs of
  # the DAVIS unsupervised evaluation, averaged) in OUT/<kind>/official.json:
  davis_reference.py generate-refer OUT --seed S
  davis_reference.py evaluate-refer OUT
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
QUIRKS = [True]  # void bands, predictions over void, missing objects (--no-quirks: the older cases)


def border_band(labels, width):
    """Pixels within `width` of a change of label (4-neighbourhood), as DAVIS marks object borders void."""
    band = np.zeros(labels.shape, dtype=bool)
    for axis in (1, 2):
        for shift in range(1, width + 1):
            for sign in (1, -1):
                band |= labels != np.roll(labels, sign * shift, axis=axis)
    return band


def grown_into_void(gt, gt_clean):
    """GT labels whose objects spread into the neighbouring void pixels (a prediction that covers void)."""
    out = gt_clean.copy()
    void = gt == 255
    for shift in [(0, 1), (1, 0), (0, -1), (-1, 0), (0, 2), (2, 0), (0, -2), (-2, 0)]:
        rolled = np.roll(gt_clean, shift, axis=(1, 2))
        fill = void & (out == 0) & (rolled > 0)
        out[fill] = rolled[fill]
    return out


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


def unsupervised_prediction(gt_clean, n_gt, rng, h, w, case_kind="normal"):
    """Up to 20 proposals: object labels permuted, perturbed, extra proposals."""
    t = gt_clean.shape[0]
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
    return unsup


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
        # Void pixels: a (sparse) region, or, as in DAVIS, a band along the objects' borders.
        if rng.random() < 0.5:
            void = blob(h, w, rng, 0, (0, 0)) & (rng.random((h, w)) < VOID_DENSITY[0])
            gt[:, void] = 255
        if QUIRKS[0] and n > 0 and rng.random() < 0.5:
            gt[border_band(gt, int(rng.integers(1, 3)))] = 255
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
        # Quirk cases: predictions that also cover void pixels (objects grown into the void), and
        # semi-supervised predictions that lack the last objects (the reference pads them with empty masks).
        source = grown_into_void(gt, gt_clean) if QUIRKS[0] and rng.random() < 0.6 else gt_clean
        semi = perturb(source, rng, n_gt) if case_kind != "empty-pred" else np.zeros_like(gt_clean)
        if n_gt > 0 and t >= 3 and not (semi[1:-1] == n_gt).any():
            semi[1, -1, -1] = n_gt
        if QUIRKS[0] and n_gt > 0 and rng.random() < 0.35:
            semi[semi > int(rng.integers(0, n_gt))] = 0
        if n_gt == 0:
            semi[:] = 0
        unsup = unsupervised_prediction(source, n_gt, rng, h, w, case_kind)
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
    QUIRKS[0] = not args.no_quirks
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
    if isinstance(value, list):
        return [finite(v) for v in value]
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


def compare_random(args):
    """Random cases (quirks included), each task scored by the official code and by the vidseg CLI."""
    import shlex
    import subprocess
    import tempfile

    cli = shlex.split(args.cli)
    repo = os.path.join(HERE, "..")
    worst, worst_case, compared = 0.0, None, 0
    sizes = ["48x64", "40x40", "24x80"]
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(args.cases):
            rng = np.random.default_rng([args.seed, c])
            h, w = (int(x) for x in sizes[c % len(sizes)].split("x"))
            kind = ["normal", "normal", "normal", "empty-pred", "empty-gt"][c % 5]
            root = os.path.join(tmp, f"case{c:04d}")
            generate_case(root, rng, h, w, (3, 8), kind, plain_images=True)
            for task in ["semi-supervised", "unsupervised"]:
                results = os.path.join(root, f"results-{task}")
                _, _, official = run_official(os.path.join(root, "DAVIS"), results, task, "val")
                official = finite(official)
                run = subprocess.run(cli + ["eval", "davis", "--davis-root", os.path.join(root, "DAVIS"),
                                            "--results", results, "--task", task, "--json"],
                                     capture_output=True, text=True, cwd=repo, timeout=300)
                if run.returncode != 0:
                    print(f"case {c} {task}: CLI failed: {run.stderr.strip()}", file=sys.stderr)
                    sys.exit(1)
                ours = json.loads(run.stdout)
                assert list(ours["per_object"]) == list(official["per_object"]), f"case {c} {task}: objects differ"
                pairs = [(official["global"][k], ours["global"][k], k) for k in official["global"]]
                for name, stats in official["per_object"].items():
                    pairs += [(v, ours["per_object"][name][k], f"{name}.{k}") for k, v in stats.items()]
                for e, o, name in pairs:
                    if e is None or o is None:
                        assert e is None and o is None, f"case {c} {task} {name}: {e} vs {o}"
                        continue
                    if abs(e - o) > worst:
                        worst, worst_case = abs(e - o), (c, task, name, e, o)
                compared += 1
            if (c + 1) % 25 == 0:
                print(f"{c + 1} cases, max abs diff so far {worst!r}", file=sys.stderr)
    print(json.dumps({"cases": args.cases, "evaluations": compared, "max_abs_diff": worst, "worst": worst_case}))


# ------------------------------------------------------------------------------------------------
# Referring protocols


def binary_png(mask, path):
    save_png(mask.astype(np.uint8), path)


def generate_refer(args):
    """Three small referring splits under OUT: mevis/, refytvos/ (each with pred/), refdavis/."""
    QUIRKS[0] = not args.no_quirks
    sys.path.insert(0, os.path.join(REF, ".."))
    from pycocotools import mask as cocomask

    rng = np.random.default_rng(args.seed)
    h, w = 30, 40
    for kind in ["mevis", "refytvos"]:
        root = os.path.join(args.out, kind)
        videos, mask_dict, anno_counter = {}, {}, 0
        for v in range(4):
            vid = f"vid{v}"
            t = int(rng.integers(2, 6))
            frames = [f"{k * 5:05d}" for k in range(t)]
            n = int(rng.integers(1, 4))
            tracks = object_tracks(h, w, t, n, rng)
            labels = paint(tracks)
            anno_ids = []
            for k in range(n):
                anno_ids.append(str(anno_counter))
                obj = labels == k + 1
                mask_dict[str(anno_counter)] = [
                    None if not obj[f].any() and rng.random() < 0.5 else
                    {"size": [h, w], "counts": cocomask.encode(np.asfortranarray(obj[f].astype(np.uint8)))["counts"].decode()}
                    for f in range(t)
                ]
                anno_counter += 1
            expressions = {}
            for e in range(int(rng.integers(1, 4))):
                if kind == "mevis":
                    objs = sorted(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False).tolist())
                    expressions[str(e)] = {"exp": f"expression {e}", "obj_id": objs,
                                           "anno_id": [int(anno_ids[o]) for o in objs]}
                    gt = np.isin(labels, [o + 1 for o in objs])
                else:
                    o = int(rng.integers(0, n))
                    expressions[str(e)] = {"exp": f"expression {e}", "obj_id": str(o + 1)}
                    gt = labels == o + 1
                if v == 3:
                    continue  # this video gets no predictions: it scores 0
                pred = np.roll(gt, tuple(rng.integers(-2, 3, size=2)), axis=(1, 2))
                pred ^= rng.random(pred.shape) < rng.choice([0.0, 0.02])
                if rng.random() < 0.2:
                    pred[rng.integers(t)] = False
                for f in range(t):
                    binary_png(pred[f], os.path.join(root, "pred", vid, str(e), frames[f] + ".png"))
            videos[vid] = {"expressions": expressions, "frames": frames}
            if kind == "refytvos":
                for f in range(t):
                    save_png(labels[f], os.path.join(root, "Annotations", vid, frames[f] + ".png"))
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "meta_expressions.json"), "w") as fp:
            json.dump({"videos": videos}, fp)
        if kind == "mevis":
            with open(os.path.join(root, "mask_dict.json"), "w") as fp:
                json.dump(mask_dict, fp)
    # Ref-DAVIS17: one DAVIS root, 4 unsupervised result folders anno_0..anno_3.
    root = os.path.join(args.out, "refdavis")
    generate_case(root, rng, 32, 40, (3, 5), "normal", plain_images=True)
    import shutil

    shutil.rmtree(os.path.join(root, "results-semi-supervised"), ignore_errors=True)
    shutil.rmtree(os.path.join(root, "results-unsupervised"), ignore_errors=True)
    davis = os.path.join(root, "DAVIS")
    with open(os.path.join(davis, "ImageSets", "2017", "val.txt")) as fp:
        seqs = [x.strip() for x in fp]
    for k in range(4):
        for seq in seqs:
            names = sorted(os.listdir(os.path.join(davis, "Annotations_unsupervised", "480p", seq)))
            gt = np.stack([np.array(Image.open(os.path.join(davis, "Annotations_unsupervised", "480p", seq, n)))
                           for n in names])
            n_gt = int(gt[0][gt[0] != 255].max()) if (gt[0] != 255).any() else 0
            gt_clean = np.where(gt == 255, 0, gt)
            gt_clean[gt_clean > n_gt] = 0
            # One proposal per object (labels permuted, perturbed), sometimes an extra one.
            perm = np.concatenate([[0], 1 + rng.permutation(n_gt)]).astype(np.uint8)
            source = grown_into_void(gt, gt_clean) if QUIRKS[0] and rng.random() < 0.6 else gt_clean
            pred = perm[perturb(source, rng, n_gt)]
            if rng.random() < 0.5:
                fr = rng.integers(len(names))
                pred[fr][blob(32, 40, rng, fr, (1, 1))] = n_gt + 1
            for f, name in enumerate(names):
                save_png(pred[f], os.path.join(root, "results", f"anno_{k}", seq, name))


def evaluate_refer(args):
    """Official numbers for the splits made by generate-refer: OUT/<kind>/official.json."""
    import cv2

    sys.path.insert(0, REF)
    sys.path.insert(0, os.path.join(REF, ".."))
    from davis2017.metrics import db_eval_boundary, db_eval_iou
    from pycocotools import mask as cocomask

    for kind in ["mevis", "refytvos"]:
        root = os.path.join(args.out, kind)
        exp_dict = json.load(open(os.path.join(root, "meta_expressions.json")))["videos"]
        mask_dict = json.load(open(os.path.join(root, "mask_dict.json"))) if kind == "mevis" else None
        out = {}
        # As MeViS' tools/eval_mevis.py (one process, expressions in file order).
        for vid_name, vid in exp_dict.items():
            for exp in vid["expressions"]:
                exp_name = f"{vid_name}_{exp}"
                pred_dir = os.path.join(root, "pred")
                if not os.path.exists(f"{pred_dir}/{vid_name}"):
                    out[exp_name] = [0, 0]
                    continue
                pred_0 = cv2.imread(f"{pred_dir}/{vid_name}/{exp}/{vid['frames'][0]}.png", cv2.IMREAD_GRAYSCALE)
                h, w = pred_0.shape
                vid_len = len(vid["frames"])
                gt_masks = np.zeros((vid_len, h, w), dtype=np.uint8)
                pred_masks = np.zeros((vid_len, h, w), dtype=np.uint8)
                for frame_idx, frame_name in enumerate(vid["frames"]):
                    if kind == "mevis":
                        for anno_id in vid["expressions"][exp]["anno_id"]:
                            mask_rle = mask_dict[str(anno_id)][frame_idx]
                            if mask_rle:
                                gt_masks[frame_idx] += cocomask.decode(mask_rle)
                    else:
                        labels = np.array(Image.open(os.path.join(root, "Annotations", vid_name, frame_name + ".png")))
                        gt_masks[frame_idx] = labels == int(vid["expressions"][exp]["obj_id"])
                    pred_masks[frame_idx] = cv2.imread(f"{pred_dir}/{vid_name}/{exp}/{frame_name}.png",
                                                       cv2.IMREAD_GRAYSCALE)
                j = db_eval_iou(gt_masks, pred_masks).mean()
                f = db_eval_boundary(gt_masks, pred_masks).mean()
                out[exp_name] = [float(j), float(f)]
        js = [v[0] for v in out.values()]
        fs = [v[1] for v in out.values()]
        doc = {"J": float(np.mean(js)), "F": float(np.mean(fs)), "J&F": float((np.mean(js) + np.mean(fs)) / 2),
               "per_expression": {k: {"J": v[0], "F": v[1]} for k, v in out.items()}}
        with open(os.path.join(root, "official.json"), "w") as fp:
            json.dump(doc, fp, indent=1)
    # Ref-DAVIS17: each expression set with the unsupervised task, then the mean of the 4 runs.
    root = os.path.join(args.out, "refdavis")
    runs = []
    for k in range(4):
        _, _, doc = run_official(os.path.join(root, "DAVIS"), os.path.join(root, "results", f"anno_{k}"),
                                 "unsupervised", "val")
        runs.append(dict(name=f"anno_{k}", **doc))
    g = {stat: float(np.mean([r["global"][stat] for r in runs])) for stat in runs[0]["global"]}
    doc = {"J&F": g["J&F-Mean"], "J": g["J-Mean"], "F": g["F-Mean"], "global": g, "runs": runs}
    with open(os.path.join(root, "official.json"), "w") as fp:
        json.dump(finite(doc), fp, indent=1)


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
    g.add_argument("--no-quirks", action="store_true",
                   help="no void bands, no predictions over void, no missing objects (the generator before them)")
    e = sub.add_parser("evaluate")
    e.add_argument("--davis-root", required=True)
    e.add_argument("--results", required=True)
    e.add_argument("--task", required=True, choices=["semi-supervised", "unsupervised"])
    e.add_argument("--set", default="val")
    e.add_argument("--out", required=True)
    e.add_argument("--csv-dir")
    a = sub.add_parser("evaluate-all")
    a.add_argument("out")
    c = sub.add_parser("random")
    c.add_argument("--cases", type=int, default=100)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--cli", default="node dist/cli/main.js")
    r = sub.add_parser("generate-refer")
    r.add_argument("out")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--no-quirks", action="store_true", help="Ref-DAVIS17 without void bands or predictions over void")
    q = sub.add_parser("evaluate-refer")
    q.add_argument("out")
    args = parser.parse_args()
    commands = {"generate": generate, "evaluate": evaluate, "evaluate-all": evaluate_all, "random": compare_random,
                "generate-refer": generate_refer, "evaluate-refer": evaluate_refer}
    commands[args.command](args)


if __name__ == "__main__":
    main()
