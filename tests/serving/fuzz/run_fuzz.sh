#!/usr/bin/env bash
# Builds FUZZER (predict_fuzzer, the default, or grpc_predict_fuzzer) with clang (libFuzzer +
# AddressSanitizer + UBSan) in BUILD_DIR and runs it for SECONDS on its seed corpus
# (tests/test_util/run_libfuzzer.sh): tests/serving/fuzz_corpus, or for the gRPC one the
# PredictRequests of fuzz_corpus_grpc/*.txtpb, encoded with protoc into BUILD_DIR/grpc_seeds,
# each alone and as the HTTP/2 frames a client sends (h2_seeds.py).
# Exits non-zero on any crash, leak, sanitizer report or build failure.
#   tests/serving/fuzz/run_fuzz.sh BUILD_DIR [SECONDS] [FUZZER]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS] [FUZZER]}
seconds=${2:-60}
fuzzer=${3:-predict_fuzzer}
[[ $fuzzer == predict_fuzzer || $fuzzer == grpc_predict_fuzzer ]] ||
  { echo "run_fuzz.sh: unknown fuzzer $fuzzer" >&2; exit 2; }
seeds=("$here/../fuzz_corpus")
if [[ $fuzzer == grpc_predict_fuzzer ]]; then
  seeds=("$build/grpc_seeds")
  mkdir -p "${seeds[0]}"
  # Mode byte 0: a PredictRequest's bytes; 1: an HTTP/2 connection's (grpc_predict_fuzzer.cc).
  rm -f "${seeds[0]}"/*
  for text in "$here"/../fuzz_corpus_grpc/*.txtpb; do
    name=$(basename "$text" .txtpb)
    protoc --encode=tensorflow.serving.PredictRequest -I "$here/../../../proto" tfserving/serving_apis.proto \
      <"$text" >"$build/$name.pb"
    { printf '\0'; cat "$build/$name.pb"; } >"${seeds[0]}/$name"
  done
  python3 "$here/h2_seeds.py" "${seeds[0]}" "$build"/*.pb
fi
# -max_len: a predict body of one image is ~7 KB (3 KB as a PredictRequest); room for several
# images and long paths.
exec "$here/../../test_util/run_libfuzzer.sh" "$here" "$build" "$fuzzer" "$seconds" 65536 "${seeds[@]}"
