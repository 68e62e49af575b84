#!/usr/bin/python3
"""Golden values for the nn tests (test/golden/nn-*), computed with PyTorch / torchvision / scipy.

Run once with Debian's interpreter:  /usr/bin/python3 scripts/nn_golden.py
The TypeScript tests never need Python; they read the committed outputs.

ResNet parity: committing full ResNet weights would take tens of MB, so both sides generate the same
weights from an integer hash that JavaScript and numpy evaluate exactly (see test/nn-resnet.test.ts):
    u(i, name) = mix32(i, fnv1a(name)) / 2^32,   value = lo + (hi - lo) · u   (float64 → float32)
Only the (tiny) input formula and the C2–C5 outputs are committed.
"""
import json
import math
import struct
import sys

import numpy as np
import scipy.optimize
import torch
import torch.nn.functional as F
import torchvision

torch.set_num_threads(1)
OUT = "test/golden"
M32 = 0xFFFFFFFF


def fnv1a(name):
    h = 0x811C9DC5
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & M32
    return h


def hash_uniform(count, seed):
    """mix32 of (index, seed) → uniform [0, 1), exactly as hashUniform in the tests."""
    x = (np.arange(count, dtype=np.uint64) * np.uint64(0x9E3779B1) + np.uint64(seed)) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & np.uint64(M32)
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    return x.astype(np.float64) / 4294967296.0


def value_range(name, shape):
    """The [lo, hi) range a parameter is drawn from (must match resnetParityRange in the test)."""
    if name == "input":
        return -2.0, 2.0
    if name.endswith("running_var"):
        return 0.5, 1.5
    if name.endswith("running_mean") or name.endswith("bias"):
        return -0.1, 0.1
    if len(shape) == 1:  # BN weight
        return 0.5, 1.0
    fan_in = int(np.prod(shape[1:]))
    bound = math.sqrt(3.0 / fan_in)
    return -bound, bound


def hashed_tensor(name, shape):
    lo, hi = value_range(name, shape)
    u = hash_uniform(int(np.prod(shape)), fnv1a(name))
    return torch.from_numpy((lo + (hi - lo) * u).astype(np.float32).reshape(shape))


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        array, dtype = tensors[name]
        data = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)


def resnet_parity():
    tensors = {}
    for arch, (h, w) in (("resnet18", (64, 48)), ("resnet50", (32, 48))):
        model = getattr(torchvision.models, arch)()
        state = model.state_dict()
        for name, value in state.items():
            if name.endswith("num_batches_tracked"):
                continue
            state[name] = hashed_tensor(name, tuple(value.shape))
        model.load_state_dict(state)
        model.eval()
        x = hashed_tensor("input", (1, 3, h, w))
        with torch.no_grad():
            y = model.maxpool(model.relu(model.bn1(model.conv1(x))))
            for level, layer in enumerate([model.layer1, model.layer2, model.layer3, model.layer4], start=2):
                y = layer(y)
                # NHWC, the layout the TypeScript model produces.
                tensors[f"{arch}.res{level}"] = (y.permute(0, 2, 3, 1).contiguous().numpy(), "F32")
                print(arch, level, tuple(y.shape), "max |y|", float(y.abs().max()), "std", float(y.std()))
    write_safetensors(f"{OUT}/nn-resnet.safetensors", tensors)


def as_list(t):
    return t.detach().to(torch.float32).tolist() if isinstance(t, torch.Tensor) else t


def state_json(module):
    return {name: {"shape": list(v.shape), "values": v.detach().flatten().tolist()} for name, v in module.state_dict().items()}


# ---- Mask2Former's matching and mask losses (same formulas as mask2former/modeling/criterion.py and matcher.py)

def point_sample(inp, point_coords):
    """Mask2Former's point_sample: inp [N, C, H, W], coords [N, P, 2] in [0, 1] → [N, C, P]."""
    return F.grid_sample(inp, (2.0 * point_coords - 1.0).unsqueeze(2), align_corners=False).squeeze(3)


