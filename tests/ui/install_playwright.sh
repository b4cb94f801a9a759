#!/usr/bin/env bash
# Installs playwright-core (exact version: package-lock.json) under <dir>/node_modules with
# `npm ci`, without downloading a browser (the tests drive Debian's /usr/bin/chromium). Does
# nothing when that lock file is already installed there. The CTest fixture ui_playwright runs it
# before the browser tests.
#   install_playwright.sh <dir>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(realpath -m "$1")
if [[ ! -x /usr/bin/chromium ]]; then
  echo "install_playwright: /usr/bin/chromium is missing; run scripts/install_deps.sh" >&2
  exit 1
fi
mkdir -p "$dir"
if cmp -s "$here/package-lock.json" "$dir/package-lock.json" && [[ -d $dir/node_modules/playwright-core ]]; then
  exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dir/"
cd "$dir"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
