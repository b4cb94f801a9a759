#!/usr/bin/env bash
# Builds FUZZER (predict_fuzzer, the default, or grpc_predict_fuzzer) with clang (libFuzzer +
# AddressSanitizer + UBSan) in BUILD_DIR and runs it for SECONDS on its seed corpus:
# tests/serving/fuzz_corpus (read only: new inputs go to a scratch corpus in BUILD_DIR), or for
# the gRPC one the PredictRequests of fuzz_corpus_grpc/*.txtpb, encoded with protoc into the
# scratch corpus. Exits non-zero on any crash, leak, sanitizer report or build failure.
#   tests/serving/fuzz/run_fuzz.sh BUILD_DIR [SECONDS] [FUZZER]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
fuzzer=${3:-predict_fuzzer}
[[ $fuzzer == predict_fuzzer || $fuzzer == grpc_predict_fuzzer ]] ||
  { echo "run_fuzz.sh: unknown fuzzer $fuzzer" >&2; exit 2; }
for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "run_fuzz.sh: $tool is missing (scripts/install_deps.sh)" >&2; exit 1; }
done
if [[ ! -f $build/build.ninja ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    "${launcher[@]}" >"$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; exit 1; }
fi
cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target "$fuzzer" >&2
corpus=$build/corpus
mkdir -p "$corpus" "$build/artifacts"
seeds=("$here/../fuzz_corpus")
if [[ $fuzzer == grpc_predict_fuzzer ]]; then
  seeds=()
  for text in "$here"/../fuzz_corpus_grpc/*.txtpb; do
    protoc --encode=tensorflow.serving.PredictRequest -I "$here/../../../proto" tfserving/serving_apis.proto \
      <"$text" >"$corpus/$(basename "$text" .txtpb)"
  done
fi
cd "$build"
# -max_len: a predict body of one image is ~7 KB (3 KB as a PredictRequest); room for several
# images and long paths.
exec "./$fuzzer" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/" "$corpus" "${seeds[@]}"
