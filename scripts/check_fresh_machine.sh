#!/usr/bin/env bash
# Proves that the README's two commands work on a fresh Debian 12 machine, not only on one where
# packages were installed by hand: builds a minimal Debian 12 root with debootstrap (no Docker
# needed), clones the committed main of this repository into it, and runs `make test` (or, with
# --demo, `make demo`) there as its root file system (pivot_root in a mount namespace), as root,
# with CI=true, no stdin and a clean environment.
#
#   scripts/check_fresh_machine.sh [--fresh] [--demo] [--root DIR]
#
#   --fresh     delete the root and debootstrap it anew (otherwise a root made earlier is reused,
#               with whatever earlier runs installed into it; a root used by the chroot version of
#               this script holds the symlinks its pods left at their mount paths, which now fail
#               the pods' bind mounts: start such a root --fresh)
#   --demo      run `make demo` instead of `make test`
#   --root DIR  where the Debian root lives (default /var/tmp/loom-fresh-root; never in the repo)
#
# The root is `debootstrap --variant=minbase` plus ca-certificates: apt, but no make, git, curl,
# compiler or Node.js. Neither minbase nor debootstrap's default variant contains make (Priority:
# optional), so the first step a user takes on such a machine, `apt-get install make`, is done
# here too, visibly; everything else must come from the project's own scripts.
# The site certificate authorities of this machine (/usr/local/share/ca-certificates) are copied
# in, as resolv.conf is: they are the network's setup, which any machine on it has.
# Must run as root (debootstrap, mount, unshare, pivot_root). Prints each phase's time and the tail of make's
# output (the whole of it is in $root.log), and exits with make's exit code.
set -euo pipefail

root=/var/tmp/loom-fresh-root
fresh=0
target=test
mirror=http://deb.debian.org/debian
while (($#)); do
  case "$1" in
    --fresh) fresh=1 ;;
    --demo) target=demo ;;
    --root) shift; root=${1:?--root needs a directory} ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "check_fresh_machine: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "check_fresh_machine: must run as root (debootstrap, mount, unshare)" >&2; exit 2; }
root=$(realpath -m "$root")
case "$root/" in
  "$repo"/*) echo "check_fresh_machine: --root $root is inside the repository $repo" >&2; exit 2 ;;
  /|//) echo "check_fresh_machine: refusing --root /" >&2; exit 2 ;;
esac
log=$root.log

phase_start=$SECONDS
phase() {  # phase NAME: prints the time the previous phase took, then starts NAME
  local now=$SECONDS
  [[ -n "${phase_name:-}" ]] && printf '== %-28s %5ds\n' "$phase_name" $((now - phase_start))
  phase_name=$1; phase_start=$now
  [[ -n "$phase_name" ]] && echo "== $phase_name ..."
  return 0
}

# Anything still mounted under the root (deepest first), so that nothing of the host is ever
# deleted through a bind mount and every mount is undone on exit.
mounts_under_root() { findmnt -rn -o TARGET | grep -E "^$root(/|$)" | sort -r || true; }
unmount_all() {
  local m
  for m in $(mounts_under_root); do umount "$m" 2>/dev/null || umount -l "$m"; done
}
trap unmount_all EXIT
trap 'exit 130' INT TERM HUP  # so that EXIT's unmounting runs on these too
unmount_all  # leftovers of an interrupted run

if ((fresh)) && [[ -e "$root" ]]; then
  phase "remove old root"
  [[ -z "$(mounts_under_root)" ]] || { echo "check_fresh_machine: still mounted under $root" >&2; exit 1; }
  rm -rf --one-file-system "$root"
fi

if [[ ! -f "$root/.loom-debootstrap-done" ]]; then
  phase "debootstrap bookworm"
  command -v debootstrap >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  rm -rf --one-file-system "$root"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" \
    >"$root.debootstrap.log" 2>&1 || {
    tail -n 20 "$root.debootstrap.log"; echo "check_fresh_machine: debootstrap failed" >&2; exit 1; }
  # What a Debian 12 installer writes: the main archive, its updates and security.
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  touch "$root/.loom-debootstrap-done"
else
  echo "== reusing $root (pass --fresh to start from a new debootstrap)"
fi

phase "mount and clone"
mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The network setup of this machine, like resolv.conf: certificate authorities a site adds to
# Debian's (where an HTTPS proxy re-signs traffic, npm fails without them: SELF_SIGNED_CERT_IN_CHAIN).
# A fresh machine on the same network needs them installed the same way.
rm -f "$root"/usr/local/share/ca-certificates/*.crt
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
rm -rf --one-file-system "$root/root/loom"
# The committed main only: no work tree edits, no build directories, no data/.
git clone -q --no-hardlinks --branch main "$repo" "$root/root/loom"
echo "commit: $(git -C "$root/root/loom" log -1 --format='%h %s')"
echo "site CAs: $(cd "$root/usr/local/share/ca-certificates" && echo *.crt)"

# The shell line $1 inside the root: as root, clean environment, no stdin. The root becomes
# `/` the way a container runtime makes it (a private mount namespace, the root bound onto itself,
# pivot_root), not by chroot: in a chroot `/` is no mount point, so pods' mount namespaces and
# `ip netns` (mount --make-rslave /) fail there although they work on a real machine.
run_in_root() {
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root CI=true \
    TERM=dumb unshare --mount --propagation private -- /bin/sh -c '
      set -e
      mount --rbind "$0" "$0"
      cd "$0"
      mkdir -p .loom-oldroot
      pivot_root . .loom-oldroot
      umount -l /.loom-oldroot
      exec /bin/bash -c "$1"' "$root" "$1" </dev/null
}

run_in_root "update-ca-certificates >/dev/null"

phase "apt-get install make (user)"
run_in_root 'command -v make >/dev/null && echo "make is already there" || {
  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq make >/dev/null; }'

phase "make $target"
echo "   (output goes to $log)"
: >"$log"
set +e
run_in_root "cd /root/loom && make $target" 2>&1 |
  while IFS= read -r line; do printf '[%5ds] %s\n' $((SECONDS - phase_start)) "$line"; done >>"$log"
status=${PIPESTATUS[0]}
set -e
if [[ $target == demo ]]; then
  # `loom demo` leaves its model server up for the UI (--keep_serving); the root shares this
  # machine's network, so stop it rather than leave port 8501 taken.
  run_in_root 'for f in /root/.loom/run/serve-*.pid; do [ -f "$f" ] && kill "$(cat "$f")"; done; true'
fi
phase ""

echo "== last lines of make $target (all of it: $log; [seconds] since make started)"
tail -n 40 "$log"
echo "== make $target exited with $status"
exit "$status"
