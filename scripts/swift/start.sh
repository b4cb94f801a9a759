#!/usr/bin/env bash
# start.sh STATE_DIR: a fresh Swift + s3api server on 127.0.0.1 for the storage integration tests
# (the CTest fixture's setup). Whatever an earlier run left in STATE_DIR is stopped and removed
# first, so each run starts empty. Prints the AWS_* line, also kept in STATE_DIR/env.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ -n ${1:-} ]] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
if [[ -d $1 ]]; then
  "$here/swift-s3.sh" stop "$1"
  rm -rf "$1"
fi
exec "$here/swift-s3.sh" "$1"
