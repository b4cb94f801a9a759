# The two commands: `make demo` and `make test`. Both install what they need first.
BUILD ?= build
JOBS ?= $(shell nproc)
# Seconds each libFuzzer test runs (its seed corpus, then mutations): 20 under CI (CI=true).
FUZZ_SECONDS ?= $(if $(filter true,$(CI)),20,60)
MNIST_DIR = $(shell scripts/fetch_mnist.sh)

.PHONY: all deps mnist build test test-unit demo image bench clean

all: build

deps:
	@scripts/install_deps.sh

mnist: deps
	@scripts/fetch_mnist.sh >/dev/null

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOOM_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build mnist
	LOOM_MNIST_DIR=$(MNIST_DIR) ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-unit: build mnist
	LOOM_MNIST_DIR=$(MNIST_DIR) ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L unit

# Installs, fetches and builds only what the demo runs, each a progress line (scripts/demo.sh).
demo:
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/demo.sh

# loom:latest in the local image store, built offline from this build and MNIST (loom image build).
image: build mnist
	LOOM_MNIST_DIR=$(MNIST_DIR) $(BUILD)/loom image build

clean:
	rm -rf $(BUILD)

# Benchmarks print ratios against peers measured in the same run; they are not tests.
bench: build mnist
	LOOM_WITH_TORCH=1 scripts/install_deps.sh
	@# PyTorch at its best: single-threaded BLAS under its own threads, and OpenBLAS told the
	@# AVX-512 core type that 0.3.21 fails to detect (bench/train_vs_pytorch/README.md).
	if grep -q avx512f /proc/cpuinfo && [ -z "$${OPENBLAS_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE=SkylakeX; fi; \
	PYTORCH_BLAS_THREADS=1 LOOM_MNIST_DIR=$(MNIST_DIR) bench/train_vs_pytorch/run.sh $(BUILD)/loom
