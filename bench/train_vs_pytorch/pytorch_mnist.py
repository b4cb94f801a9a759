#!/usr/bin/env python3
"""Trains Kubeflow's example MNIST model (mnist_replica.py) in PyTorch and prints one JSON line.

The PyTorch half of bench/train_vs_pytorch: the same model, data split, optimizer and batch
size as `loom train`, written the way a careful PyTorch user would write it, so the ratio
that run.sh prints compares the frameworks and not two different programs.

  784 -> 100 ReLU -> 10 logits, softmax cross-entropy (mean over the batch)
  init: truncated normal (redrawn beyond 2 stddev), stddev 1/28 hidden, 1/sqrt(100) output;
        zero biases
  Adam, learning rate 0.01, epsilon 1e-8; batch 100
  train on the 55,000 examples after the first 5,000 of the train files (those are the
  validation set, as TF's input_data.read_data_sets does); images / 255 as float32;
  reshuffled every epoch; test accuracy on the 10,000 t10k images.

Only the training loop is timed: the data is already in float32 tensors in memory, each
epoch's permutation is drawn before the loop, and a batch is an index into it.

Usage:
  pytorch_mnist.py --data_dir D [--threads N] [--epochs 1] [--seed S] [--batch_size 100]
Output (one line on stdout):
  {"framework":"pytorch","threads":N,"examples":...,"seconds":...,"examples_per_sec":...,
   "cpu_seconds":...,"examples_per_cpu_sec":...,"test_accuracy":...}
  (cpu_seconds: the CPU time of all the process's threads during the loop)
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

try:
    import numpy as np
except ImportError as _e:  # reported by main() as a one-line error
    np, _NUMPY_IMPORT_ERROR = None, _e

VALIDATION_SIZE = 5000
IMAGE_PIXELS = 28
HIDDEN_UNITS = 100
NUM_CLASSES = 10


class DataError(Exception):
    pass


def _open_idx(data_dir, name):
    """Opens DIR/name or DIR/name.gz (the uncompressed file wins); returns (path, bytes)."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            try:
                with opener(path, "rb") as f:
                    return path, f.read()
            except (OSError, EOFError) as e:
                raise DataError(f"{path}: cannot read: {e}") from e
    raise DataError(f"{os.path.join(data_dir, name)}: not found (nor {name}.gz)")


def read_idx(data_dir, name, expected_magic):
    """Reads one IDX file into a numpy uint8 array shaped by its header."""
    path, raw = _open_idx(data_dir, name)
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[0:4], "big")
    if magic != expected_magic:
        raise DataError(f"{path}: magic {magic:#010x}, expected {expected_magic:#010x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: {len(raw)} bytes, too short for a {ndim}-d IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    count = math.prod(dims)
    if len(raw) != header + count:
        raise DataError(
            f"{path}: {len(raw) - header} data bytes, header dims {dims} need {count}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_split(data_dir, prefix):
    images = read_idx(data_dir, f"{prefix}-images-idx3-ubyte", 0x00000803)
    labels = read_idx(data_dir, f"{prefix}-labels-idx1-ubyte", 0x00000801)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{data_dir}: {prefix} has {images.shape[0]} images but "
                        f"{labels.shape[0]} labels")
    if images.shape[1:] != (IMAGE_PIXELS, IMAGE_PIXELS):
        raise DataError(f"{data_dir}: {prefix} images are {images.shape[1:]}, expected 28x28")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{data_dir}: {prefix} labels hold {labels.max()}, expected 0..9")
    x = images.reshape(images.shape[0], IMAGE_PIXELS * IMAGE_PIXELS).astype(np.float32) / 255.0
    return x, labels.astype(np.int64)


def build_model(torch, seed):
    torch.manual_seed(seed)
    hidden = torch.nn.Linear(IMAGE_PIXELS * IMAGE_PIXELS, HIDDEN_UNITS)
    output = torch.nn.Linear(HIDDEN_UNITS, NUM_CLASSES)
    for layer, std in ((hidden, 1.0 / IMAGE_PIXELS), (output, 1.0 / math.sqrt(HIDDEN_UNITS))):
        torch.nn.init.trunc_normal_(layer.weight, mean=0.0, std=std, a=-2 * std, b=2 * std)
        torch.nn.init.zeros_(layer.bias)
    return torch.nn.Sequential(hidden, torch.nn.ReLU(), output)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--learning_rate", type=float, default=0.01)
    args = parser.parse_args(argv)
    for flag in ("threads", "epochs", "batch_size"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")

    try:
        if np is None:
            raise _NUMPY_IMPORT_ERROR
        import torch
    except ImportError as e:
        print(f"pytorch_mnist: {sys.executable}: {e}; install python3-torch and python3-numpy "
              f"(LOOM_WITH_TORCH=1 scripts/install_deps.sh) and run with /usr/bin/python3",
              file=sys.stderr)
        return 2

    try:
        train_x, train_y = load_split(args.data_dir, "train")
        test_x, test_y = load_split(args.data_dir, "t10k")
    except DataError as e:
        print(f"pytorch_mnist: {e}", file=sys.stderr)
        return 1
    if train_x.shape[0] <= VALIDATION_SIZE:
        print(f"pytorch_mnist: {args.data_dir}: {train_x.shape[0]} training images, need more "
              f"than the {VALIDATION_SIZE} validation ones", file=sys.stderr)
        return 1
    train_x, train_y = train_x[VALIDATION_SIZE:], train_y[VALIDATION_SIZE:]

    torch.set_num_threads(args.threads)
    x = torch.from_numpy(np.ascontiguousarray(train_x))
    y = torch.from_numpy(np.ascontiguousarray(train_y))
    n = x.shape[0]
    steps_per_epoch = n // args.batch_size  # the partial last batch is dropped
    model = build_model(torch, args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()  # softmax + mean negative log-likelihood
    generator = torch.Generator().manual_seed(args.seed)
    perms = [torch.randperm(n, generator=generator) for _ in range(args.epochs)]

    model.train()
    start = time.perf_counter()
    cpu_start = time.process_time()
    for perm in perms:
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    if not math.isfinite(loss.item()):
        print(f"pytorch_mnist: training diverged, last loss {loss.item()}", file=sys.stderr)
        return 1

    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(test_x)).argmax(dim=1).numpy()
    accuracy = float((predicted == test_y).mean())
    examples = args.epochs * steps_per_epoch * args.batch_size
    print(json.dumps({
        "framework": "pytorch",
        "threads": args.threads,
        "examples": examples,
        "seconds": round(seconds, 4),
        "examples_per_sec": round(examples / seconds, 1),
        "cpu_seconds": round(cpu_seconds, 4),
        "examples_per_cpu_sec": round(examples / cpu_seconds, 1),
        "test_accuracy": round(accuracy, 4),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
