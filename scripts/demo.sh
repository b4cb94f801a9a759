#!/usr/bin/env bash
# The seed pipeline on embedded defaults, as far as Loom has it: train the seed's model,
# export it as a numbered version, evaluate the export on the test set.
# Run through `make demo`, which installs, fetches MNIST and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
loom=${BUILD:-build}/loom
work=${LOOM_DEMO_DIR:-/tmp/loom-demo}
rm -rf "$work"
mkdir -p "$work"

echo "== loom train: the seed's model (784-100-10, Adam 0.01 with cosine decay, batch 100), 10 epochs"
"$loom" train --train_dir "$work/train" --epochs 10 --learning_rate_decay cosine --threads "$(nproc)" \
  --export_dir "$work/models/mnist"
echo
echo "== loom eval: the exported model on the 10,000 test images"
"$loom" eval --model "$work/models/mnist"
echo
echo "Checkpoints and TensorBoard events: $work/train; the servable model: $work/models/mnist/1"
