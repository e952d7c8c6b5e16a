#!/usr/bin/env python3
"""Throughput of vai's deterministic int8 runtime vs the same models in float32 PyTorch (CPU).

For each digits model (MLP 64-32-10, CNN) and batch size (1, 256), runs vaibench (Go) and PyTorch
alternately, REPS times each for SECONDS seconds, on the same cores, and keeps each side's best run.
PyTorch's model is rebuilt from the ONNX file's initialisers (the very weights vai imported), in
float32 with torch.inference_mode and torch.set_num_threads(nproc). Inputs are prepared beforehand on
both sides (vai: int8, PyTorch: a float32 tensor), so both measure inference only.

Usage: bench/runtime/run.sh [--seconds S] [--reps N]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", ".."))
testdata = os.path.join(root, "runtime", "testdata")


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool2 = nn.AvgPool2d(2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool2(torch.relu(self.bn2(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


def torch_model(name):
    if name == "digits_mlp":
        m, shape = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), [64]
    else:
        m, shape = CNN(), [1, 8, 8]
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
               for t in onnx.load(os.path.join(testdata, name + ".onnx")).graph.initializer}
    missing, unexpected = m.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return m.eval().float(), shape


def torch_rate(model, shape, n, seconds):
    x = torch.rand([n] + shape, dtype=torch.float32) * 16
    with torch.inference_mode():
        end = time.perf_counter() + seconds / 4
        while time.perf_counter() < end:  # warm-up
            model(x)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(x)
            runs += 1
        return runs * n / (time.perf_counter() - start)


def vai_rate(binary, name, n, seconds):
    out = subprocess.run([binary, "-model", os.path.join(testdata, name + ".vaim"), "-batch", str(n),
                          "-time", f"{seconds}s"], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_s"]


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--vaibench", required=True)
    args = ap.parse_args()
    cores = os.cpu_count()
    torch.set_num_threads(cores)
    print(f"machine: nproc={cores}, CPU {cpu_model()}; torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"{args.reps} alternating runs of {args.seconds}s, best kept")
    rows = []
    for name in ["digits_mlp", "digits_cnn"]:
        model, shape = torch_model(name)
        for n in [1, 256]:
            v = t = 0.0
            for _ in range(args.reps):
                v = max(v, vai_rate(args.vaibench, name, n, args.seconds))
                t = max(t, torch_rate(model, shape, n, args.seconds))
            rows.append((name, n, v, t))
    goal = {1: 1.0, 256: 0.5}
    print()
    print("| model | batch | vai int8 (samples/s) | PyTorch fp32 (samples/s) | ratio vai/PyTorch | goal |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, v, t in rows:
        print(f"| {name} | {n} | {v:,.0f} | {t:,.0f} | {v / t:.2f}x | >= {goal[n]}x |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
