#!/usr/bin/env bash
# swift-s3.sh: OpenStack Swift 2.30 + s3api on 127.0.0.1, a strict S3 server for tests.
#   swift-s3.sh STATE_DIR [PORT]  start; prints one line of AWS_* settings (also kept in STATE_DIR/env)
#   swift-s3.sh stop STATE_DIR    stop exactly the processes recorded in STATE_DIR/run/*.pid
set -euo pipefail
PY=/usr/bin/python3   # Debian's python3 has the swift modules; a pyenv/venv python3 on PATH has not
die() { echo "swift-s3: $*" >&2; exit 1; }
# A recorded PID is ours while it is alive, not a zombie, and has our marker in its environment.
ours() { [[ -r /proc/$1/environ ]] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null &&
         { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qxF "SWIFT_S3_STATE=$S"; }
stop() {  # SIGTERM, up to 5 s, then SIGKILL
  local f pid pids=() i alive
  for f in "$S"/run/*.pid; do
    [[ -e $f ]] || continue; pid=$(<"$f"); rm -f "$f"
    if ours "$pid"; then kill "$pid" 2>/dev/null || true; pids+=("$pid"); fi
  done
  for i in $(seq 50); do
    alive=0; for pid in "${pids[@]}"; do ours "$pid" && alive=1; done
    ((alive)) || return 0; sleep 0.1
  done
  for pid in "${pids[@]}"; do ours "$pid" && kill -9 "$pid" 2>/dev/null; done; return 0
}
if [[ ${1:-} == stop ]]; then [[ -d ${2:-} ]] || die "usage: $0 stop STATE_DIR"; S=$(cd "$2" && pwd); stop; exit 0; fi
[[ -n ${1:-} ]] || die "usage: $0 STATE_DIR [PORT] | $0 stop STATE_DIR"; PORT=${2:-0}
mkdir -p "$1"; S=$(cd "$1" && pwd)
for f in "$S"/run/*.pid; do [[ -e $f ]] && ours "$(<"$f")" && die "$S is in use (see $S/run)"; done
mkdir -p "$S/etc" "$S/node/d1" "$S/log" "$S/run"
# The object server keeps object metadata in user.* xattrs: fail here, not on the first PUT.
"$PY" -c 'import os, sys; p = sys.argv[1]; open(p, "w").close()
try: os.setxattr(p, "user.swift.probe", b"1")
finally: os.unlink(p)' "$S/node/d1/.xattr-probe" 2>/dev/null ||
  die "$S: cannot set user.* xattrs there (Swift needs them); use ext4, xfs or btrfs, not ramfs"
# Distinct free ports: proxy (PORT if given), account, container, object, memcached.
ports=$("$PY" -c 'import socket, sys
socks = [socket.socket() for _ in range(5)]
for s, want in zip(socks, [int(sys.argv[1]), 0, 0, 0, 0]): s.bind(("127.0.0.1", want))
print(*(s.getsockname()[1] for s in socks))' "$PORT" 2>/dev/null) || die "port $PORT is not free on 127.0.0.1"
read -r P_PROXY P_ACCOUNT P_CONTAINER P_OBJECT P_MEMCACHED <<<"$ports"
# Once per state dir: stored data is found by hashes salted with these. No policy: "Policy-0" only.
[[ -f $S/etc/swift.conf ]] || cat >"$S/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = $(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
swift_hash_path_suffix = $(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
EOF
cat >"$S/etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $P_PROXY
workers = 0
swift_dir = $S/etc
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$P_MEMCACHED
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
EOF
for m in catch_errors gatekeeper healthcheck proxy-logging copy slo dlo; do   # egg names use '_'
  printf '[filter:%s]\nuse = egg:swift#%s\n' "$m" "${m/-/_}" >>"$S/etc/proxy-server.conf"
done
for svc in account container object; do
  port_var=P_${svc^^}
  cat >"$S/etc/$svc-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${!port_var}
workers = 0
devices = $S/node
mount_check = false
disable_fallocate = true
swift_dir = $S/etc
[pipeline:main]
pipeline = healthcheck $svc-server
[app:$svc-server]
use = egg:swift#$svc
[filter:healthcheck]
use = egg:swift#healthcheck
EOF
done
# One-replica, one-device rings, rebuilt each start (ports change). As swift-ring-builder X.builder
# create 6 1 1 / add r1z1-127.0.0.1:PORT/d1 1 / rebalance, in one python start-up instead of nine.
"$PY" -c 'import sys
from swift.common.ring import RingBuilder
for name, port in zip(["account", "container", "object"], sys.argv[2:]):
    b = RingBuilder(6, 1, 1)   # part_power, replicas, min_part_hours
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port), "device": "d1", "weight": 1})
    b.rebalance()
    b.get_ring().save("%s/%s.ring.gz" % (sys.argv[1], name))' "$S/etc" "$P_ACCOUNT" "$P_CONTAINER" "$P_OBJECT"
rm -f "$S/env"; trap 'exit 1' INT TERM; trap '[[ -f $S/env ]] || stop' EXIT   # no half-started server
export SWIFT_S3_STATE=$S   # the marker ours() looks for
memcached -l 127.0.0.1 -p "$P_MEMCACHED" -U 0 -m 64 -u "$(id -un)" >"$S/log/memcached.log" 2>&1 &
echo $! >"$S/run/memcached.pid"
# Swift 2.30 reads swift.conf from /etc/swift only (swift_dir moves the rings, not swift.conf),
# so run each server's own entry script after set_swift_dir() has pointed it at ours.
for svc in account container object proxy; do
  "$PY" -c 'import runpy, sys, swift.common.utils as u
u.set_swift_dir(sys.argv[1]); sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")' \
    "$S/etc" "/usr/bin/swift-$svc-server" "$S/etc/$svc-server.conf" --verbose >"$S/log/$svc.log" 2>&1 &
  echo $! >"$S/run/$svc.pid"
done
ready() { local port_var=P_${1^^}; if [[ $1 == memcached ]]; then (: <>"/dev/tcp/127.0.0.1/$P_MEMCACHED")
  else curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:${!port_var}/healthcheck"; fi 2>/dev/null; }
# 30 s is plenty on an idle machine; a loaded one (a parallel `make test`) has taken 50 s.
ready_timeout=${SWIFT_S3_READY_TIMEOUT:-120}
deadline=$((SECONDS + ready_timeout))
for svc in memcached account container object proxy; do
  until ready "$svc"; do
    for f in "$S"/run/*.pid; do
      n=$(basename "$f" .pid); ours "$(<"$f")" || { tail -n 20 "$S/log/$n.log" >&2; die "$n exited; see $S/log/$n.log"; }
    done
    ((SECONDS < deadline)) || die "$svc not ready within $ready_timeout s; see $S/log"
    sleep 0.1
  done
done
echo "AWS_ENDPOINT_URL=http://127.0.0.1:$P_PROXY AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1" |
  tee "$S/env"
