#!/usr/bin/env bash
# bench/serving: single-image predict driven by wrk (a Lua script with a real 784-float MNIST
# test image as the JSON body) against `loom serve`; against ONNX Runtime (npm onnxruntime-node)
# behind a minimal Node http server (ort_server.js) on the same exported model.onnx; and against
# nginx answering the same POST with a static file of the same size as Loom's answer (the HTTP
# ceiling of this machine). Loom is also driven with the same image as a KServe v2 infer body,
# and over TF Serving's gRPC API (PredictionService.Predict, the image as tensor_content) by
# grpc_load (grpc_load.cc: wrk's measurement on gRPC's async client, the same connections and
# threads) and, as a cross-check with a client we did not write, by nghttp2's h2load posting the
# same request bytes (it does not read grpc-status; grpc_load checked those bytes answer OK).
# Both also run gRPC as its clients usually do, concurrent calls sharing a connection: the same
# --connections calls in flight on --connections/8 connections, 8 HTTP/2 streams each.
# Rounds alternate between them so that load from other processes hits all of them; the medians
# and their ratios are printed. Every server is driven with the same wrk settings and image.
#
# Then the batching section: at --batch_connections (256) connections, `loom serve
# --enable_batching` (with the batching_parameters file written here and printed), `loom serve`
# without batching, and nginx, the same way (--batch_connections 0 skips it).
#
#   bench/serving/run.sh [--loom build/loom] [--grpc_load build/bench/serving/grpc_load]
#                        [--connections 32] [--seconds 10] [--rounds 3]
#                        [--wrk_threads 2] [--loom_threads N] [--batch_connections 256] [--skip_ort]
#
# Needs wrk and nginx (scripts/install_deps.sh), python3, node and npm, and MNIST in data/mnist.
# ONNX Runtime is installed beside the loom binary (tests/export/install_onnxruntime.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
loom=$root/build/loom
grpc_load=
connections=32
seconds=10
rounds=3
threads=2
batch_connections=256
skip_ort=
loom_flags=()
while (($#)); do
  case $1 in
    --loom) loom=$2; shift 2 ;;
    --grpc_load) grpc_load=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --wrk_threads) threads=$2; shift 2 ;;
    --batch_connections) batch_connections=$2; shift 2 ;;
    --skip_ort) skip_ort=1; shift ;;
    --loom_threads) loom_flags+=(--rest_api_num_threads "$2"); shift 2 ;;
    *) echo "run.sh: unknown flag $1" >&2; exit 2 ;;
  esac
done
mnist=${LOOM_MNIST_DIR:-$root/data/mnist}
for tool in wrk nginx python3 curl node npm h2load; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (scripts/install_deps.sh)" >&2; exit 1; }
done
[[ -x $loom ]] || { echo "run.sh: $loom is not built" >&2; exit 1; }
grpc_load=${grpc_load:-$(dirname "$loom")/bench/serving/grpc_load}
[[ -x $grpc_load ]] || { echo "run.sh: $grpc_load is not built (cmake --build build --target grpc_load)" >&2; exit 1; }

work=$(mktemp -d /tmp/loom_bench_serving.XXXXXX)
chmod 755 "$work"  # nginx's workers (www-data) read the static answer from here
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f $work/nginx/nginx.pid ]] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  [[ -n ${LOOM_BENCH_KEEP:-} ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== training a model to serve (300 steps)"
"$loom" train --train_dir "$work/train" --train_steps 300 --data_dir "$mnist" \
  --export_dir "$work/models/mnist" >/dev/null

# The body: the first test image as TF Serving's row format, floats as Loom's client writes them.
python3 - "$mnist" "$work" <<'PY'
import gzip, os, struct, sys
mnist, work = sys.argv[1], sys.argv[2]
path = os.path.join(mnist, 't10k-images-idx3-ubyte')
data = open(path, 'rb').read() if os.path.exists(path) else gzip.open(path + '.gz').read()
pixels = data[16:16 + 784]
body = '{"instances": [[' + ','.join(repr(p / 255.0) for p in pixels) + ']]}'
open(os.path.join(work, 'body.json'), 'w').write(body)
open(os.path.join(work, 'image.txt'), 'w').write(','.join(repr(p / 255.0) for p in pixels))
open(os.path.join(work, 'predict.lua'), 'w').write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    'wrk.body = [==[' + body + ']==]\n')
# The same image as a KServe v2 infer body, as the KServe and Triton Python clients write it.
v2 = ('{"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP32", "data": ['
      + ','.join(repr(p / 255.0) for p in pixels) + ']}]}')
open(os.path.join(work, 'infer.lua'), 'w').write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    'wrk.body = [==[' + v2 + ']==]\n')
PY

