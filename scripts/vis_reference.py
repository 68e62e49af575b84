#!/usr/bin/env python3
"""Reference figures for vidseg's YouTube-VIS / OVIS evaluator, computed by the official evaluators.

This script is ours; the official code it calls is not part of the repository. It expects a
`pycocotools` package holding the official `ytvos.py`, `ytvoseval.py` (youtubevos/cocoapi),
`oviseval.py` (qjy981010/cocoapi) and the compiled `_mask` extension (cocodataset/cocoapi, or the
identical `_mask.pyx` + `common/maskApi.c` of youtubevos/cocoapi: `python3 setup.py build_ext --inplace`
in its PythonAPI), in the folder named by $VIDSEG_REFS (default: <repo>/.refs). With NumPy >= 1.18 the
evaluators need two numeric no-op fixes: `int(...)` around linspace's float `num` in `Params`, and
`np.float` -> `float`. Use /usr/bin/python3 (numpy needed).

Commands:
  eval   --gt GT.json --results RESULTS.json [--ovis] [--per-category]
         prints {"stats": {...}, "per_category": [...]} as the official evaluator computes them.
  random --cases N [--seed S] [--cli "node dist/cli/main.js"] [--golden-dir DIR --goldens K]
         generates N random cases (null frames, empty masks, crowd GT, ties, >100 detections,
         polygon / uncompressed GT, categories without GT, results of categories that are not in the
         GT (accepted and never scored by the official evaluator), GT id 0, OVIS occlusion labels), evaluates
         each with the official evaluator and with `<cli> eval ytvis|ovis --json --per-category`,
         and prints the largest absolute difference. With --golden-dir, the first K small cases (and
         larger ones that reach the medium/large area ranges or have >100 detections, up to
         --golden-max-bytes) are saved there as golden files for test/ytvis-eval.test.ts, named
         <ytvis|ovis>-random-<tag><case>.json (--golden-tag); --golden-need-unknown saves only cases that
         hold results of a category not in the GT.
  rle    --out test/golden/rle.json [--seed S]
         golden values of the official mask API (encode, decode, strings, area, toBbox, merge, iou,
         frPoly, frBbox) for test/rle.test.ts.
"""
import argparse
import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.environ.get("VIDSEG_REFS", os.path.join(REPO, ".refs")))

from pycocotools import mask as maskUtils  # noqa: E402  (the official mask API)
from pycocotools.oviseval import OVISeval  # noqa: E402
from pycocotools.ytvos import YTVOS  # noqa: E402
from pycocotools.ytvoseval import YTVOSeval  # noqa: E402

YTVIS_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
OVIS_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AP_light", "AP_medium", "AP_heavy",
              "AR1", "AR10", "AR100", "ARs", "ARm", "ARl", "AR_light", "AR_medium", "AR_heavy"]