def sigmoid_ce_loss(inputs, targets, num_masks):
    loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    return loss.mean(1).sum() / num_masks


def dice_loss(inputs, targets, num_masks):
    inputs = inputs.sigmoid().flatten(1)
    numerator = 2 * (inputs * targets).sum(-1)
    denominator = inputs.sum(-1) + targets.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


def batch_dice_loss(inputs, targets):
    inputs = inputs.sigmoid().flatten(1)
    numerator = 2 * torch.einsum("nc,mc->nm", inputs, targets)
    denominator = inputs.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


def batch_sigmoid_ce_loss(inputs, targets):
    hw = inputs.shape[1]
    pos = F.binary_cross_entropy_with_logits(inputs, torch.ones_like(inputs), reduction="none")
    neg = F.binary_cross_entropy_with_logits(inputs, torch.zeros_like(inputs), reduction="none")
    return (torch.einsum("nc,mc->nm", pos, targets) + torch.einsum("nc,mc->nm", neg, 1 - targets)) / hw


# ---- Lovász losses (Berman, Triki, Blaschko 2018; semantics of their reference lovasz_losses.py)

def lovasz_grad(gt_sorted):
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.float().cumsum(0)
    union = gts + (1 - gt_sorted).float().cumsum(0)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_hinge_flat(logits, labels):
    if len(labels) == 0:
        return logits.sum() * 0.0
    signs = 2.0 * labels.float() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    return torch.dot(F.relu(errors_sorted), lovasz_grad(labels[perm]))


def flatten_binary(scores, labels, ignore):
    scores, labels = scores.reshape(-1), labels.reshape(-1)
    if ignore is None:
        return scores, labels
    valid = labels != ignore
    return scores[valid], labels[valid]


def lovasz_hinge(logits, labels, per_image, ignore=None):
    if per_image:
        losses = [lovasz_hinge_flat(*flatten_binary(l, y, ignore)) for l, y in zip(logits, labels)]
        return sum(losses) / len(losses)
    return lovasz_hinge_flat(*flatten_binary(logits, labels, ignore))


def lovasz_softmax_flat(probas, labels, classes):
    if probas.numel() == 0:
        return probas.sum() * 0.0
    losses = []
    for c in range(probas.shape[1]):
        fg = (labels == c).float()
        if classes == "present" and fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    return sum(losses) / len(losses) if losses else torch.tensor(0.0)


def lovasz_softmax(probas_nhwc, labels, classes, per_image, ignore=None):
    def flat(p, y):
        p, y = p.reshape(-1, p.shape[-1]), y.reshape(-1)
        if ignore is None:
            return p, y
        valid = y != ignore
        return p[valid], y[valid]

    if per_image:
        losses = [lovasz_softmax_flat(*flat(p, y), classes) for p, y in zip(probas_nhwc, labels)]
        return sum(losses) / len(losses)
    return lovasz_softmax_flat(*flat(probas_nhwc, labels), classes)


