#!/usr/bin/env bash
# The browser tests of the web UI (CTest: ui_browser_test, label integration).
#   run_browser_tests.sh <loom binary> <output dir>
# Prepares real data in a fresh LOOM_HOME (two short `loom train` runs with event files, the
# model exported and served by `loom serve`, a one-replica TFJob), starts `loom server`, then
# drives Debian's chromium through playwright-core (browser_test.mjs). playwright-core comes
# from npm (package-lock.json), installed under the output dir; no browser is downloaded.
# Screenshots: <output dir>/screenshots/.
set -euo pipefail
loom=$(realpath "$1")
out=$(realpath -m "$2")
here=$(cd "$(dirname "$0")" && pwd)
mnist=${LOOM_MNIST_DIR:-$here/../../data/mnist}

"$here/install_playwright.sh" "$out/node"
# The scripts go beside node_modules, where their imports resolve (renamed into place: the
# browser tests may run at the same time).
for f in "$here"/*.mjs; do cp "$f" "$out/node/.${f##*/}.$$" && mv -f "$out/node/.${f##*/}.$$" "$out/node/${f##*/}"; done

home=$(mktemp -d "${TMPDIR:-/tmp}/loom_ui_test_XXXXXX")
export LOOM_HOME=$home
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$home"
}
trap cleanup EXIT

# Wait until `file` holds a line matching `pattern` (a server announcing its port), or fail.
wait_for() {
  local file=$1 pattern=$2 pid=$3
  for _ in $(seq 1 600); do
    if grep -q "$pattern" "$file" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "process $pid exited:" >&2; cat "$file" >&2; return 1; fi
    sleep 0.1
  done
  echo "timed out waiting for \"$pattern\" in $file" >&2
  return 1
}

echo "== training two runs (event files under $home/runs)"
"$loom" train --data_dir "$mnist" --train_dir "$home/runs/mnist-lr0.01" --train_steps 400 \
  --save_summaries_steps 10 --export_dir "$home/models/mnist" > "$home/train1.log" 2>&1
"$loom" train --data_dir "$mnist" --train_dir "$home/runs/mnist-lr0.001" --train_steps 300 \
  --learning_rate 0.001 --save_summaries_steps 10 > "$home/train2.log" 2>&1

echo "== a one-replica TFJob"
cat > "$home/tfjob.yaml" <<'YAML'
apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: hello-job}
spec:
  tfReplicaSpecs:
    Chief:
      replicas: 1
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: tensorflow
            image: loom
            command: [sh, -c, "echo replica says hello; echo TF_CONFIG=$TF_CONFIG"]
YAML
"$loom" job run --jobs_dir "$home/jobs" "$home/tfjob.yaml" > "$home/job.log" 2>&1

echo "== a two-node TrainJob on the built-in torch-distributed runtime"
cat > "$home/trainjob.yaml" <<'YAML'
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: hello-trainjob}
spec:
  runtimeRef: {name: torch-distributed}
  trainer:
    numNodes: 2
    command: [sh, -c, "echo node $PET_NODE_RANK of $PET_NNODES says hello"]
YAML
"$loom" job run --jobs_dir "$home/jobs" "$home/trainjob.yaml" > "$home/trainjob.log" 2>&1

# Two CronWorkflows for the cron page (none comes due during the test), through loom apply.
"$loom" apply -f - <<'YAML'
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: nightly}
spec:
  schedules: ["0 3 * * *"]
  timezone: Europe/Paris
  workflowSpec:
    entrypoint: main
    templates: [{name: main, container: {image: alpine, command: [date]}}]
---
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: paused}
spec:
  schedule: "@yearly"
  suspend: true
  workflowSpec:
    entrypoint: main
    templates: [{name: main, container: {image: alpine, command: [date]}}]
YAML

echo "== loom serve and loom server"
"$loom" serve --model_name mnist --model_base_path "$home/models/mnist" --rest_api_port 0 \
  --port 0 --grpc_socket_path "$home/serve.grpc.sock" --rest_api_num_threads 2 > "$home/serve.log" 2>&1 &
pids+=($!)
wait_for "$home/serve.log" "Exporting HTTP/REST API at:" "${pids[-1]}"
serve_port=$(sed -n 's/.*Exporting HTTP\/REST API at:[^:]*:\([0-9]*\).*/\1/p' "$home/serve.log" | head -1)
"$loom" server --port 0 --model_server "127.0.0.1:$serve_port" --jobs_dir "$home/jobs" > "$home/server.log" 2>&1 &
pids+=($!)
wait_for "$home/server.log" "serving the UI and API at" "${pids[-1]}"
url=$(sed -n 's/.*serving the UI and API at \(http:[^ ]*\)\/$/\1/p' "$home/server.log" | head -1)
echo "   server at $url, model server at 127.0.0.1:$serve_port"

status=0
# The server's token, created at its first start (what a user reads from the address it printed).
SERVER_URL=$url SERVER_TOKEN=$(cat "$home/server.token") SCREENSHOT_DIR="$out/screenshots" JOB_NAME=hello-job TRAINJOB_NAME=hello-trainjob \
  node "$out/node/browser_test.mjs" || status=$?
if (( status != 0 )); then
  echo "== loom server's log"; cat "$home/server.log"
fi
exit $status
