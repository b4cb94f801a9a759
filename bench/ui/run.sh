#!/usr/bin/env bash
# bench/ui: 200 workflows in the store and one 100 MB pod log; prints the time of the list API,
# of the first log page and of a page in the middle (ui_bench), then the page loads in chromium
# (page_load.mjs, with the playwright-core that the browser tests installed).
#   bench/ui/run.sh [build dir]    (after `cmake --build <build> --target ui_bench loom` and
#                                   one run of the browser tests, which installs playwright-core)
set -euo pipefail
build=$(realpath "${1:-build}")
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/loom_ui_bench_XXXXXX")
out=$dir/bench.log
"$build/bench/ui/ui_bench" --dir "$dir" --hold > "$out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 1200); do grep -q "^serving at" "$out" && break; kill -0 $pid || { cat "$out"; exit 1; }; sleep 0.1; done
grep -v "^serving at" "$out"
read -r url name node < <(sed -n 's/^serving at \([^ ]*\) (workflow \([^,]*\), node \([^)]*\))$/\1 \2 \3/p' "$out")
node_modules=$build/tests/ui/node/node_modules
if [[ -x /usr/bin/chromium && -d $node_modules/playwright-core ]]; then
  cp "$here/page_load.mjs" "$here/../../tests/ui/ui_browser.mjs" "$build/tests/ui/node/"
  node "$build/tests/ui/node/page_load.mjs" "$url" "$name" "$node"
else
  echo "(chromium page loads skipped: run the browser tests once to install playwright-core)"
fi