def losses_golden():
    g = torch.Generator().manual_seed(4)
    rand = lambda *shape: torch.randn(*shape, generator=g)
    out = {}

    logits, targets = rand(4, 5) * 2, (torch.rand(4, 5, generator=g) > 0.5).float()
    out["focal"] = {
        "logits": as_list(logits), "targets": as_list(targets),
        "none": as_list(torchvision.ops.sigmoid_focal_loss(logits, targets, reduction="none")),
        "mean": as_list(torchvision.ops.sigmoid_focal_loss(logits, targets, reduction="mean")),
        "sum_alpha_off_gamma_1_5": as_list(
            torchvision.ops.sigmoid_focal_loss(logits, targets, alpha=-1, gamma=1.5, reduction="sum")),
    }

    logits, labels = rand(2, 5, 4) * 2, torch.randint(0, 4, (2, 5), generator=g)
    weight = torch.tensor([1.0, 1.0, 1.0, 0.1])
    out["cross_entropy"] = {
        "logits": as_list(logits), "targets": labels.tolist(), "empty_weight": as_list(weight),
        "loss": as_list(F.cross_entropy(logits.transpose(1, 2), labels, weight)),
    }

    logits, targets = rand(3, 20) * 3, (torch.rand(3, 20, generator=g) > 0.4).float()
    out["mask"] = {
        "logits": as_list(logits), "targets": as_list(targets), "num_masks": 2.5,
        "sigmoid_ce": as_list(sigmoid_ce_loss(logits, targets, 2.5)),
        "dice": as_list(dice_loss(logits, targets, 2.5)),
    }

    logits, labels = rand(2, 6, 5) * 2, (torch.rand(2, 6, 5, generator=g) > 0.5).long()
    ignored = labels.clone()
    ignored[0, :2] = 255
    out["lovasz_hinge"] = {
        "logits": as_list(logits), "labels": labels.tolist(), "labels_ignore": ignored.tolist(),
        "per_image": as_list(lovasz_hinge(logits, labels, True)),
        "flat": as_list(lovasz_hinge(logits, labels, False)),
        "per_image_ignore": as_list(lovasz_hinge(logits, ignored, True, 255)),
    }

    probas = torch.softmax(rand(2, 4, 5, 4) * 2, dim=-1)
    labels = torch.randint(0, 3, (2, 4, 5), generator=g)  # class 3 never present
    labels[1][labels[1] == 2] = 0  # class 2 absent from image 1
    ignored = labels.clone()
    ignored[1, 0] = 255
    out["lovasz_softmax"] = {
        "probas": as_list(probas), "labels": labels.tolist(), "labels_ignore": ignored.tolist(),
        "present": as_list(lovasz_softmax(probas, labels, "present", False)),
        "all": as_list(lovasz_softmax(probas, labels, "all", False)),
        "present_per_image": as_list(lovasz_softmax(probas, labels, "present", True)),
        "present_per_image_ignore": as_list(lovasz_softmax(probas, ignored, "present", True, 255)),
    }
    with open(f"{OUT}/nn-losses.json", "w") as f:
        json.dump(out, f)


def matcher_golden():
    g = torch.Generator().manual_seed(11)
    num_queries, num_classes = 6, 3
    pred_logits = torch.randn(2, num_queries, num_classes + 1, generator=g) * 2
    pred_masks = torch.randn(2, num_queries, 8, 8, generator=g) * 3
    images = []
    for b, num_targets in enumerate((3, 2)):
        labels = torch.randint(0, num_classes, (num_targets,), generator=g)
        masks = (torch.rand(num_targets, 16, 16, generator=g) > 0.5).float()
        coords = torch.rand(1, 40, 2, generator=g)
        out_mask = point_sample(pred_masks[b][:, None], coords.repeat(num_queries, 1, 1)).squeeze(1)
        tgt_mask = point_sample(masks[:, None], coords.repeat(num_targets, 1, 1)).squeeze(1)
        cost_class = -pred_logits[b].softmax(-1)[:, labels]
        cost = 2.0 * cost_class + 5.0 * batch_sigmoid_ce_loss(out_mask, tgt_mask) + 5.0 * batch_dice_loss(out_mask, tgt_mask)
        rows, cols = scipy.optimize.linear_sum_assignment(cost.numpy())
        images.append({
            "labels": labels.tolist(), "masks": as_list(masks), "coords": as_list(coords[0]),
            "cost": as_list(cost), "query_indices": rows.tolist(), "target_indices": cols.tolist(),
        })
    with open(f"{OUT}/nn-matcher.json", "w") as f:
        json.dump({"pred_logits": as_list(pred_logits), "pred_masks": as_list(pred_masks), "images": images}, f)


if __name__ == "__main__":
    parts = sys.argv[1:] or ["resnet", "losses", "matcher", "blocks"]
    if "resnet" in parts:
        resnet_parity()
    if "losses" in parts:
        losses_golden()
    if "matcher" in parts:
        matcher_golden()
    if "blocks" in parts:
        blocks_golden()
