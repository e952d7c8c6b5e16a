#!/usr/bin/env python3
"""Train the reference digits models for vai's deterministic runtime and export them to ONNX.

Run through train_digits.sh, which installs Debian's python3-torch and python3-onnx when missing.

Data: UCI optical digits (8x8, pixels 0..16), 1797 rows of 64 pixels then the label.
Split (fixed, documented in docs/design/runtime.md):
  row i (0-based, file order) is held out for testing when i % 5 == 0 (360 rows),
  every other row is training data (1437 rows); the first 512 training rows are the
  calibration set for int8 quantisation.
Outputs (in this directory):
  digits_test.csv, digits_calib.csv      the held-out and calibration rows, unchanged
  digits_mlp.onnx                        MLP 64-32-10 (Gemm, Relu, Gemm)
  digits_cnn.onnx                        CNN: Conv-BN-Relu-MaxPool-Conv-BN-Relu-AveragePool-Flatten-Gemm
  digits_tanh.onnx                       MLP 64-16-10 with tanh (exercises lookup-table activations)
  unsupported.onnx                       a model with LeakyRelu and Softmax, for error tests
and prints float32 held-out accuracy of each.
"""
import gzip
import os
import sys

import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared", "datasets", "digits.csv.gz")

rows = []
with gzip.open(src, "rt") as f:
    for line in f:
        line = line.strip()
        if line:
            rows.append(line)
assert len(rows) == 1797, len(rows)

test_rows = [r for i, r in enumerate(rows) if i % 5 == 0]
train_rows = [r for i, r in enumerate(rows) if i % 5 != 0]
calib_rows = train_rows[:512]


def tensors(rs):
    vals = [[float(v) for v in r.split(",")] for r in rs]
    x = torch.tensor([v[:64] for v in vals], dtype=torch.float32)
    y = torch.tensor([int(v[64]) for v in vals], dtype=torch.long)
    return x, y


def write(name, rs):
    with open(os.path.join(here, name), "w") as f:
        for r in rs:
            f.write(r + "\n")


write("digits_test.csv", test_rows)
write("digits_calib.csv", calib_rows)

xtr, ytr = tensors(train_rows)
xte, yte = tensors(test_rows)


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


def train(model, shape, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    n = xtr.shape[0]
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = lossf(model(xtr[idx].reshape(shape)), ytr[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xte.reshape(shape)).argmax(1) == yte).float().mean().item()
    return acc


def export(model, shape, name):
    dummy = torch.zeros([1] + shape[1:])
    # PRESERVE keeps BatchNormalization nodes in the graph (EVAL mode would fold them
    # in the exporter); the model is in eval mode, so they are inference-mode BNs.
    torch.onnx.export(model, dummy, os.path.join(here, name), input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=13, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)


mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
acc = train(mlp, [-1, 64], 60, 1e-3)
export(mlp, [-1, 64], "digits_mlp.onnx")
print(f"digits_mlp.onnx float32 held-out accuracy {acc:.4f}")

cnn = CNN()
acc = train(cnn, [-1, 1, 8, 8], 40, 2e-3)
export(cnn, [-1, 1, 8, 8], "digits_cnn.onnx")
print(f"digits_cnn.onnx float32 held-out accuracy {acc:.4f}")

tanh = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
acc = train(tanh, [-1, 64], 60, 1e-3)
export(tanh, [-1, 64], "digits_tanh.onnx")
print(f"digits_tanh.onnx float32 held-out accuracy {acc:.4f}")


class Unsupported(nn.Module):
    """A model with operators the runtime lacks (LeakyRelu, Softmax), for error tests."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 16)
        self.b = nn.Linear(16, 10)

    def forward(self, x):
        return torch.softmax(self.b(nn.functional.leaky_relu(self.a(x))), 1)


torch.onnx.export(Unsupported().eval(), torch.zeros(1, 64), os.path.join(here, "unsupported.onnx"),
                  input_names=["input"], output_names=["probs"], opset_version=13)
