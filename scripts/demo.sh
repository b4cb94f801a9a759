#!/usr/bin/env bash
# The seed pipeline on embedded defaults, end to end: `loom demo` puts MNIST into the embedded
# object store, runs examples/mnist/workflow.yaml (fetch, TFJob training with chief + worker + ps,
# export, serve, the mnist client) as one Argo workflow, and prints the error rate and how to
# open the UI. Run through `make demo`, which installs, fetches MNIST and builds first.
# State goes to $LOOM_HOME (default ~/.loom); extra flags go to `loom demo` (DEMO_FLAGS).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${BUILD:-build}/loom" demo ${DEMO_FLAGS:-}
