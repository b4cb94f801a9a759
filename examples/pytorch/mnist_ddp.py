#!/usr/bin/python3
"""MNIST with PyTorch DistributedDataParallel over gloo, as a PyTorchJob runs it.

Each process reads its place in the job from the environment the Kubeflow Training Operator
sets (and `loom job run` sets the same way): MASTER_ADDR and MASTER_PORT (rank 0's rendezvous),
WORLD_SIZE and RANK. Every rank trains a 784-512-10 network (Adam, the learning rate decayed
linearly to 0) on its own shard of the 60,000 training images; DDP averages the gradients with
an all-reduce each step. Rank 0 evaluates on
the 10,000 test images and prints `Test accuracy: 0.9xxx`.

Data: the four MNIST IDX files (gzip or not) in --data_dir, else $LOOM_DATASET_DIR (where a
TrainJob's dataset initializer put them), else $LOOM_MNIST_DIR.

Checkpoints: with --checkpoint_dir, rank 0 saves the model and optimizer after every epoch
(written to a temporary file, then renamed) and every rank resumes from the newest one when it
starts, so a replica killed and restarted by restartPolicy OnFailure rejoins where the job was.
"""
import argparse
import gzip
import os
import struct
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(data_dir, base):
    """The IDX file `base` (or `base`.gz) in data_dir as a uint8 tensor of its dimensions."""
    for name, opener in ((base, open), (base + ".gz", gzip.open)):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            with opener(path, "rb") as f:
                data = f.read()
            break
    else:
        sys.exit("mnist_ddp.py: %s: no %s or %s.gz" % (data_dir, base, base))
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        sys.exit("mnist_ddp.py: %s: not an IDX file of unsigned bytes" % path)
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    count = 1
    for d in dims:
        count *= d
    if len(data) != 4 + 4 * ndim + count:
        sys.exit("mnist_ddp.py: %s: %d bytes, expected %d for dimensions %s"
                 % (path, len(data), 4 + 4 * ndim + count, dims))
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def env_int(name):
    value = os.environ.get(name)
    if value is None:
        sys.exit("mnist_ddp.py: %s is not set (a PyTorchJob's replicas get it from the operator)" % name)
    try:
        return int(value)
    except ValueError:
        sys.exit("mnist_ddp.py: %s=%r is not an integer" % (name, value))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=os.environ.get("LOOM_DATASET_DIR") or os.environ.get("LOOM_MNIST_DIR", ""))
    parser.add_argument("--checkpoint_dir", default="")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=128, help="per rank")
    parser.add_argument("--learning_rate", type=float, default=0.005)
    parser.add_argument("--hidden_units", type=int, default=512)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.data_dir:
        sys.exit("mnist_ddp.py: --data_dir: not given, and neither LOOM_DATASET_DIR nor LOOM_MNIST_DIR is set")

    rank, world_size = env_int("RANK"), env_int("WORLD_SIZE")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    print("rank %d of %d, master %s:%s" % (rank, world_size, os.environ.get("MASTER_ADDR"),
                                          os.environ.get("MASTER_PORT")), flush=True)
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world_size)

    images = read_idx(args.data_dir, FILES["train_images"]).reshape(-1, 784).float().div_(255)
    labels = read_idx(args.data_dir, FILES["train_labels"]).long()

    model = torch.nn.Sequential(torch.nn.Linear(784, args.hidden_units), torch.nn.ReLU(),
                                torch.nn.Linear(args.hidden_units, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.learning_rate)

    start_epoch = 0
    checkpoint = os.path.join(args.checkpoint_dir, "checkpoint.pt") if args.checkpoint_dir else ""
    if checkpoint and os.path.exists(checkpoint):
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"]
        print("rank %d: resumed from %s after epoch %d" % (rank, checkpoint, start_epoch), flush=True)

    for epoch in range(start_epoch, args.epochs):
        # The same permutation on every rank (seeded by epoch); each takes every world_size-th batch.
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed + epoch))
        batches = len(images) // (args.batch_size * world_size)
        ddp.train()
        for step in range(batches):
            for group in optimizer.param_groups:
                group["lr"] = args.learning_rate * (1 - (epoch * batches + step) / (args.epochs * batches))
            begin = (step * world_size + rank) * args.batch_size
            index = order[begin:begin + args.batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(ddp(images[index]), labels[index])
            loss.backward()
            optimizer.step()
        print("rank %d: epoch %d: loss %.4f" % (rank, epoch + 1, loss.item()), flush=True)
        if checkpoint and rank == 0:
            os.makedirs(args.checkpoint_dir, exist_ok=True)
            tmp = checkpoint + ".tmp"
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1}, tmp)
            os.replace(tmp, checkpoint)
        dist.barrier()  # no rank starts the next epoch before the checkpoint is in place

    if rank == 0:
        test_images = read_idx(args.data_dir, FILES["test_images"]).reshape(-1, 784).float().div_(255)
        test_labels = read_idx(args.data_dir, FILES["test_labels"]).long()
        model.eval()
        with torch.no_grad():
            correct = (model(test_images).argmax(1) == test_labels).sum().item()
        print("Test accuracy: %.4f" % (correct / len(test_labels)), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
