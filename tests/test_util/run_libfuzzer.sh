#!/usr/bin/env bash
# Builds a libFuzzer target with clang (libFuzzer + AddressSanitizer + UBSan) from its own CMake
# project (libfuzzer.cmake) in BUILD_DIR, then runs it for SECONDS over its seed corpora, read
# only: new inputs go to a scratch corpus in BUILD_DIR. Exits non-zero on any crash, leak,
# sanitizer report, uncaught exception or build failure, and when SECONDS ended before the first
# mutation. tests/serving/fuzz and tests/security/fuzz run through it.
#   run_libfuzzer.sh PROJECT_DIR BUILD_DIR TARGET SECONDS MAX_LEN SEED_CORPUS...
set -euo pipefail
usage="usage: run_libfuzzer.sh PROJECT_DIR BUILD_DIR TARGET SECONDS MAX_LEN SEED_CORPUS..."
project=${1:?$usage} build=${2:?$usage} target=${3:?$usage} seconds=${4:?$usage} max_len=${5:?$usage}
shift 5
for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "run_libfuzzer.sh: $tool is missing (scripts/install_deps.sh)" >&2; exit 1; }
done
if [[ ! -f $build/build.ninja ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$project" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    "${launcher[@]}" >"$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; exit 1; }
fi
cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target "$target" >&2
corpus=$build/corpus
mkdir -p "$corpus" "$build/artifacts"
cd "$build"
log=$build/fuzz.log
status=0
"./$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/" "$corpus" "$@" 2>&1 | tee "$log" ||
  status=$?
((status == 0)) || exit "$status"
# The time bound covers the seed corpus too: a run that ended before mutating anything proved
# only that the seeds pass, so it fails. INITED's count is the inputs of the corpus pass.
seeds=$(sed -n 's/^#\([0-9]*\)[[:space:]]*INITED .*/\1/p' "$log")
executed=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)$/\1/p' "$log")
if [[ -z $seeds || -z $executed ]]; then
  echo "run_libfuzzer.sh: $target did not finish its seed corpus in $seconds s: no mutation was tried; give it more seconds" >&2
  exit 1
fi
if ((executed <= seeds)); then
  echo "run_libfuzzer.sh: $target ran only its seed corpus ($seeds inputs) in $seconds s: no mutation was tried; give it more seconds" >&2
  exit 1
fi
echo "run_libfuzzer.sh: $target: $seeds inputs from the seed corpus, then $((executed - seeds)) mutations in $seconds s"
