#!/usr/bin/env bash
# Distributed training throughput on this machine, against one process in the same run:
#   one process (loom train --threads 1); 1 ps + 1 worker; 1 or 2 ps + 2 workers async; the same
# sync (--sync_replicas), each replica single-threaded (--threads 1), started by `loom job run`
# from a generated TFJob (TF_CONFIG on 127.0.0.1, so a step's bytes go through shared memory:
# --ps_transport=auto), and the async jobs again with --ps_transport=grpc (loopback TCP) for
# comparison; and, bound with taskset (as mpirun --bind-to core would), one process on CPU 0
# against 1 ps + 2 async workers with worker i on CPU i (the ps unbound). Prints examples/s (every replica's training examples
# over the window from the first "Training begins" to the last "Training ends"), the ratio to one
# process, and the communication cost per step: the mean time a worker spends in its PushPull
# round trip (push gradients, pull variables), as each worker reports it. Best of $REPS runs each.
# CPU us/step: the CPU every process of the job spent per global step (each worker over its
# training window, each ps task start to end), the least over the rounds; "CPU bound": the
# ratio to one process that this cost allows when the job has every CPU of the machine to
# itself (nproc * one process's CPU per step / the job's), which load from elsewhere does not
# move the way it moves examples/s.
#
#   bench/distributed/run.sh [LOOM_BINARY]
#
# LOOM_BINARY defaults to build/loom. Environment: LOOM_MNIST_DIR (default data/mnist),
# STEPS (global steps per run, default 4000), REPS (default 3), FLAGS (extra loom train flags).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
loom=${1:-$repo/build/loom}
steps=${STEPS:-4000}
reps=${REPS:-3}
flags=${FLAGS:-}
export LOOM_MNIST_DIR=${LOOM_MNIST_DIR:-$repo/data/mnist}

die() { echo "bench/distributed: $*" >&2; exit 1; }
[[ -x $loom ]] || die "$loom: not an executable (run 'make build' or pass the binary)"
[[ $steps =~ ^[1-9][0-9]*$ ]] || die "STEPS=$steps is not a positive integer"
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "REPS=$reps is not a positive integer"
work=$(mktemp -d /tmp/loom_bench_distributed.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Runs its arguments bound to CPU <task index> when TF_CONFIG says it is a worker (taskset),
# unbound otherwise: the "workers bound" job's command (its ps task's thread serving a worker
# then follows that worker's CPU: ps_shm.h's FollowAffinityOf).
cat >"$work/bind_workers.sh" <<'EOF'
#!/bin/sh
type=$(printf '%s' "$TF_CONFIG" | grep -o '"type" *: *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"')
index=$(printf '%s' "$TF_CONFIG" | grep -o '"index" *: *[0-9]*' | grep -o '[0-9]*$')
[ "$type" = worker ] && exec taskset -c "$index" "$@"
exec "$@"
EOF
chmod +x "$work/bind_workers.sh"

# A TFJob of `workers` workers (worker 0 is the chief) and `ps` ps tasks.
write_job() {  # name workers ps extra_flags [bind]
  local name=$1 workers=$2 ps=$3 extra=$4 bind=${5:-} args command="[loom, train]"
  [[ -n $bind ]] && command="[\"$work/bind_workers.sh\", \"$loom\", train]"
  args="[\"--train_dir=$work/$name/train\", \"--train_steps=$steps\", \"--threads=1\", \"--save_checkpoint_steps=0\""
  for f in $flags $extra; do args+=", \"$f\""; done
  args+="]"
  cat >"$work/$name.yaml" <<EOF
apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: $name}
spec:
  tfReplicaSpecs:
    Worker:
      replicas: $workers
      template: {spec: {containers: [{name: tensorflow, image: loom, command: $command, args: $args}]}}
    PS:
      replicas: $ps
      template: {spec: {containers: [{name: tensorflow, image: loom, command: $command, args: $args}]}}
EOF
}

# Prints "examples/s comm_us_per_step cpu_us_per_step" of one run of a job, from its replicas' logs.
run_job() {  # name
  local name=$1
  rm -rf "$work/$name/train" "$work/jobs/$name"
  "$loom" job run --jobs_dir="$work/jobs" "$work/$name.yaml" >"$work/$name.out" 2>&1 ||
    die "$name failed: $(tail -3 "$work/$name.out")"
  cat "$work/jobs/$name/logs/"worker-*.log "$work/jobs/$name/logs/"ps-*.log | awk '
    /^Training begins @/ { t = $4; if (begin == "" || t < begin) begin = t }
    /^Training ends @/ { t = $4; if (t > end) end = t }
    /^Training elapsed time:/ { elapsed = $4 }
    /^Throughput:/ { examples += $2 * elapsed; steps = $2 * elapsed / 100 }
    /^CPU: .* us per step/ { cpu += $2 * steps }
    /ps: done; [0-9]+ us CPU/ { for (i = 1; i < NF; i++) if ($(i + 1) == "us") cpu += $i }
    /^Communication:/ { comm += $2; n++ }
    END { printf "%.0f %.0f %.0f\n", examples / (end - begin), n ? comm / n : 0, cpu / (examples / 100) }'
}