# start_loom LOG FLAGS... -> sets $port_started (REST) and $grpc_port_started
start_loom() {
  local log=$1
  shift
  port_started=$(free_port)
  grpc_port_started=$(free_port)
  "$loom" serve --model_name mnist --model_base_path "$work/models/mnist" --rest_api_port "$port_started" \
    --port "$grpc_port_started" "${loom_flags[@]}" "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port_started/v1/models/mnist" >/dev/null && break; sleep 0.1; done
}
start_loom "$work/serve.log"
loom_pid=${pids[-1]}
loom_port=$port_started
loom_grpc_port=$grpc_port_started
answer=$(curl -s -X POST --data-binary @"$work/body.json" "http://127.0.0.1:$loom_port/v1/models/mnist:predict")
"$grpc_load" --target "127.0.0.1:$loom_grpc_port" --model mnist --image "$work/image.txt" \
  --write_request "$work/predict.grpc"
echo "   Loom answers (${#answer} bytes): $answer"

# ONNX Runtime on the same version's model.onnx.
if [[ -z $skip_ort ]]; then
  ort_dir=$(dirname "$loom")/onnxruntime
  "$root/tests/export/install_onnxruntime.sh" "$ort_dir"
  ort_port=$(free_port)
  NODE_PATH=$ort_dir/node_modules node "$here/ort_server.js" "$work/models/mnist/1/model.onnx" "$ort_port" \
    >"$work/ort.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    ort_answer=$(curl -sf -X POST --data-binary @"$work/body.json" "http://127.0.0.1:$ort_port/" || true)
    [[ -n $ort_answer ]] && break
    sleep 0.1
  done
  echo "   ONNX Runtime answers (${#ort_answer} bytes): $ort_answer"
fi

nginx_port=$(free_port)
mkdir -p "$work/nginx/www"
printf '%s' "$answer" >"$work/nginx/www/predict.json"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  default_type application/json;
  server {
    listen 127.0.0.1:$nginx_port;
    # POST to a static file is 405 in nginx; answer it with the file.
    location / { root $work/nginx/www; error_page 405 =200 \$uri; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
sleep 0.3

# run_wrk CONNECTIONS URL [LUA] -> "requests_per_second p50_ms p99_ms non2xx errors"
run_wrk() {
  wrk -t"$threads" -c"$1" -d"${seconds}s" --latency -s "${3:-$work/predict.lua}" "$2" | python3 -c '
import re, sys
t = sys.stdin.read()
def ms(label):
    m = re.search(r"^\s*" + label + r"\s+([0-9.]+)(us|ms|s)\s*$", t, re.M)
    v = float(m.group(1)); return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", t).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
print(rps, ms("50%"), ms("99%"), non2xx.group(1) if non2xx else 0, sum(map(int, errors.groups())) if errors else 0)'
}

# cpu_ticks PID: the CPU time the process used so far, in clock ticks (utime + stime).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# server_us PID TICKS_BEFORE LINE: the server's CPU microseconds per request during a run.
server_us() {
  python3 -c 'import sys; t, t0, hz, rps, s = map(float, sys.argv[1:6]); print(f"{(t - t0) * 1e6 / hz / max(rps * s, 1):.1f}")' \
    "$(cpu_ticks "$1")" "$2" "$(getconf CLK_TCK)" "$(echo "$3" | cut -d' ' -f1)" "$seconds"
}

# run_h2load CONNECTIONS PORT [STREAMS] -> the same five numbers for gRPC Predict driven by h2load
run_h2load() {
  h2load -D "$seconds" -c "$1" -t "$threads" -m "${3:-1}" --data="$work/predict.grpc" -H 'content-type: application/grpc' \
    -H 'te: trailers' --log-file="$work/h2load.log" "http://127.0.0.1:$2/tensorflow.serving.PredictionService/Predict" |
    python3 -c '
import re, sys
t = sys.stdin.read()
rps = float(re.search(r"finished in [0-9.]+s, ([0-9.]+) req/s", t).group(1))
codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", t)
failed = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", t)
us = sorted(int(l.split("\t")[2]) for l in open(sys.argv[1]) if l.strip())
pct = lambda p: us[int(p * (len(us) - 1))] / 1000
print(rps, pct(0.50), pct(0.99), sum(map(int, codes.groups()[1:])), sum(map(int, failed.groups())))' "$work/h2load.log"
}

# report NAME=FILE... : the medians of each server's rounds, with ratios to the first and to nginx.
report() {
  python3 - "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$@" <<'PY'
import statistics, sys
cpus, load, pairs = sys.argv[1], sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]]
rows = {name: [list(map(float, l.split())) for l in open(path) if l.strip()] for name, path in pairs}
def med(name, i): return statistics.median(r[i] for r in rows[name])
print(f"\n{'server':40s} {'req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'p99 range':>15s} {'non-2xx':>8s}")
for name, _ in pairs:
    p99s = [r[2] for r in rows[name]]
    print(f"{name:40s} {med(name,0):10.0f} {med(name,1):8.3f} {med(name,2):8.3f} {min(p99s):6.2f}-{max(p99s):<7.2f} {int(sum(r[3] for r in rows[name])):8d}")
if any(r[3] or r[4] for v in rows.values() for r in v):
    print("\nWARNING: non-2xx answers or socket errors above: the numbers are not comparable")
first = pairs[0][0]
nginx = [n for n, _ in pairs if n.startswith("nginx")][0]
for name, _ in pairs[1:]:
    print(f"{first} / {name}: {med(first,0) / med(name,0):.2f} (req/s)")
print(f"machine: {cpus} CPUs, load average at the end {load} (other processes share these CPUs)")
PY
}

