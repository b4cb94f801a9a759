#!/usr/bin/env bash
# bench/s3/run.sh [LOOM_BINARY] [SIZE_MIB]: upload and download one object (default 200 MiB)
# through the same local Swift + s3api server, by `loom data` and by Debian's `aws s3 cp`, in the
# same run, and print MiB/s for each and Loom's ratio. Each transfer runs REPEAT times (default 3);
# the best time counts. A benchmark, not a test: nothing here asserts a speed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
loom=${1:-$root/build/loom}
size_mib=${2:-200}
repeat=${REPEAT:-3}
read -r -a loom_flags <<<"${LOOM_FLAGS:-}"   # extra `loom data` flags, e.g. "--part_size_mb 16"
[[ -x $loom ]] || { echo "bench/s3: no loom binary at $loom (give its path)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/loom-s3-bench.XXXXXX")
trap '"$root/scripts/swift/stop.sh" "$work/swift" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
line=$("$root/scripts/swift/start.sh" "$work/swift")
export $line
export AWS_DEFAULT_REGION=$AWS_REGION AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
aws=(/usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL")
"${aws[@]}" s3 mb s3://bench >/dev/null
head -c $((size_mib << 20)) /dev/urandom >"$work/src"
want=$(sha256sum "$work/src" | cut -d' ' -f1)

now() { date +%s.%N; }
# best_of CMD...: runs CMD $repeat times, prints the fastest wall time in seconds.
best_of() {
  local best="" t0 t1 t
  for _ in $(seq "$repeat"); do
    t0=$(now); "$@" >/dev/null; t1=$(now)
    t=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
    if [[ -z $best ]] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  echo "$best"
}
check() { [[ $(sha256sum "$1" | cut -d' ' -f1) == "$want" ]] || { echo "bench/s3: $1: sha256 differs" >&2; exit 1; }; }

loom_up=$(best_of "$loom" data put --quiet "${loom_flags[@]}" "$work/src" s3://bench/loom.bin)
aws_up=$(best_of "${aws[@]}" s3 cp --quiet "$work/src" s3://bench/aws.bin)
rm -f "$work/loom.out" "$work/aws.out"
loom_down=$(best_of "$loom" data get --quiet "${loom_flags[@]}" s3://bench/loom.bin "$work/loom.out")
aws_down=$(best_of "${aws[@]}" s3 cp --quiet s3://bench/aws.bin "$work/aws.out")
check "$work/loom.out"; check "$work/aws.out"

rate() { awk -v s="$size_mib" -v t="$1" 'BEGIN { printf "%.1f", s / t }'; }
ratio() { awk -v l="$1" -v a="$2" 'BEGIN { printf "%.2f", a / l }'; }   # time_aws / time_loom = speed ratio
echo "object: $size_mib MiB, Swift $(dpkg-query -W -f='${Version}' swift-proxy 2>/dev/null) s3api on 127.0.0.1, best of $repeat"
echo "$(/usr/bin/aws --version 2>&1 | cut -d' ' -f1), loom flags: ${LOOM_FLAGS:-(defaults: 5 MiB parts, 4 in parallel)}"
printf '%-10s %12s %12s %8s\n' "" "loom MiB/s" "aws MiB/s" "ratio"
printf '%-10s %12s %12s %8s\n' upload "$(rate "$loom_up")" "$(rate "$aws_up")" "$(ratio "$loom_up" "$aws_up")"
printf '%-10s %12s %12s %8s\n' download "$(rate "$loom_down")" "$(rate "$aws_down")" "$(ratio "$loom_down" "$aws_down")"
