#!/usr/bin/env bash
# Screenshots of each page of the web UI showing real data from `loom demo` (CTest:
# ui_demo_screenshots, label e2e).
#   demo_screenshots.sh <loom binary> <output dir>
# Runs `loom demo` (a short training) in a fresh LOOM_HOME with its model server on a free port,
# then `loom server` on that home, and has chromium take the pictures (demo_screenshots.mjs):
# <output dir>/screenshots/demo-*.png. Uses the playwright-core that run_browser_tests.sh installs.
set -euo pipefail
loom=$(realpath "$1")
out=$(realpath -m "$2")
here=$(cd "$(dirname "$0")" && pwd)
export LOOM_MNIST_DIR=${LOOM_MNIST_DIR:-$here/../../data/mnist}
"$here/install_playwright.sh" "$out/node"
# The scripts go beside node_modules, where their imports resolve (renamed into place: the
# browser tests may run at the same time).
for f in "$here"/*.mjs; do cp "$f" "$out/node/.${f##*/}.$$" && mv -f "$out/node/.${f##*/}.$$" "$out/node/${f##*/}"; done

home=$(mktemp -d "${TMPDIR:-/tmp}/loom_ui_demo_XXXXXX")
export LOOM_HOME=$home
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=
cleanup() {
  [[ -n $server_pid ]] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  # The demo leaves its model server up for the UI; it wrote its pid.
  for f in "$home"/run/serve-*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done
  rm -rf "$home"
}
trap cleanup EXIT

echo "== loom demo (LOOM_HOME=$home, model server on 127.0.0.1:$port)"
"$loom" demo --train_steps 500 --port "$port" > "$home/demo.log" 2>&1 || { cat "$home/demo.log"; exit 1; }

"$loom" server --port 0 --model_server "127.0.0.1:$port" > "$home/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do grep -q "serving the UI and API at" "$home/server.log" && break; sleep 0.1; done
url=$(sed -n 's/.*serving the UI and API at \(http:[^ ]*\)\/$/\1/p' "$home/server.log" | head -1)
[[ -n $url ]] || { cat "$home/server.log"; exit 1; }
echo "== screenshots from $url"
SERVER_URL=$url SERVER_TOKEN=$(cat "$home/server.token") SCREENSHOT_DIR="$out/screenshots" node "$out/node/demo_screenshots.mjs"