def official_eval(gt_file, results_file, ovis=False, per_category=False):
    """Runs the official evaluator; its progress prints go to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        gt = YTVOS(gt_file)
        dt = gt.loadRes(results_file)
        E = (OVISeval if ovis else YTVOSeval)(gt, dt, "segm")
        E.evaluate()
        E.accumulate()
        E.summarize()
    names = OVIS_NAMES if ovis else YTVIS_NAMES
    out = {"stats": {name: float(value) for name, value in zip(names, E.stats)}}
    if per_category:
        precision = E.eval["precision"]  # [T, R, K, A, (O,) M]
        p = E.params
        rows = []
        for k, cat_id in enumerate(p.catIds):
            row = {"id": int(cat_id), "name": gt.cats[cat_id]["name"]}
            for label, thr in (("AP", None), ("AP50", 0.5), ("AP75", 0.75)):
                s = precision if thr is None else precision[np.where(thr == p.iouThrs)[0]]
                s = s[:, :, k, 0, 0, -1] if ovis else s[:, :, k, 0, -1]
                row[label] = float(np.mean(s[s > -1])) if len(s[s > -1]) else -1.0
            rows.append(row)
        out["per_category"] = rows
    return out


# Random cases -----------------------------------------------------------------------------------

def fortran_counts(mask):
    """Uncompressed RLE counts of a binary mask (column-major runs, starting with a run of zeros)."""
    flat = mask.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    return [0] + runs if flat.size and flat[0] == 1 else runs


def compressed(mask):
    rle = maskUtils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def random_shape(rng, h, w):
    """A union of 1–3 ellipses or rectangles, occasionally partly outside the frame."""
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(-0.1, 1.1) * h, rng.uniform(-0.1, 1.1) * w
        ry, rx = rng.uniform(0.05, 0.5) * h, rng.uniform(0.05, 0.5) * w
        if rng.random() < 0.5:
            mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            mask |= (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
    return mask


def random_polygons(rng, h, w):
    parts = []
    for _ in range(rng.integers(1, 3)):
        n = int(rng.integers(3, 8))
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        r = rng.uniform(0.1, 0.5) * min(h, w)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        xy = []
        for a in angles:
            rr = r * rng.uniform(0.5, 1.0)
            xy += [round(float(cx + rr * np.cos(a)), 2), round(float(cy + rr * np.sin(a)), 2)]
        parts.append(xy)
    return parts


def perturb(rng, mask):
    """A detection mask near a GT mask: shifted, grown, shrunk, noisy, or identical."""
    kind = rng.integers(0, 5)
    if kind == 0:
        return mask.copy()
    if kind == 1:
        return np.roll(mask, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
    if kind == 2:
        grown = mask.copy()
        grown[1:, :] |= mask[:-1, :]
        grown[:, 1:] |= mask[:, :-1]
        return grown
    if kind == 3:
        shrunk = mask.copy()
        shrunk[1:, :] &= mask[:-1, :]
        shrunk[:, 1:] &= mask[:, :-1]
        return shrunk
    noise = rng.random(mask.shape) < 0.1
    return mask ^ noise


def random_case(rng, ovis, small):
    sizes = [(int(rng.integers(6, 30)), int(rng.integers(6, 30)))]
    if not small:
        sizes += [(int(rng.integers(100, 200)), int(rng.integers(120, 260))), (400, 600)]
    n_videos = int(rng.integers(1, 4)) if small else int(rng.integers(2, 9))
    video_ids = rng.choice(np.arange(1, 60), n_videos, replace=False).tolist()
    # Sometimes many categories: the summary means then run over more than 8192 values.
    n_cats = int(rng.integers(1, 6)) if rng.random() < 0.7 else int(rng.integers(9, 30))
    cat_ids = rng.choice(np.arange(1, 40), n_cats, replace=False).tolist()
    videos, annotations, results = [], [], []
    gt_ids = set()
    many_dets_video = video_ids[0] if (not small and rng.random() < 0.25) else None
    for vid in video_ids:
        h, w = sizes[int(rng.integers(0, len(sizes)))]
        if vid == many_dets_video:
            h, w = sizes[0]
        length = int(rng.integers(1, 6))
        videos.append({"id": int(vid), "width": w, "height": h, "length": length,
                       "file_names": [f"{vid}/{f:05d}.jpg" for f in range(length)]})
        gt_masks = []
        for _ in range(int(rng.integers(0, 6))):
            cat = int(cat_ids[int(rng.integers(0, max(1, n_cats - 1)))])  # the last category may lack GT
            ann_id = int(rng.integers(-3, 1000))
            if rng.random() < 0.05:
                ann_id = 0
            while ann_id in gt_ids:
                ann_id = int(rng.integers(1, 100000))
            gt_ids.add(ann_id)
            style = rng.choice(["compressed", "uncompressed", "polygon"])
            segs, areas, boxes, masks = [], [], [], []
            for f in range(length):
                r = rng.random()
                if r < 0.2:
                    segs.append(None if rng.random() < 0.8 else [])
                    areas.append(None)
                    boxes.append(None)
                    masks.append(None)
                    continue
                if style == "polygon":
                    poly = random_polygons(rng, h, w)
                    rle = maskUtils.merge(maskUtils.frPyObjects(poly, h, w))
                    mask = maskUtils.decode(rle).astype(bool)
                    segs.append(poly)
                else:
                    mask = random_shape(rng, h, w) if r > 0.3 else np.zeros((h, w), bool)
                    segs.append(compressed(mask) if style == "compressed"
                                else {"size": [h, w], "counts": fortran_counts(mask)})
                area = int(mask.sum())
                q = rng.random()
                if q < 0.05:
                    area = 0
                elif q < 0.1:
                    area = None
                elif q < 0.15:
                    area = float(rng.uniform(0, 2e4))
                areas.append(area)
                boxes.append([0, 0, w, h])
                masks.append(mask)
            ann = {"id": ann_id, "video_id": int(vid), "category_id": cat, "segmentations": segs,
                   "areas": areas, "bboxes": boxes, "iscrowd": int(rng.random() < 0.12),
                   "height": h, "width": w, "length": length}
            if ovis:
                labels = [None if rng.random() < 0.2 else str(rng.choice(
                    ["no_occlusion", "slight_occlusion", "severe_occlusion"])) for _ in range(length)]
                if all(l is None for l in labels):
                    labels[0] = "slight_occlusion"
                ann["occlusion"] = labels
            annotations.append(ann)
            gt_masks.append((cat, masks))
            if rng.random() < 0.15:  # an identical twin GT: equal IoUs, the last GT wins
                twin = json.loads(json.dumps(ann))
                twin_id = int(rng.integers(1, 100000))
                while twin_id in gt_ids:
                    twin_id = int(rng.integers(1, 100000))
                gt_ids.add(twin_id)
                twin["id"] = twin_id
                annotations.append(twin)
        n_dets = int(rng.integers(0, 14)) if vid != many_dets_video else int(rng.integers(101, 130))
        for _ in range(n_dets):
            segs = []
            if gt_masks and rng.random() < 0.75:
                cat, masks = gt_masks[int(rng.integers(0, len(gt_masks)))]
                if rng.random() < 0.15:
                    cat = int(cat_ids[int(rng.integers(0, n_cats))])
                for m in masks:
                    if m is None:
                        segs.append(None if rng.random() < 0.8 else compressed(random_shape(rng, h, w)))
                    elif rng.random() < 0.1:
                        segs.append(None)
                    else:
                        segs.append(compressed(perturb(rng, m)))
            else:
                cat = int(cat_ids[int(rng.integers(0, n_cats))])
                for _f in range(length):
                    q = rng.random()
                    segs.append(None if q < 0.2 else compressed(
                        random_shape(rng, h, w) if q > 0.3 else np.zeros((h, w), bool)))
            if rng.random() < 0.08:  # a category the GT does not have: accepted, never scored
                cat = int(rng.integers(40, 60))
            score = float(np.round(rng.random(), 1)) if rng.random() < 0.5 else float(rng.random())
            results.append({"video_id": int(vid), "category_id": cat, "score": score, "segmentations": segs})
    if not results:  # the official loadRes needs at least one result
        v = videos[0]
        results.append({"video_id": v["id"], "category_id": int(cat_ids[0]), "score": 0.5,
                        "segmentations": [compressed(random_shape(rng, v["height"], v["width"]))
                                          for _ in range(v["length"])]})
    order = rng.permutation(len(videos))
    dataset = {"info": {"description": "random case"}, "videos": [videos[i] for i in order],
               "categories": [{"id": int(c), "name": f"class{c}", "supercategory": "thing"} for c in cat_ids],
               "annotations": annotations}
    return dataset, results


def run_random(args):
    rng = np.random.default_rng(args.seed)
    cli = shlex.split(args.cli)
    worst, worst_case, compared = 0.0, None, 0
    saved = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(args.cases):
            ovis = case % 3 == 2
            small = case % 4 == 0
            dataset, results = random_case(rng, ovis, small)
            gt_file = os.path.join(tmp, "gt.json")
            res_file = os.path.join(tmp, "res.json")
            with open(gt_file, "w") as f:
                json.dump(dataset, f)
            with open(res_file, "w") as f:
                json.dump(results, f)
            expected = official_eval(gt_file, res_file, ovis, per_category=True)
            command = cli + ["eval", "ovis" if ovis else "ytvis", "--gt", gt_file, "--results", res_file,
                             "--json", "--per-category"]
            run = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
            if run.returncode != 0:
                print(f"case {case}: CLI failed: {run.stderr.strip()}", file=sys.stderr)
                sys.exit(1)
            ours = json.loads(run.stdout)
            pairs = [(expected["stats"][k], ours["stats"][k], k) for k in expected["stats"]]
            assert list(expected["stats"]) == list(ours["stats"]), "stat names or order differ"
            for e_row, o_row in zip(expected["per_category"], ours["per_category"]):
                assert e_row["id"] == o_row["id"]
                pairs += [(e_row[k], o_row[k], f"{k}[{e_row['id']}]") for k in ("AP", "AP50", "AP75")]
            for e, o, name in pairs:
                diff = abs(e - o)
                if diff > worst:
                    worst, worst_case = diff, (case, name, e, o)
            compared += 1
            if args.golden_dir and saved < args.goldens:
                golden = json.dumps({"ovis": ovis, "gt": dataset, "results": results, "expected": expected})
                stats = expected["stats"]
                # Small cases, plus a few larger ones that reach the medium/large ranges or >100 detections.
                interesting = stats["APm"] != -1 or stats["APl"] != -1 or len(results) > 100
                known = {c["id"] for c in dataset["categories"]}
                unknown = any(r["category_id"] not in known for r in results)
                if (len(golden) <= (20000 if small else args.golden_max_bytes) and (small or interesting)
                        and (unknown or not args.golden_need_unknown)):
                    name = f"{'ovis' if ovis else 'ytvis'}-random-{args.golden_tag}{case}.json"
                    path = os.path.join(args.golden_dir, name)
                    with open(path, "w") as f:
                        f.write(golden + "\n")
                    saved += 1
            if (case + 1) % 25 == 0:
                print(f"{case + 1} cases, max abs diff so far {worst!r}", file=sys.stderr)
    print(json.dumps({"cases": compared, "max_abs_diff": worst, "worst": worst_case}))


# RLE goldens ------------------------------------------------------------------------------------

def rle_goldens(rng):
    def s(rle):
        return rle["counts"].decode("ascii")

    masks = []
    shapes = [(1, 1), (1, 1), (3, 4), (5, 5), (7, 3), (12, 17), (30, 40), (64, 48)]
    for i, (h, w) in enumerate(shapes * 3):
        if i == 0:
            m = np.zeros((h, w), np.uint8)
        elif i == 1:
            m = np.ones((h, w), np.uint8)
        elif i % 3 == 0:
            m = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        else:
            m = random_shape(rng, h, w).astype(np.uint8)
        rle = maskUtils.encode(np.asfortranarray(m))
        masks.append({"h": h, "w": w, "mask": "".join(map(str, m.flatten().tolist())),
                      "counts": fortran_counts(m.astype(bool)), "string": s(rle),
                      "area": int(maskUtils.area(rle)), "bbox": maskUtils.toBbox(rle).tolist()})
    # Long runs: multi-character numbers and negative deltas in the string form.
    big = []
    for h, w in [(1000, 1000), (720, 1280), (1, 100000)]:
        m = np.zeros((h, w), np.uint8)
        for _ in range(4):
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            m[y0:y0 + int(rng.integers(1, h + 1)), x0:x0 + int(rng.integers(1, w // 2 + 2))] = 1
        rle = maskUtils.encode(np.asfortranarray(m))
        big.append({"h": h, "w": w, "counts": fortran_counts(m.astype(bool)), "string": s(rle),
                    "area": int(maskUtils.area(rle)), "bbox": maskUtils.toBbox(rle).tolist()})

    merges = []
    for _ in range(12):
        h, w = int(rng.integers(3, 20)), int(rng.integers(3, 20))
        rles = [maskUtils.encode(np.asfortranarray(random_shape(rng, h, w).astype(np.uint8)))
                for _ in range(int(rng.integers(2, 4)))]
        merges.append({"h": h, "w": w, "strings": [s(r) for r in rles],
                       "union": s(maskUtils.merge(rles, 0)), "intersection": s(maskUtils.merge(rles, 1))})

    ious = []
    for _ in range(6):
        h, w = int(rng.integers(5, 25)), int(rng.integers(5, 25))
        dts = [maskUtils.encode(np.asfortranarray(random_shape(rng, h, w).astype(np.uint8))) for _ in range(3)]
        gts = [maskUtils.encode(np.asfortranarray(random_shape(rng, h, w).astype(np.uint8))) for _ in range(2)]
        gts.append(maskUtils.encode(np.asfortranarray(np.zeros((h, w), np.uint8))))
        crowd = [int(rng.random() < 0.5) for _ in gts]
        ious.append({"h": h, "w": w, "dts": [s(r) for r in dts], "gts": [s(r) for r in gts], "iscrowd": crowd,
                     "iou": np.asarray(maskUtils.iou(dts, gts, crowd)).tolist()})

    polygons = []
    fixed = [
        (10, 10, [[1, 1, 8, 1, 8, 8, 1, 8]]),
        (10, 12, [[-3.2, -2.5, 14.7, 1.1, 6.3, 13.9]]),  # partly outside the image
        (20, 20, [[1, 1, 6, 1, 6, 6], [10, 10, 18, 10, 18, 18, 10, 18]]),  # several parts
        (8, 8, [[3, 3, 3, 3, 3, 3]]),  # degenerate: one point
        (8, 8, [[1, 1, 4, 4, 7, 7]]),  # degenerate: collinear
        (8, 8, [[0, 2.5, 7.99, 2.5, 4, 2.5]]),  # a horizontal line
        (16, 9, [[0.25, 0.75, 8.5, 0.2, 8.9, 15.5, 0.1, 15.9, 4.4, 7.7]]),
        (5, 5, [[-10, -10, 20, -10, 20, 20, -10, 20]]),  # covers the whole image
        (6, 6, [[100, 100, 120, 100, 110, 130]]),  # entirely outside
    ]
    for h, w, poly in fixed:
        polygons.append({"h": h, "w": w, "polygons": poly,
                         "parts": [s(r) for r in maskUtils.frPyObjects(poly, h, w)],
                         "merged": s(maskUtils.merge(maskUtils.frPyObjects(poly, h, w)))})
    for _ in range(10):
        h, w = int(rng.integers(5, 40)), int(rng.integers(5, 40))
        poly = random_polygons(rng, h, w)
        polygons.append({"h": h, "w": w, "polygons": poly,
                         "parts": [s(r) for r in maskUtils.frPyObjects(poly, h, w)],
                         "merged": s(maskUtils.merge(maskUtils.frPyObjects(poly, h, w)))})

    boxes = []
    for h, w, bb in [(10, 10, [2, 3, 4, 5]), (10, 10, [2.5, 3.25, 4.5, 0.6]), (10, 10, [-3, -3, 5, 20]),
                     (7, 9, [0, 0, 9, 7]), (7, 9, [4, 4, 0, 0]), (12, 5, [1.1, 2.9, 2.2, 7.7])]:
        boxes.append({"h": h, "w": w, "bbox": bb,
                      "string": s(maskUtils.frPyObjects(np.array([bb], np.double), h, w)[0])})

    return {"source": "official pycocotools mask API (cocodataset/cocoapi), via scripts/vis_reference.py rle",
            "masks": masks, "big": big, "merges": merges, "ious": ious, "polygons": polygons, "boxes": boxes}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval")
    ev.add_argument("--gt", required=True)
    ev.add_argument("--results", required=True)
    ev.add_argument("--ovis", action="store_true")
    ev.add_argument("--per-category", action="store_true")
    rnd = sub.add_parser("random")
    rnd.add_argument("--cases", type=int, default=100)
    rnd.add_argument("--seed", type=int, default=0)
    rnd.add_argument("--cli", default="node dist/cli/main.js")
    rnd.add_argument("--golden-dir")
    rnd.add_argument("--goldens", type=int, default=0)
    rnd.add_argument("--golden-max-bytes", type=int, default=60000)
    rnd.add_argument("--golden-tag", default="")
    rnd.add_argument("--golden-need-unknown", action="store_true")
    rl = sub.add_parser("rle")
    rl.add_argument("--out", required=True)
    rl.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.command == "rle":
        with open(args.out, "w") as f:
            json.dump(rle_goldens(np.random.default_rng(args.seed)), f)
            f.write("\n")
    elif args.command == "eval":
        print(json.dumps(official_eval(args.gt, args.results, args.ovis, args.per_category)))
    else:
        run_random(args)


if __name__ == "__main__":
    main()
