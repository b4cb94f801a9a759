#!/usr/bin/env bash
# Trains Kubeflow's example MNIST model (784-100-10, Adam 0.01, batch 100, $EPOCHS epochs of
# 55,000 examples) in Loom and in PyTorch in the same run, alternating them, each pinned to as
# many cores as it has threads (taskset), and prints a table of training throughput for 1 and
# 2 threads: PyTorch's training loop alone, against the whole `loom train` process (start-up,
# data loading, checkpoints and the final evaluation included) and, for reference, Loom's loop
# alone; the ratio Loom process / PyTorch loop; both test accuracies. Each cell is the best of
# $REPS runs.
#
#   bench/train_vs_pytorch/run.sh [LOOM_BINARY]
#
# LOOM_BINARY defaults to $BUILD/tools/loom/loom (BUILD defaults to build), then build/loom.
# Environment: LOOM_MNIST_DIR (default data/mnist, fetched by scripts/fetch_mnist.sh if absent),
# THREADS ("1 2"), REPS (3), EPOCHS (3), SEED (1), PIN (1: taskset to cores 0..threads-1; 0: no
# pinning), PYTHON (a python3 that imports torch; found if unset),
# PYTORCH_ONLY=1 to run the PyTorch half alone (no Loom binary needed), PYTORCH_BLAS_THREADS to
# give PyTorch's runs an OPENBLAS_NUM_THREADS other than the thread count (see README.md).
# OPENBLAS_CORETYPE is passed through untouched to both (see README.md: OpenBLAS 0.3.21 takes
# some recent CPUs for a Prescott and then runs SSE3 kernels).
# Needs python3-torch and python3-numpy: LOOM_WITH_TORCH=1 scripts/install_deps.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
threads_list=${THREADS:-1 2}
reps=${REPS:-3}
epochs=${EPOCHS:-3}
seed=${SEED:-1}
pin=${PIN:-1}
pytorch_only=${PYTORCH_ONLY:-0}
pytorch_blas_threads=${PYTORCH_BLAS_THREADS:-}

die() { echo "train_vs_pytorch: $*" >&2; exit 1; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "REPS=$reps is not a positive integer"
[[ $seed =~ ^[0-9]+$ ]] || die "SEED=$seed is not a non-negative integer"
[[ $epochs =~ ^[1-9][0-9]*$ ]] || die "EPOCHS=$epochs is not a positive integer"
[[ $pin == 0 || $pin == 1 ]] || die "PIN=$pin is not 0 or 1"
[[ -z $pytorch_blas_threads || $pytorch_blas_threads =~ ^[1-9][0-9]*$ ]] ||
  die "PYTORCH_BLAS_THREADS=$pytorch_blas_threads is not a positive integer"
for t in $threads_list; do
  [[ $t =~ ^[1-9][0-9]*$ ]] || die "THREADS holds '$t', not a positive integer"
  if [[ $pin == 1 ]] && (( t > $(nproc) )); then
    die "THREADS holds $t, more than the $(nproc) cores to pin to (PIN=0 runs unpinned)"
  fi
done
if [[ $pin == 1 ]]; then
  command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux); PIN=0 runs unpinned"
fi
# pinned THREADS CMD...: CMD on cores 0..THREADS-1 (PIN=1), or as it is.
pinned() {
  local t=$1; shift
  if [[ $pin == 1 ]]; then taskset -c "0-$((t - 1))" "$@"; else "$@"; fi
}