echo "== wrk -t$threads -c$connections -d${seconds}s, $rounds alternating rounds"
: >"$work/loom.txt"
: >"$work/nginx.txt"
: >"$work/ort.txt"
: >"$work/loom_v2.txt"
: >"$work/loom_grpc.txt"
: >"$work/loom_h2load.txt"
: >"$work/loom_cpu.txt"
: >"$work/loom_grpc_mux.txt"
: >"$work/loom_h2load_mux.txt"
mux_connections=$(( connections >= 8 ? connections / 8 : 1 ))
mux_streams=$(( connections / mux_connections ))
for r in $(seq "$rounds"); do
  t0=$(cpu_ticks "$loom_pid")
  l=$(run_wrk "$connections" "http://127.0.0.1:$loom_port/v1/models/mnist:predict"); echo "$l" >>"$work/loom.txt"
  cpu_rest=$(server_us "$loom_pid" "$t0" "$l"); t0=$(cpu_ticks "$loom_pid")
  g=$("$grpc_load" --target "127.0.0.1:$loom_grpc_port" --model mnist --image "$work/image.txt" \
      --connections "$connections" --threads "$threads" --seconds "$seconds"); echo "$g" >>"$work/loom_grpc.txt"
  cpu_grpc=$(server_us "$loom_pid" "$t0" "$g"); t0=$(cpu_ticks "$loom_pid")
  h=$(run_h2load "$connections" "$loom_grpc_port"); echo "$h" >>"$work/loom_h2load.txt"
  cpu_h2=$(server_us "$loom_pid" "$t0" "$h"); t0=$(cpu_ticks "$loom_pid")
  gm=$("$grpc_load" --target "127.0.0.1:$loom_grpc_port" --model mnist --image "$work/image.txt" \
      --connections "$mux_connections" --calls_per_connection "$mux_streams" --threads "$threads" \
      --seconds "$seconds"); echo "$gm" >>"$work/loom_grpc_mux.txt"
  cpu_grpc_mux=$(server_us "$loom_pid" "$t0" "$gm"); t0=$(cpu_ticks "$loom_pid")
  hm=$(run_h2load "$mux_connections" "$loom_grpc_port" "$mux_streams"); echo "$hm" >>"$work/loom_h2load_mux.txt"
  cpu_h2_mux=$(server_us "$loom_pid" "$t0" "$hm")
  echo "$cpu_rest $cpu_grpc $cpu_h2 $cpu_grpc_mux $cpu_h2_mux" >>"$work/loom_cpu.txt"
  v=$(run_wrk "$connections" "http://127.0.0.1:$loom_port/v2/models/mnist/infer" "$work/infer.lua"); echo "$v" >>"$work/loom_v2.txt"
  o="-"
  if [[ -z $skip_ort ]]; then o=$(run_wrk "$connections" "http://127.0.0.1:$ort_port/"); echo "$o" >>"$work/ort.txt"; fi
  n=$(run_wrk "$connections" "http://127.0.0.1:$nginx_port/predict.json"); echo "$n" >>"$work/nginx.txt"
  echo "   round $r: loom server CPU per request (us): REST $cpu_rest, gRPC $cpu_grpc, gRPC h2load $cpu_h2," \
       "gRPC shared connections $cpu_grpc_mux, h2load $cpu_h2_mux"
  echo "   round $r: loom [$l]  loom gRPC [$g]  loom gRPC h2load [$h]  loom gRPC shared [$gm]  h2load shared [$hm]" \
       " loom v2 [$v]  onnxruntime [$o]  nginx [$n]   (req/s p50_ms p99_ms non2xx socket_errors)"