# Prints "examples/s cpu_us_per_step" of one single-process run.
run_single() {  # [taskset -c 0]
  rm -rf "$work/single"
  "$@" "$loom" train --train_dir="$work/single" --train_steps="$steps" --threads=1 --save_checkpoint_steps=0 $flags \
    >"$work/single.out" 2>&1 || die "one process failed: $(tail -3 "$work/single.out")"
  awk '/^Throughput:/ { rate = $2 } /^CPU: .* us per step/ { cpu = $2 } END { print rate, cpu }' "$work/single.out"
}

write_job ps1w1 1 1 ""
write_job ps1w2async 2 1 ""
write_job ps2w2async 2 2 ""
write_job ps2w2overlap 2 2 "--overlap_communication"
write_job ps2w2sync 2 2 "--sync_replicas"
write_job ps1w2bound 2 1 "" bind
write_job ps1w2grpc 2 1 "--ps_transport=grpc"
write_job ps2w2grpc 2 2 "--ps_transport=grpc"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)  # before this script's own processes add to it
declare -A best comm cpu
configs=(single singlebound ps1w1 ps1w2async ps1w2bound ps2w2async ps2w2overlap ps2w2sync ps1w2grpc ps2w2grpc)
for ((rep = 1; rep <= reps; ++rep)); do
  for c in "${configs[@]}"; do  # alternated, so load changes hit every configuration alike
    if [[ $c == single ]]; then
      read -r rate cpu_us < <(run_single); us=0
    elif [[ $c == singlebound ]]; then
      read -r rate cpu_us < <(run_single taskset -c 0); us=0
    else
      read -r rate us cpu_us < <(run_job "$c")
    fi
    if [[ -z ${best[$c]:-} || $rate -gt ${best[$c]} ]]; then best[$c]=$rate; comm[$c]=$us; fi
    # CPU per step: the least over the rounds (load from elsewhere only adds to it).
    if [[ -z ${cpu[$c]:-} || $cpu_us -lt ${cpu[$c]} ]]; then cpu[$c]=$cpu_us; fi
  done
done

echo "bench/distributed: $steps global steps, batch 100, --threads 1 per process, best of $reps, $(nproc) CPUs," \
  "load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after, $(date -u +%H:%M) UTC"
printf '%-44s %12s %10s %14s %14s %12s\n' configuration examples/s "vs 1 proc" "comm us/step" "CPU us/step" "CPU bound"
row() {
  [[ $2 == single* ]] && { printf '%-44s %12s %9.2fx %14s %14s %12s\n' "$1" "${best[$2]}" \
    "$(echo "${best[$2]} / ${best[single]}" | bc -l)" "$3" "${cpu[$2]}" "-"; return; }
  printf '%-44s %12s %9.2fx %14s %14s %11.2fx\n' "$1" "${best[$2]}" "$(echo "${best[$2]} / ${best[single]}" | bc -l)" "$3" \
    "${cpu[$2]}" "$(echo "$(nproc) * ${cpu[single]} / ${cpu[$2]}" | bc -l)"
}
row "one process" single "-"
row "one process, bound to CPU 0 (taskset)" singlebound "-"
row "1 ps + 1 worker" ps1w1 "${comm[ps1w1]}"
row "1 ps + 2 workers, async" ps1w2async "${comm[ps1w2async]}"
row "1 ps + 2 workers, async, workers bound" ps1w2bound "${comm[ps1w2bound]}"
row "2 ps + 2 workers, async" ps2w2async "${comm[ps2w2async]}"
row "2 ps + 2 workers, async, overlapped" ps2w2overlap "${comm[ps2w2overlap]}"
row "2 ps + 2 workers, sync" ps2w2sync "${comm[ps2w2sync]}"
row "1 ps + 2 workers, async, --ps_transport=grpc" ps1w2grpc "${comm[ps1w2grpc]}"
row "2 ps + 2 workers, async, --ps_transport=grpc" ps2w2grpc "${comm[ps2w2grpc]}"
