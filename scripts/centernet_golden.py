#!/usr/bin/python3
"""Golden values for the pretrained CenterNet MobileNetV3 backbone (test/golden/centernet-mbv3.json).

Run once with Debian's interpreter:  /usr/bin/python3 scripts/centernet_golden.py
The TypeScript tests never need Python; they read the committed output.

An independent reference: this script does not use TensorFlow or TensorFlow.js. It reads the vendored
graph model (weights/backbones/centernet-mbv3/centernet.json + centernet.bin: the fp16 weights), and
evaluates the nodes that the four feature maps depend on with its own float64 numpy implementation of
the few TensorFlow ops they use (_FusedConv2D, FusedDepthwiseConv2dNative with SAME padding, Add, Mul,
Relu6, Mean). The input is a deterministic synthetic image (the same integer formula as the test),
0..255 valued, 64 × 96 pixels (not square, so that a height/width mix-up shows).
"""
import base64
import json
import os

import numpy as np

MODEL_DIR = "weights/backbones/centernet-mbv3"
OUT = "test/golden/centernet-mbv3.json"
# Must match CENTERNET_MBV3.outputs in src/nn/centernet-backbone.ts.
TAPS = [
    "tower_0/MobilenetV3/expanded_conv_3/expand/Relu",
    "tower_0/MobilenetV3/expanded_conv_5/expand/Relu",
    "tower_0/MobilenetV3/expanded_conv_11/add",
    "tower_0/MobilenetV3/expanded_conv_14/add",
]
HEIGHT, WIDTH = 64, 96


def synthetic_image(height, width):
    """Integer pixel values 0..255: v = (x·(3 + 2c) + y·(5 + c) + 7·((x·y) mod 11)) mod 256."""
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return (x * (3 + 2 * c) + y * (5 + c) + 7 * ((x * y) % 11)) % 256


def read_weights(model):
    data = open(os.path.join(MODEL_DIR, model["weightsManifest"][0]["paths"][0]), "rb").read()
    weights, offset = {}, 0
    for spec in model["weightsManifest"][0]["weights"]:
        count = int(np.prod(spec["shape"], dtype=np.int64))
        quant = spec.get("quantization", {}).get("dtype")
        if quant == "float16":
            values = np.frombuffer(data, np.float16, count, offset).astype(np.float64)
            offset += 2 * count
        elif spec["dtype"] == "int32" and quant is None:
            values = np.frombuffer(data, np.int32, count, offset).astype(np.int64)
            offset += 4 * count
        elif spec["dtype"] == "float32" and quant is None:
            values = np.frombuffer(data, np.float32, count, offset).astype(np.float64)
            offset += 4 * count
        else:
            raise ValueError(f"unsupported weight encoding {spec}")
        weights[spec["name"]] = values.reshape(spec["shape"])
    assert offset == len(data), (offset, len(data))
    return weights


def same_pad(x, kh, kw, stride):
    """TensorFlow SAME padding (the extra pixel goes after), NHWC."""
    _, h, w, _ = x.shape
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + kh - h, 0)
    pad_w = max((out_w - 1) * stride + kw - w, 0)
    padded = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    return padded, out_h, out_w


def patches(x, kh, kw, stride):
    """[N, out_h, out_w, kh, kw, C] windows of the SAME-padded input."""
    padded, out_h, out_w = same_pad(x, kh, kw, stride)
    rows = []
    for i in range(kh):
        cols = []
        for j in range(kw):
            cols.append(padded[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride, :])
        rows.append(np.stack(cols, axis=3))
    return np.stack(rows, axis=3)


def attr_strings(node, key):
    return [base64.b64decode(s).decode() for s in node["attr"][key]["list"].get("s", [])]


def fused(node, y, bias):
    ops = attr_strings(node, "fused_ops")
    assert ops[0] == "BiasAdd", ops
    y = y + bias
    for op in ops[1:]:
        if op == "Relu":
            y = np.maximum(y, 0)
        elif op == "Relu6":
            y = np.clip(y, 0, 6)
        else:
            raise ValueError(f"unsupported fused op {op}")
    return y


def evaluate(model, weights, image):
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
    cache = {}

    def value(name):
        name = name.split(":")[0]
        if name in cache:
            return cache[name]
        node = nodes[name]
        op = node["op"]
        inputs = [value(i) for i in node.get("input", [])]
        if op == "Const":
            out = weights[name]
        elif op == "Placeholder":
            out = image
        elif op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            x, kernel, bias = inputs
            strides = [int(s) for s in node["attr"]["strides"]["list"]["i"]]
            assert strides[1] == strides[2] and base64.b64decode(node["attr"]["padding"]["s"]) == b"SAME"
            assert all(int(d) == 1 for d in node["attr"]["dilations"]["list"]["i"])
            kh, kw = kernel.shape[:2]
            windows = patches(x, kh, kw, strides[1])
            if op == "_FusedConv2D":  # kernel [kh, kw, in, out]
                y = np.einsum("nhwijc,ijco->nhwo", windows, kernel)
            else:  # kernel [kh, kw, in, multiplier]
                assert kernel.shape[3] == 1
                y = np.einsum("nhwijc,ijc->nhwc", windows, kernel[..., 0])
            out = fused(node, y, bias)
        elif op == "Add":
            out = inputs[0] + inputs[1]
        elif op == "Mul":
            out = inputs[0] * inputs[1]
        elif op == "Relu6":
            out = np.clip(inputs[0], 0, 6)
        elif op == "Mean":
            axes = tuple(int(a) for a in np.atleast_1d(inputs[1]))
            out = inputs[0].mean(axis=axes, keepdims=node["attr"]["keep_dims"]["b"])
        else:
            raise ValueError(f"unsupported op {op} ({name})")
        cache[name] = out
        return out

    return [value(t) for t in TAPS]


def central_slice(m):
    _, h, w, _ = m.shape
    return m[0, h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1, 0:8]


def main():
    model = json.load(open(os.path.join(MODEL_DIR, "centernet.json")))
    weights = read_weights(model)
    pixels = synthetic_image(HEIGHT, WIDTH)
    # The backbone takes RGB in 0..1 and multiplies by 255 in float32, as the TypeScript side does.
    image = ((pixels.astype(np.float32) / np.float32(255)) * np.float32(255)).astype(np.float64)[None]
    maps = evaluate(model, weights, image)
    golden = {
        "input": {"height": HEIGHT, "width": WIDTH, "formula": synthetic_image.__doc__},
        "maps": [
            {
                "name": name,
                "shape": list(m.shape),
                "mean": float(m.mean()),
                "mean_abs": float(np.abs(m).mean()),
                "channel_means": [float(v) for v in m.mean(axis=(0, 1, 2))],
                # The central 2 × 2 pixels, first 8 channels: [0, h/2-1 : h/2+1, w/2-1 : w/2+1, 0:8].
                "slice": [float(v) for v in central_slice(m).reshape(-1)],
            }
            for name, m in zip(TAPS, maps)
        ],
    }
    with open(OUT, "w") as f:
        json.dump(golden, f)
        f.write("\n")
    for entry in golden["maps"]:
        print(entry["name"], entry["shape"], f"mean {entry['mean']:.6f} mean|.| {entry['mean_abs']:.6f}")


if __name__ == "__main__":
    main()
