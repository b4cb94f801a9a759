#!/usr/bin/env bash
# Builds manifest_fuzzer with clang (libFuzzer + AddressSanitizer + UBSan) in BUILD_DIR and runs
# it for SECONDS (tests/test_util/run_libfuzzer.sh) on its seed corpora: tests/security/fuzz_corpus
# (hostile documents), examples/ and tests/workflow/cases (real manifests).
#   tests/security/fuzz/run_fuzz.sh BUILD_DIR [SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# -max_len: room for a real workflow (examples/mnist/workflow.yaml is ~5 KB) and a bomb's anchors.
exec "$here/../../test_util/run_libfuzzer.sh" "$here" "${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS]}" \
  manifest_fuzzer "${2:-60}" 32768 "$here/../fuzz_corpus" "$here/../../../examples" "$here/../../workflow/cases"
