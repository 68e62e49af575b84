#!/usr/bin/python3
"""PyTorch reference figure for `npm run bench:runtime` (bench/runtime.ts): the online model's per-frame
network (models/segmenter.ts: ResNet backbone with GroupNorm, FPN pixel decoder, masked-attention
decoder, heads; the crop classifier is not part of it) built in PyTorch from the same safetensors model
file, timed on frames at the model input size. PyTorch only produces this reference figure; nothing
in vidseg runs it.

Prints one JSON object: {"fps", "ms", "cpu_ms", "threads", "torch"} (medians of wall-clock and of
process CPU time per frame) and, with --check <frame.bin> --check-out <logits.bin>, writes the class
logits of that frame (float32) so that the benchmark can show it is the same network (max abs diff).

Run with Debian's interpreter (apt-get install python3-torch):
  /usr/bin/python3 scripts/bench_runtime_reference.py --weights M --size 128 --threads 1 --frames 20
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

ARGS = argparse.ArgumentParser()
ARGS.add_argument("--weights", required=True)
ARGS.add_argument("--size", type=int, required=True)
ARGS.add_argument("--threads", type=int, default=1)
ARGS.add_argument("--frames", type=int, default=20)
ARGS.add_argument("--check")
ARGS.add_argument("--check-out")
args = ARGS.parse_args()

# The thread count must be fixed before torch starts its OpenMP team (see bench_nn_reference.py).
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    info = json.loads(header.pop("__metadata__")["info"])
    tensors = {}
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        array = np.frombuffer(data, dtype=np.float32, count=(end - start) // 4, offset=8 + length + start)
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return info, tensors


info, weights = read_safetensors(args.weights)
cfg = info["config"]["model"]
assert cfg["backbone"] == "resnetSmall" and cfg["backboneNorm"] == "GN", "reference built for resnetSmall + GN"


def w(name):
    return weights[name]


def conv_w(name):
    return w(name).permute(3, 2, 0, 1).contiguous()  # HWIO → OIHW


def backbone_groups(channels):
    return min(32, max(1, channels // 4))


def gn(x, prefix, groups):
    return F.group_norm(x, groups, w(prefix + ".weight"), w(prefix + ".bias"), 1e-5)


def basic_block(x, prefix, stride):
    out = F.conv2d(x, conv_w(prefix + ".conv1.weight"), stride=stride, padding=1)
    out = F.relu(gn(out, prefix + ".bn1", backbone_groups(out.shape[1])))
    out = F.conv2d(out, conv_w(prefix + ".conv2.weight"), padding=1)
    out = gn(out, prefix + ".bn2", backbone_groups(out.shape[1]))
    if prefix + ".downsample.0.weight" in weights:
        x = F.conv2d(x, conv_w(prefix + ".downsample.0.weight"), stride=stride)
        x = gn(x, prefix + ".downsample.1", backbone_groups(x.shape[1]))
    return F.relu(out + x)


def resnet(x):
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    y = F.conv2d(x, conv_w("backbone.conv1.weight"), stride=2, padding=3)
    y = F.relu(gn(y, "backbone.bn1", backbone_groups(y.shape[1])))
    y = F.max_pool2d(y, 3, 2, 1)
    features = []
    for stage in range(4):
        i = 0
        while f"backbone.layer{stage + 1}.{i}.conv1.weight" in weights:
            y = basic_block(y, f"backbone.layer{stage + 1}.{i}", 2 if i == 0 and stage > 0 else 1)
            i += 1
        features.append(y)
    return features


def conv_norm(x, prefix, padding, relu):
    y = F.conv2d(x, conv_w(prefix + ".weight"), padding=padding)
    y = gn(y, prefix + ".norm", cfg["normGroups"])
    return F.relu(y) if relu else y


def pixel_decoder(features):
    y = conv_norm(features[3], "pixel_decoder.layer_4", 1, True)
    levels = [y]
    for idx in (2, 1, 0):
        lateral = conv_norm(features[idx], f"pixel_decoder.adapter_{idx + 1}", 0, False)
        up = F.interpolate(y, size=lateral.shape[-2:], mode="nearest")
        y = conv_norm(lateral + up, f"pixel_decoder.layer_{idx + 1}", 1, True)
        if len(levels) < 3:
            levels.append(y)
    mask = F.conv2d(y, conv_w("pixel_decoder.mask_features.weight"), w("pixel_decoder.mask_features.bias"), padding=1)
    return mask, levels


def sine_position(h, width, d):
    num = d // 2
    y_embed = torch.arange(1, h + 1, dtype=torch.float32).view(h, 1).expand(h, width)
    x_embed = torch.arange(1, width + 1, dtype=torch.float32).view(1, width).expand(h, width)
    eps, scale = 1e-6, 2 * math.pi
    y_embed = (y_embed - 0.5) / (h + eps) * scale
    x_embed = (x_embed - 0.5) / (width + eps) * scale
    dim_t = 10000 ** (2 * (torch.arange(num) // 2) / num)
    py, px = y_embed[..., None] / dim_t, x_embed[..., None] / dim_t
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=3).flatten(2)
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=3).flatten(2)
    return torch.cat((py, px), dim=2).view(1, h * width, d)


def linear(x, prefix):
    return F.linear(x, w(prefix + ".weight"), w(prefix + ".bias"))


def mlp(x, prefix, layers):
    for i in range(layers):
        x = linear(x, f"{prefix}.layers.{i}")
        if i < layers - 1:
            x = F.relu(x)
    return x


def layer_norm(x, prefix):
    return F.layer_norm(x, (x.shape[-1],), w(prefix + ".weight"), w(prefix + ".bias"), 1e-5)


def attention(q, k, v, prefix, mask=None):
    out, _ = F.multi_head_attention_forward(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), cfg["hiddenDim"], cfg["numHeads"],
        w(prefix + ".in_proj_weight"), w(prefix + ".in_proj_bias"), None, None, False, 0.0,
        w(prefix + ".out_proj.weight"), w(prefix + ".out_proj.bias"), training=False, need_weights=False,
        attn_mask=mask,
    )
    return out.transpose(0, 1)


class Segmenter:
    def __init__(self, size):
        d, n = cfg["hiddenDim"], cfg["numQueries"]
        self.sizes = [(size // s, size // s) for s in (32, 16, 8)]
        self.pos = [sine_position(h, wd, d) for h, wd in self.sizes]
        self.level_embed = w("level_embed.weight")
        self.query_feat = w("query_feat.weight").view(1, n, d)
        self.query_pos = w("query_embed.weight").view(1, n, d)

    def heads(self, output, mask_features):
        normed = layer_norm(output, "decoder_norm")
        masks = torch.einsum("bqc,bchw->bqhw", mlp(normed, "mask_embed", 3), mask_features)
        return normed, masks

    def __call__(self, image):
        mask_features, levels = pixel_decoder(resnet(image))
        memory = [lvl.flatten(2).transpose(1, 2) + self.level_embed[i] for i, lvl in enumerate(levels)]
        output = self.query_feat
        normed, masks = self.heads(output, mask_features)
        for i in range(cfg["decoderLayers"]):
            level = i % 3
            h, wd = self.sizes[level]
            attn = F.interpolate(masks, size=(h, wd), mode="bilinear", align_corners=False)
            attn = (attn.sigmoid().flatten(2) < 0.5)
            attn[attn.all(-1)] = False
            attn = attn.repeat_interleave(cfg["numHeads"], dim=0)
            prefix = f"layers.{i}"
            q = output + self.query_pos
            out = attention(q, memory[level] + self.pos[level], memory[level], prefix + ".cross_attn.multihead_attn", attn)
            output = layer_norm(output + out, prefix + ".cross_attn.norm")
            q = output + self.query_pos
            output = layer_norm(output + attention(q, q, output, prefix + ".self_attn.self_attn"), prefix + ".self_attn.norm")
            hidden = linear(F.relu(linear(output, prefix + ".ffn.linear1")), prefix + ".ffn.linear2")
            output = layer_norm(output + hidden, prefix + ".ffn.norm")
            normed, masks = self.heads(output, mask_features)
        logits = linear(normed, "class_embed")
        embed = mlp(normed, "track_embed", 2) if "track_embed.layers.0.weight" in weights else normed
        return logits, masks, F.normalize(embed, dim=-1)


segmenter = Segmenter(args.size)
size = args.size
with torch.inference_mode():
    if args.check:
        frame = np.fromfile(args.check, dtype=np.uint8).reshape(1, size, size, 3)
        image = torch.from_numpy(frame.astype(np.float32) / 255).permute(0, 3, 1, 2).contiguous()
        logits, masks, embed = segmenter(image)
        np.concatenate([t.numpy().ravel() for t in (logits, masks, embed)]).astype(np.float32).tofile(args.check_out)
    generator = torch.Generator().manual_seed(1)
    frames = [torch.rand(1, 3, size, size, generator=generator) for _ in range(4)]
    for i in range(3):
        segmenter(frames[i % 4])  # warm-up
    walls, cpus = [], []
    for i in range(args.frames):
        start, cpu = time.perf_counter(), time.process_time()
        segmenter(frames[i % 4])
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
ms = statistics.median(walls) * 1000
json.dump(
    {"fps": 1000 / ms, "ms": ms, "cpu_ms": statistics.median(cpus) * 1000, "threads": args.threads, "torch": torch.__version__},
    sys.stdout,
)
print()
