#!/usr/bin/python3
"""PyTorch reference figures for `npm run bench:nn` (bench/nn.ts): the same reference network
(shared/notes/runtime.md), forward and full training-step (forward, backward, AdamW) medians on one
CPU thread. Prints one JSON object: {"forward_ms", "train_step_ms", "forward_cpu_ms", "train_step_cpu_ms",
"params"} (medians of wall-clock and of process CPU time).

Run with Debian's interpreter: /usr/bin/python3 scripts/bench_nn_reference.py [--forward-iters N] [--train-iters N]
"""
import argparse
import json
import math
import os
import statistics
import time

# One compute thread. torch.set_num_threads(1) alone leaves the OpenMP team that started with torch
# spinning on the other core (process CPU time was 2× wall-clock); the variable must be set before import.
os.environ["OMP_NUM_THREADS"] = "1"

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

QUERIES, DIM, HEADS, FFN_DIM, INPUT_SIZE = 16, 128, 4, 704, 256
CONV_LAYERS = [(3, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1)]
MASK_FEATURE_LAYER = 3


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(DIM, DIM) for _ in range(4))

    def forward(self, query, key, value):
        head_dim = DIM // HEADS

        def heads(x):
            return x.reshape(x.shape[0], HEADS, head_dim).transpose(0, 1)

        q, k, v = heads(self.q(query)), heads(self.k(key)), heads(self.v(value))
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(head_dim), dim=-1)
        return self.o((weights @ v).transpose(0, 1).reshape(query.shape[0], DIM))


class ReferenceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, stride=s, padding=1) for i, o, s in CONV_LAYERS)
        self.mask_proj = nn.Conv2d(CONV_LAYERS[MASK_FEATURE_LAYER][1], DIM, 1)
        self.query_feat = nn.Parameter(torch.randn(QUERIES, DIM) * 0.1)
        self.query_pos = nn.Parameter(torch.randn(QUERIES, DIM) * 0.1)
        self.cross, self.self_attn = Attention(), Attention()
        self.ffn1, self.ffn2 = nn.Linear(DIM, FFN_DIM), nn.Linear(FFN_DIM, DIM)
        self.norm_cross, self.norm_self, self.norm_ffn = (nn.LayerNorm(DIM) for _ in range(3))
        self.mask_mlp1, self.mask_mlp2 = nn.Linear(DIM, DIM), nn.Linear(DIM, DIM)

    def forward(self, image):
        x = image
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i == MASK_FEATURE_LAYER:
                mask_source = x
        mask_features = self.mask_proj(mask_source).flatten(2)[0]  # [D, 64*64]
        memory = x.flatten(2)[0].t()  # [32*32, D]
        q, pos = self.query_feat, self.query_pos
        q = self.norm_cross(q + self.cross(q + pos, memory, memory))
        with_pos = q + pos
        q = self.norm_self(q + self.self_attn(with_pos, with_pos, q))
        q = self.norm_ffn(q + self.ffn2(F.relu(self.ffn1(q))))
        mask_embed = self.mask_mlp2(F.relu(self.mask_mlp1(q)))
        return mask_embed @ mask_features  # [QUERIES, 64*64]


def median_ms(fn, iterations, warmup=3):
    """Median wall-clock and median process CPU time (all threads), in ms."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(iterations):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - cpu_start) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--forward-iters", type=int, default=20)
    parser.add_argument("--train-iters", type=int, default=15)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = ReferenceNet()
    image = torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE)
    target = (torch.rand(QUERIES, (INPUT_SIZE // 4) ** 2) > 0.7).float()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)

    def forward():
        with torch.no_grad():
            net(image)

    def train_step():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(net(image), target)
        loss.backward()
        optimizer.step()

    forward_ms, forward_cpu_ms = median_ms(forward, args.forward_iters)
    train_step_ms, train_step_cpu_ms = median_ms(train_step, args.train_iters)
    print(
        json.dumps(
            {
                "forward_ms": forward_ms,
                "train_step_ms": train_step_ms,
                "forward_cpu_ms": forward_cpu_ms,
                "train_step_cpu_ms": train_step_cpu_ms,
                "params": sum(p.numel() for p in net.parameters()),
            }
        )
    )


if __name__ == "__main__":
    main()