# --- the Loom binary -------------------------------------------------------------------------
loom=""
if [[ $pytorch_only != 1 ]]; then
  if [[ $# -ge 1 ]]; then
    loom=$1
  else
    for c in "$repo/${BUILD:-build}/tools/loom/loom" "$repo/build/loom"; do
      [[ -x $c ]] && { loom=$c; break; }
    done
    [[ -n $loom ]] || die "no Loom binary at $repo/${BUILD:-build}/tools/loom/loom or" \
      "$repo/build/loom: run 'make build' or pass its path (PYTORCH_ONLY=1 skips Loom)"
  fi
  [[ -x $loom ]] || die "$loom: not an executable file"
fi

# --- a python3 with torch ----------------------------------------------------------------------
python=${PYTHON:-}
if [[ -z $python ]]; then
  # Debian's python3-torch lives in /usr/lib/python3/dist-packages, which a python3 earlier on
  # PATH (pyenv, a venv) does not see.
  for c in python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import torch, numpy' 2>/dev/null; then
      python=$c; break
    fi
  done
  [[ -n $python ]] || die "no python3 that imports torch and numpy:" \
    "run LOOM_WITH_TORCH=1 scripts/install_deps.sh (or set PYTHON)"
fi

# --- data --------------------------------------------------------------------------------------
if [[ -n ${LOOM_MNIST_DIR:-} ]]; then
  data=$LOOM_MNIST_DIR
  [[ -d $data ]] || die "LOOM_MNIST_DIR=$data is not a directory"
elif [[ -f $repo/data/mnist/train-images-idx3-ubyte ]]; then
  data=$repo/data/mnist
else
  data=$("$repo/scripts/fetch_mnist.sh") || die "cannot fetch MNIST (scripts/fetch_mnist.sh)"
fi

# --- what is being measured --------------------------------------------------------------------
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)
torch_version=$("$python" -c 'import torch; print(torch.__version__)')
# The kernel set OpenBLAS picked (it prints "Core: <name>" at load when OPENBLAS_VERBOSE=2).
blas_core=$(OPENBLAS_VERBOSE=2 "$python" -c 'import torch; (torch.ones(2, 2) @ torch.ones(2, 2))' 2>&1 |
  sed -n 's/^Core: //p' | head -n1)
blas_core=${blas_core:-unknown}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
# Other work on the machine skews the numbers, the 2-thread ones badly (an OpenMP barrier waits
# for a descheduled thread), so the script measures it: the machine's busy CPU time (from
# /proc/stat) less the CPU time of this script's own children (cutime + cstime of /proc/$$/stat),
# both in clock ticks, before the start (one second) and over the whole run.
machine_ticks() {  # prints "busy total" summed over all CPUs
  local _c u n s i w q sq st _rest
  read -r _c u n s i w q sq st _rest < /proc/stat
  echo "$((u + n + s + q + sq + st)) $((u + n + s + q + sq + st + i + w))"
}
children_ticks() {  # [PID]: of that shell (default this script), e.g. a subshell's $BASHPID
  local stat; stat=$(< "/proc/${1:-$$}/stat")
  set -- ${stat##*) }  # fields from the 3rd on: cutime is the 16th, cstime the 17th
  echo $(( ${14} + ${15} ))
}
read -r b1 t1 <<<"$(machine_ticks)"
sleep 1
read -r b2 t2 <<<"$(machine_ticks)"
busy_pct=$(( 100 * (b2 - b1) / (t2 - t1 > 0 ? t2 - t1 : 1) ))

echo "train_vs_pytorch: Kubeflow's example MNIST model (784-100 ReLU-10, softmax cross-entropy, Adam"
echo "  lr 0.01, batch 100), $epochs epoch(s) of 550 steps = $((epochs * 55000)) examples; examples/s of PyTorch's"
echo "  training loop alone (data already in memory) against the whole loom train process (start to"
echo "  exit: data loading, checkpoints, final evaluation) and Loom's loop alone; test accuracy on the"
echo "  10,000 t10k images; best of $reps runs per cell, Loom and PyTorch alternated;"
echo "  OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=threads for both; $([[ $pin == 1 ]] && echo "each pinned to cores 0..threads-1 (taskset)" || echo "not pinned (PIN=0)")."
echo "  date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "  cpu:     $cpu, $(nproc) cores; busy before start: ${busy_pct}%"
echo "  pytorch: $torch_version ($python), libblas.so.3 -> $blas"
echo "           OpenBLAS kernels: $blas_core${OPENBLAS_CORETYPE+ (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE)}${pytorch_blas_threads:+; PyTorch runs with OPENBLAS_NUM_THREADS=$pytorch_blas_threads}"
echo "  loom:    ${loom:-(skipped: PYTORCH_ONLY=1)}"
echo "  data:    $data; seed $seed"
if [[ $blas_core == Prescott ]] && grep -qw avx2 /proc/cpuinfo; then
  suggest=Haswell; grep -qw avx512f /proc/cpuinfo && suggest=SkylakeX
  echo "  WARNING: OpenBLAS did not recognise this CPU and runs its SSE3 (Prescott) kernels, about half"
  echo "           as fast here as the AVX ones; for a fair PyTorch column rerun with"
  echo "           OPENBLAS_CORETYPE=$suggest $0 $*"
fi
if (( busy_pct > 15 )); then
  echo "  WARNING: the machine was ${busy_pct}% busy before the run; the numbers (2 threads above all)"
  echo "           are not a fair measurement. Rerun on an idle machine."
fi
echo

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# json_field FILE FIELD: a number from pytorch_mnist.py's one JSON line.
json_field() {
  "$python" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])' "$1" "$2"
}

# run_pytorch THREADS -> "examples_per_sec accuracy examples_per_cpu_sec"
run_pytorch() {
  local t=$1 out=$tmp/pytorch.out
  if ! OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=${pytorch_blas_threads:-$t} pinned "$t" "$python" \
      "$here/pytorch_mnist.py" --data_dir "$data" --threads "$t" --epochs "$epochs" --seed "$seed" \
      >"$out" 2>"$tmp/pytorch.err"; then
    cat "$tmp/pytorch.err" >&2; die "pytorch_mnist.py failed at $t threads"
  fi
  echo "$(json_field "$out" examples_per_sec) $(json_field "$out" test_accuracy) $(json_field "$out" examples_per_cpu_sec)"
}

