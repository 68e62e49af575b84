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
    tensors, keys = {}, {}
    for arch, (h, w) in (("resnet18", (64, 48)), ("resnet50", (32, 48))):
        model = getattr(torchvision.models, arch)()
        state = model.state_dict()
        keys[arch] = [[name, list(value.shape)] for name, value in state.items()]
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
    with open(f"{OUT}/nn-resnet-keys.json", "w") as f:
        json.dump(keys, f)


def short(value):
    """9 significant digits: enough to restore a float32 exactly, half the size of repr(float)."""
    if isinstance(value, list):
        return [short(v) for v in value]
    return float("%.9g" % value) if isinstance(value, float) else value


def as_list(t):
    return short(t.detach().to(torch.float32).tolist()) if isinstance(t, torch.Tensor) else t


def state_json(module):
    return {name: {"shape": list(v.shape), "values": as_list(v.flatten())} for name, v in module.state_dict().items()}


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


# ---- Mask2Former's transformer decoder layers (post-norm), sequence-first as in the original code

class CrossAttentionLayer(torch.nn.Module):
    def __init__(self, d_model, nhead):
        super().__init__()
        self.multihead_attn = torch.nn.MultiheadAttention(d_model, nhead)
        self.norm = torch.nn.LayerNorm(d_model)

    def forward(self, tgt, memory, memory_mask, pos, query_pos):
        tgt2 = self.multihead_attn(query=tgt + query_pos, key=memory + pos, value=memory, attn_mask=memory_mask)[0]
        return self.norm(tgt + tgt2)


class SelfAttentionLayer(torch.nn.Module):
    def __init__(self, d_model, nhead):
        super().__init__()
        self.self_attn = torch.nn.MultiheadAttention(d_model, nhead)
        self.norm = torch.nn.LayerNorm(d_model)

    def forward(self, tgt, query_pos):
        q = k = tgt + query_pos
        return self.norm(tgt + self.self_attn(q, k, value=tgt)[0])


class FFNLayer(torch.nn.Module):
    def __init__(self, d_model, dim_feedforward):
        super().__init__()
        self.linear1 = torch.nn.Linear(d_model, dim_feedforward)
        self.linear2 = torch.nn.Linear(dim_feedforward, d_model)
        self.norm = torch.nn.LayerNorm(d_model)

    def forward(self, tgt):
        return self.norm(tgt + self.linear2(F.relu(self.linear1(tgt))))


class DecoderLayer(torch.nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward):
        super().__init__()
        self.cross_attn = CrossAttentionLayer(d_model, nhead)
        self.self_attn = SelfAttentionLayer(d_model, nhead)
        self.ffn = FFNLayer(d_model, dim_feedforward)


