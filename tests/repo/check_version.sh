#!/usr/bin/env bash
# `loom --version` and `loom version` print what the binary is: argo's layout (name: version, then
# indented Key: value lines), the commit and build type, and a version for every library it wraps.
# Usage: check_version.sh LOOM
set -euo pipefail
loom=$1
out=$("$loom" --version)
[[ "$out" == "$("$loom" version)" ]] || { echo "loom --version and loom version differ"; exit 1; }
fail() { echo "check_version: $1"; echo "$out"; exit 1; }
[[ "$(head -n1 <<<"$out")" =~ ^loom:\ v[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "first line is not 'loom: vX.Y.Z'"
grep -Eq '^  GitCommit: ([0-9a-f]{40}|unknown)$' <<<"$out" || fail "no GitCommit"
grep -Eq '^  GitTreeState: (clean|dirty|unknown)$' <<<"$out" || fail "no GitTreeState"
grep -Eq '^  BuildType: [A-Za-z]+$' <<<"$out" || fail "no BuildType"
for lib in oneDNN gRPC protobuf libcurl libmicrohttpd nghttp2 OpenSSL expat SQLite libarchive libpng zlib; do
  grep -Eq "^  $lib: [0-9]+\.[0-9]+" <<<"$out" || fail "no version for $lib"
done
grep -Eq '^  JSON/YAML: nlohmann_json [0-9.]+, yaml-cpp [0-9.]+$' <<<"$out" || fail "no JSON/YAML versions"
[[ "$("$loom" version --short)" == "$(head -n1 <<<"$out")" ]] || fail "--short is not the first line"
if "$loom" version extra >/dev/null 2>&1; then fail "an unexpected argument was accepted"; fi
echo "check_version: ok"
