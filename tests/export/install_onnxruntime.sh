#!/usr/bin/env bash
# Installs ONNX Runtime for Node (npm onnxruntime-node, pinned) into DIR/node_modules, for the
# ONNX cross-check (tests/export) and bench/serving's ONNX Runtime server. Quick when it is
# already there. ONNXRUNTIME_NODE_INSTALL=skip: the npm tarball ships the linux x64 native
# binding (bin/napi-v6/linux/x64); the postinstall would only fetch CUDA/TensorRT extras.
set -euo pipefail
dir=${1:?usage: install_onnxruntime.sh DIR}
version=1.30.0
pkg="$dir/node_modules/onnxruntime-node/package.json"
if [[ -f $pkg ]] && grep -q "\"version\": \"$version\"" "$pkg"; then exit 0; fi
mkdir -p "$dir"
cd "$dir"
[[ -f package.json ]] || echo '{"name": "loom-onnxruntime", "private": true}' > package.json
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error "onnxruntime-node@$version" >&2