def position_embedding_sine(h, w, num_pos_feats, temperature=10000, scale=2 * math.pi):
    """Mask2Former's PositionEmbeddingSine(normalize=True) without padding; returns [1, C, H, W]."""
    not_mask = torch.ones(1, h, w)
    y_embed = not_mask.cumsum(1, dtype=torch.float32)
    x_embed = not_mask.cumsum(2, dtype=torch.float32)
    eps = 1e-6
    y_embed = (y_embed - 0.5) / (y_embed[:, -1:, :] + eps) * scale
    x_embed = (x_embed - 0.5) / (x_embed[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
    dim_t = temperature ** (2 * (dim_t // 2) / num_pos_feats)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class Conv2dNorm(torch.nn.Module):
    """detectron2's Conv2d(norm=GN, activation) as used by MaskFormer's BasePixelDecoder."""

    def __init__(self, cin, cout, k, groups=None, relu=False):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, k, padding=k // 2, bias=groups is None)
        self.norm = torch.nn.GroupNorm(groups, cout) if groups else None
        self.relu = relu

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x) if self.relu else x

    def named_state(self, prefix):
        out = {f"{prefix}.weight": self.conv.weight}
        if self.conv.bias is not None:
            out[f"{prefix}.bias"] = self.conv.bias
        if self.norm is not None:
            out[f"{prefix}.norm.weight"] = self.norm.weight
            out[f"{prefix}.norm.bias"] = self.norm.bias
        return out


def blocks_golden():
    torch.manual_seed(5)
    out = {}
    # Multi-head attention, batch-first in our layout: B=2, Lq=3, Lk=5, E=8, 2 heads.
    mha = torch.nn.MultiheadAttention(8, 2)
    with torch.no_grad():
        mha.in_proj_bias.uniform_(-0.3, 0.3)
        mha.out_proj.bias.uniform_(-0.3, 0.3)
    q, k, v = torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    attn_mask = torch.rand(2, 3, 5) > 0.6
    attn_mask[:, :, 0] = False  # no fully masked rows
    key_padding = torch.zeros(2, 5, dtype=torch.bool)
    key_padding[1, 3:] = True
    float_mask = torch.randn(3, 5)
    with torch.no_grad():
        plain, weights = mha(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1))
        masked = mha(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                     attn_mask=attn_mask.repeat_interleave(2, dim=0), key_padding_mask=key_padding)[0]
        additive = mha(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), attn_mask=float_mask)[0]
    out["mha"] = {
        "state": state_json(mha), "query": as_list(q), "key": as_list(k), "value": as_list(v),
        "attn_mask": attn_mask.tolist(), "key_padding_mask": key_padding.tolist(), "float_mask": as_list(float_mask),
        "plain": as_list(plain.transpose(0, 1)), "weights": as_list(weights),
        "masked": as_list(masked.transpose(0, 1)), "additive": as_list(additive.transpose(0, 1)),
    }

    # Decoder layer: queries [Q=4, B=2, E=8], memory of a 3×5 level, masked cross-attention.
    layer = DecoderLayer(8, 2, 16)
    for p in layer.parameters():
        with torch.no_grad():
            p.add_(torch.randn_like(p) * 0.1)
    tgt, query_pos = torch.randn(4, 2, 8), torch.randn(4, 1, 8).repeat(1, 2, 1)
    memory = torch.randn(15, 2, 8)
    pos = position_embedding_sine(3, 5, 4).flatten(2).permute(2, 0, 1).repeat(1, 2, 1)
    mask_logits = torch.randn(2, 4, 2, 3) * 2
    mask_logits[0, 1] = -5  # a query that masks everything: must be unmasked
    attn = (F.interpolate(mask_logits, size=(3, 5), mode="bilinear", align_corners=False).sigmoid().flatten(2) < 0.5)
    attn[torch.where(attn.sum(-1) == attn.shape[-1])] = False
    with torch.no_grad():
        y = layer.cross_attn(tgt, memory, attn.repeat_interleave(2, dim=0), pos, query_pos)
        y = layer.self_attn(y, query_pos)
        y = layer.ffn(y)
    out["decoder_layer"] = {
        "state": state_json(layer), "queries": as_list(tgt.transpose(0, 1)), "query_pos": as_list(query_pos[:, :1].transpose(0, 1)),
        "memory": as_list(memory.transpose(0, 1)), "mask_logits": as_list(mask_logits),
        "attn_mask": attn.tolist(), "output": as_list(y.transpose(0, 1)),
    }
    out["position"] = {"height": 3, "width": 5, "num_pos_feats": 4,
                       "nhwc": as_list(position_embedding_sine(3, 5, 4).permute(0, 2, 3, 1))}

    # Resize and point sampling.
    x = torch.randn(1, 2, 4, 3)
    out["resize"] = {"input_nhwc": as_list(x.permute(0, 2, 3, 1))}
    for name, size, mode, align in (("up_false", (7, 5), "bilinear", False), ("up_true", (7, 5), "bilinear", True),
                                    ("down_false", (3, 2), "bilinear", False), ("down_true", (3, 2), "bilinear", True),
                                    ("nearest_up", (8, 6), "nearest", None), ("nearest_odd", (5, 7), "nearest", None)):
        y = F.interpolate(x, size=size, mode=mode, align_corners=align)
        out["resize"][name] = {"size": list(size), "nhwc": as_list(y.permute(0, 2, 3, 1))}
    feats = torch.randn(2, 3, 5, 6)
    coords = torch.rand(2, 9, 2) * 1.2 - 0.1  # some points outside [0, 1]: zeros padding
    coords[0, 0] = torch.tensor([0.0, 0.0])
    coords[0, 1] = torch.tensor([1.0, 1.0])
    out["point_sample"] = {"features_nhwc": as_list(feats.permute(0, 2, 3, 1)), "coords": as_list(coords),
                           "output": as_list(point_sample(feats, coords).transpose(1, 2))}

    # FPN pixel decoder (MaskFormer BasePixelDecoder): in [4, 6, 8, 10], conv_dim 8, mask_dim 6, GN(2).
    in_ch, conv_dim, mask_dim = [4, 6, 8, 10], 8, 6
    adapters = [Conv2dNorm(c, conv_dim, 1, groups=2) for c in in_ch[:3]]
    layers = [Conv2dNorm(conv_dim, conv_dim, 3, groups=2, relu=True) for _ in range(3)]
    layers.append(Conv2dNorm(in_ch[3], conv_dim, 3, groups=2, relu=True))
    mask_features = Conv2dNorm(conv_dim, mask_dim, 3)
    for m in adapters + layers:
        with torch.no_grad():
            m.norm.weight.uniform_(0.5, 1.5)
            m.norm.bias.uniform_(-0.2, 0.2)
    feats = [torch.randn(1, c, s, s + 1) for c, s in zip(in_ch, (8, 4, 2, 1))]
    with torch.no_grad():
        y = layers[3](feats[3])
        multi = [y]
        for idx in (2, 1, 0):
            cur = adapters[idx](feats[idx])
            y = layers[idx](cur + F.interpolate(y, size=cur.shape[-2:], mode="nearest"))
            if len(multi) < 3:
                multi.append(y)
        mask = mask_features(y)
    state = {}
    for i, m in enumerate(adapters):
        state.update(m.named_state(f"adapter_{i + 1}"))
    for i, m in enumerate(layers):
        state.update(m.named_state(f"layer_{i + 1}"))
    state.update(mask_features.named_state("mask_features"))
    out["pixel_decoder"] = {
        "state": {n: {"shape": list(v.shape), "values": as_list(v.flatten())} for n, v in state.items()},
        "features_nhwc": [as_list(f.permute(0, 2, 3, 1)) for f in feats],
        "mask_features": as_list(mask.permute(0, 2, 3, 1)),
        "multi_scale": [as_list(m.permute(0, 2, 3, 1)) for m in multi],
    }
    with open(f"{OUT}/nn-blocks.json", "w") as f:
        json.dump(out, f)


def dtypes_golden():
    """A safetensors file in every dtype the loader accepts, with metadata (values listed in the test)."""
    bf16 = (np.array([1.0, -3.140625, 2.0 ** 100], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    write_safetensors_meta(f"{OUT}/nn-dtypes.safetensors", {
        "f32": (np.array([[1.5, -2.0], [0.25, 3.0e-5]], dtype=np.float32), "F32"),
        "f64": (np.array([0.1, -1e10], dtype=np.float64), "F64"),
        "f16": (np.array([1.5, -2.25, 65504.0, 2.0 ** -24], dtype=np.float16), "F16"),
        "bf16": (bf16, "BF16"),
        "i64": (np.array([[-5], [2 ** 31 - 1]], dtype=np.int64), "I64"),
        "i32": (np.array([7, -8, 9], dtype=np.int32), "I32"),
        "i8": (np.array([-128, 127], dtype=np.int8), "I8"),
        "u8": (np.array([0, 255], dtype=np.uint8), "U8"),
        "bool": (np.array([True, False, True]), "BOOL"),
        "empty": (np.zeros((0, 3), dtype=np.float32), "F32"),
    }, {"format": "pt", "note": "vidseg test"})


def write_safetensors_meta(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        array, dtype = tensors[name]
        data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))  # deliberately unpadded: readers must not assume alignment
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    parts = sys.argv[1:] or ["resnet", "losses", "matcher", "blocks", "dtypes"]
    if "resnet" in parts:
        resnet_parity()
    if "losses" in parts:
        losses_golden()
    if "matcher" in parts:
        matcher_golden()
    if "blocks" in parts:
        blocks_golden()
    if "dtypes" in parts:
        dtypes_golden()
