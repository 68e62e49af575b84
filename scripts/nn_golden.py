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


if __name__ == "__main__":
    parts = sys.argv[1:] or ["resnet"]
    if "resnet" in parts:
        resnet_parity()