done
servers=("loom serve (predict, 784 floats)=$work/loom.txt" "loom serve, gRPC Predict (same image)=$work/loom_grpc.txt"
         "loom serve, gRPC Predict, h2load (same)=$work/loom_h2load.txt"
         "gRPC, ${mux_connections} conns x ${mux_streams} calls=$work/loom_grpc_mux.txt"
         "gRPC, h2load, ${mux_connections} conns x ${mux_streams} calls=$work/loom_h2load_mux.txt"
         "loom serve, KServe v2 infer (same)=$work/loom_v2.txt")
[[ -z $skip_ort ]] && servers+=("ONNX Runtime, Node http (same)=$work/ort.txt")
servers+=("nginx static answer, same size=$work/nginx.txt")
report "${servers[@]}"
python3 - "$work/loom.txt" "$work/loom_grpc.txt" "$work/loom_h2load.txt" "$work/loom_cpu.txt" \
  "$work/loom_grpc_mux.txt" "$work/loom_h2load_mux.txt" <<'PY'
import statistics, sys
rest, grpc, h2, cpu, grpc_mux, h2_mux = ([list(map(float, l.split())) for l in open(p) if l.strip()]
                                         for p in sys.argv[1:7])
med = lambda rows, i: statistics.median(r[i] for r in rows)
names = ["grpc_load", "h2load", "grpc_load, shared connections", "h2load, shared connections"]
print("loom serve's CPU per request (medians, us): REST %.1f; gRPC %s" %
      (med(cpu, 0), ", ".join(f"{med(cpu, i + 1):.1f} ({n})" for i, n in enumerate(names))))
print("gRPC / REST, loom serve's CPU per request: " +
      ", ".join(f"{med(cpu, i + 1) / med(cpu, 0):.2f} ({n})" for i, n in enumerate(names)))
for name, rows in zip(names, (grpc, h2, grpc_mux, h2_mux)):
    print(f"gRPC ({name}) / REST: {med(rows, 0) / med(rest, 0):.2f} (req/s), p99 {med(rows, 2) / med(rest, 2):.2f} "
          f"(targets: >= 1.00 and <= 1.10)")
PY
echo "targets: Loom / nginx >= 0.50, Loom / ONNX Runtime >= 3, Loom p99 <= 5 ms"

if ((batch_connections > 0)); then
  # TF Serving's batching parameters for this model: a batch of up to 64 images, closed after at
  # most 1 ms (its first request's wait), one batch thread (the model is a few microseconds an
  # image: the CPUs are better spent on HTTP and parsing), room for every connection's request.
  cat >"$work/batching.config" <<'CFG'
max_batch_size { value: 64 }
batch_timeout_micros { value: 1000 }
max_enqueued_batches { value: 1000 }
num_batch_threads { value: 1 }
CFG
  echo
  echo "== batching: $batch_connections connections, --enable_batching --batching_parameters_file with"
  sed 's/^/   /' "$work/batching.config"
  start_loom "$work/serve_batching.log" --enable_batching --batching_parameters_file "$work/batching.config" --metrics
  batch_port=$port_started
  : >"$work/loom_batching.txt"
  : >"$work/loom_256.txt"
  : >"$work/nginx_256.txt"
  echo "== wrk -t$threads -c$batch_connections -d${seconds}s, $rounds alternating rounds"
  for r in $(seq "$rounds"); do
    b=$(run_wrk "$batch_connections" "http://127.0.0.1:$batch_port/v1/models/mnist:predict"); echo "$b" >>"$work/loom_batching.txt"
    l=$(run_wrk "$batch_connections" "http://127.0.0.1:$loom_port/v1/models/mnist:predict"); echo "$l" >>"$work/loom_256.txt"
    n=$(run_wrk "$batch_connections" "http://127.0.0.1:$nginx_port/predict.json"); echo "$n" >>"$work/nginx_256.txt"
    echo "   round $r: loom batching [$b]  loom [$l]  nginx [$n]"
  done
  metrics=$(curl -s "http://127.0.0.1:$batch_port/monitoring/prometheus/metrics")
  python3 - "$metrics" <<'PY'
import re, sys
t = sys.argv[1]
def v(name): return float(re.search("^" + re.escape(name) + r" (\S+)$", t, re.M).group(1))
n, total = v(":loom:serving:batching:processed_batch_size_count"), v(":loom:serving:batching:processed_batch_size_sum")
print(f"   batches run: {n:.0f}, examples {total:.0f}, mean batch size {total / max(n, 1):.1f}")
PY
  report "loom serve --enable_batching=$work/loom_batching.txt" "loom serve, no batching=$work/loom_256.txt" \
    "nginx static answer, same size=$work/nginx_256.txt"
fi
