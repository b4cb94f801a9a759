#!/usr/bin/env bash
# stop.sh STATE_DIR: stops the server start.sh started there (the CTest fixture's cleanup).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ -n ${1:-} ]] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
[[ -d $1 ]] || exit 0
exec "$here/swift-s3.sh" stop "$1"