# run_loom THREADS -> "process_examples_per_sec accuracy loop_examples_per_sec
#                      process_examples_per_cpu_sec"
run_loom() {
  local t=$1 out=$tmp/loom.out dir start end ticks self=$BASHPID  # this subshell: loom's parent
  dir=$(mktemp -d "$tmp/train_dir.XXXXXX")
  ticks=$(children_ticks "$self")
  start=$(date +%s.%N)
  if ! OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t pinned "$t" "$loom" train --data_dir "$data" \
      --train_dir "$dir" --epochs "$epochs" --batch_size 100 --learning_rate 0.01 \
      --threads "$t" --seed "$seed" >"$out" 2>"$tmp/loom.err"; then
    tail -n 20 "$tmp/loom.err" "$out" >&2; die "loom train failed at $t threads"
  fi
  end=$(date +%s.%N)
  ticks=$(( $(children_ticks "$self") - ticks ))
  rm -rf "$dir"
  local eps acc process cpu
  eps=$(sed -n 's/^Throughput: \([0-9.eE+-]*\) examples\/s.*$/\1/p' "$out" | tail -n1)
  acc=$(sed -n 's/^Test accuracy: \([0-9.eE+-]*\).*$/\1/p' "$out" | tail -n1)
  [[ -n $eps && -n $acc ]] || {
    tail -n 20 "$out" >&2
    die "loom train at $t threads printed no 'Throughput: N examples/s' or 'Test accuracy: F' line"
  }
  process=$(awk -v n="$((epochs * 55000))" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')
  cpu=$(awk -v n="$((epochs * 55000))" -v t="$ticks" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.0f", (t > 0 ? n * hz / t : 0) }')
  echo "$process $acc $eps $cpu"
}

# better OLD NEW: keeps the pair with the higher examples/s.
better() {
  if [[ -z $1 ]] || awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { exit !(b > a) }'; then
    echo "$2"
  else
    echo "$1"
  fi
}

read -r run_b1 run_t1 <<<"$(machine_ticks)"
run_c1=$(children_ticks)
rows=()
for t in $threads_list; do
  best_pt="" best_loom=""
  for ((r = 1; r <= reps; r++)); do
    res=$(run_pytorch "$t"); best_pt=$(better "$best_pt" "$res")
    read -r p a c <<<"$res"
    echo "  threads $t run $r: pytorch $p examples/s, $c per CPU-second (accuracy $a)" >&2
    if [[ -n $loom ]]; then
      res=$(run_loom "$t"); best_loom=$(better "$best_loom" "$res")
      read -r p a l c <<<"$res"
      echo "  threads $t run $r: loom    $p examples/s whole process, $l in its loop, $c per CPU-second of the process (accuracy $a)" >&2
    fi
  done
  rows+=("$t ${best_pt} ${best_loom:--- -- -- --}")
done
read -r run_b2 run_t2 <<<"$(machine_ticks)"
run_c2=$(children_ticks)
other=$(( (run_b2 - run_b1) - (run_c2 - run_c1) ))
other_pct=$(( 100 * (other > 0 ? other : 0) / (run_t2 - run_t1 > 0 ? run_t2 - run_t1 : 1) ))

echo
printf '%-8s %18s %18s %15s %13s %12s %10s\n' threads "pytorch loop ex/s" "loom process ex/s" \
  "loom loop ex/s" "loom/pytorch" "pytorch acc" "loom acc"
for row in "${rows[@]}"; do
  read -r t pt_eps pt_acc pt_cpu loom_eps loom_acc loom_loop loom_cpu <<<"$row"
  if [[ $loom_eps == -- ]]; then
    ratio=--
  else
    ratio=$(awk -v l="$loom_eps" -v p="$pt_eps" 'BEGIN { printf "%.2fx", l / p }')
    loom_loop=$(printf '%.0f' "$loom_loop")
  fi
  printf '%-8s %18.0f %18s %15s %13s %12s %10s\n' "$t" "$pt_eps" "$loom_eps" "$loom_loop" "$ratio" "$pt_acc" "$loom_acc"
done
echo
echo "The same runs per CPU-second (user + system time of all threads: PyTorch's loop, Loom's"
echo "whole process), which other work on the machine disturbs much less than wall time:"
printf '%-8s %22s %22s %13s\n' threads "pytorch loop ex/cpu-s" "loom process ex/cpu-s" "loom/pytorch"
for row in "${rows[@]}"; do
  read -r t pt_eps pt_acc pt_cpu loom_eps loom_acc loom_loop loom_cpu <<<"$row"
  ratio=--
  [[ $loom_cpu == -- ]] || ratio=$(awk -v l="$loom_cpu" -v p="$pt_cpu" 'BEGIN { printf "%.2fx", l / p }')
  printf '%-8s %22.0f %22s %13s\n' "$t" "$pt_cpu" "$loom_cpu" "$ratio"
done
echo
echo "other processes used ${other_pct}% of the machine's CPU time during the run"
if (( other_pct > 10 )); then
  echo "WARNING: that is too much for a fair measurement (2 threads above all); rerun on an idle machine."
fi
