// nn_step_bench: examples/s of one training step (Model::ComputeGradients + Optimizer::Apply,
// Adam) on random data of MNIST's shape, for the example MLP and the example CNN, on 1 and 2
// threads; and, for the record of why src/nn uses oneDNN, the MLP's matrix products timed in
// OpenBLAS's cblas_sgemm and oneDNN's dnnl_sgemm side by side; and the first layer's two big
// products in the sparse kernels (which dense layers use on mostly-zero inputs) against
// dnnl_sgemm, at several densities of the input.
//
//   nn_step_bench [--seconds=2] [--only=mlp|cnn|gemm|sparse]
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "nn/kernels.h"
#include "nn/model.h"
#include "nn/optimizer.h"

namespace {

using Clock = std::chrono::steady_clock;
using loom::nn::Model;
using loom::nn::ModelOptions;
using loom::nn::ModelSpec;

// Runs fn repeatedly for about `seconds` (after a warm-up) and returns calls per second.
double Rate(double seconds, const std::function<void()>& fn) {
  for (int i = 0; i < 20; ++i) fn();
  int64_t calls = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  int64_t batch = 1;
  while (elapsed < seconds) {
    for (int64_t i = 0; i < batch; ++i) fn();
    calls += batch;
    batch = std::min<int64_t>(batch * 2, 256);
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return calls / elapsed;
}

void BenchModel(const std::string& label, const ModelSpec& spec, double seconds) {
  const int64_t batch = 100, batches = 50;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> images(batches * batch * 784);
  for (float& x : images) x = pixel(rng);
  std::vector<int32_t> labels(batches * batch);
  for (int32_t& l : labels) l = static_cast<int32_t>(rng() % 10);
  double one_thread_steps = 0;
  for (int threads : {1, 2}) {
    ModelOptions options;
    options.num_threads = threads;
    options.max_batch = batch;
    auto model = Model::Create(spec, options);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      std::exit(1);
    }
    (*model)->InitParameters(1);
    loom::nn::OptimizerOptions opt_options;
    opt_options.num_threads = threads;
    auto opt = loom::nn::Optimizer::Create(opt_options);
    int64_t b = 0;
    auto& m = **model;
    const double grads = Rate(seconds / 3, [&] {
      m.ComputeGradients(images.data() + b * batch * 784, labels.data() + b * batch, batch);
      b = (b + 1) % batches;
    });
    const double applies = Rate(seconds / 3, [&] { (*opt)->Apply(m.parameters()); });
    const double steps = Rate(seconds, [&] {
      m.ComputeGradients(images.data() + b * batch * 784, labels.data() + b * batch, batch);
      (*opt)->Apply(m.parameters());
      b = (b + 1) % batches;
    });
    if (threads == 1) one_thread_steps = steps;
    std::printf("%-4s threads=%d  step: %9.0f examples/s (%7.1f us/step)   ComputeGradients %7.1f us   Adam Apply %6.1f us",
                label.c_str(), threads, steps * batch, 1e6 / steps, 1e6 / grads, 1e6 / applies);
    if (threads > 1) std::printf("   x%.2f of 1 thread", steps / one_thread_steps);
    std::printf("\n");
    std::fflush(stdout);
  }
}

void BenchGemm(double seconds) {
  struct Shape {
    const char* what;
    bool ta, tb;
    int64_t m, n, k;
  };
  const Shape shapes[] = {
      {"forward  X[100,784] W1[784,100]", false, false, 100, 100, 784},
      {"dW1 = X^T[784,100] dH[100,100]", true, false, 784, 100, 100},
      {"forward  X[50,784] W1 (half batch)", false, false, 50, 100, 784},
      {"dW1 = X^T[784,50] dH[50,100]", true, false, 784, 100, 50},
      {"logits   H[100,100] W2[100,10]", false, false, 100, 10, 100},
      {"dH = dY[100,10] W2^T", false, true, 100, 100, 10},
      {"1024 cube", false, false, 1024, 1024, 1024},
  };
  openblas_set_num_threads(1);
  omp_set_num_threads(1);  // oneDNN's team: one thread, as src/nn runs it
  std::printf("one thread each; OpenBLAS core \"%s\" (%s)\n", openblas_get_corename(), openblas_get_config());
  for (const Shape& s : shapes) {
    std::vector<float> a(s.m * s.k, 0.5f), bm(s.k * s.n, 0.25f), c(s.m * s.n);
    const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    const double t = s.m == 1024 ? seconds : seconds / 4;
    const double blas = Rate(t, [&] {
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, s.m, s.n,
                  s.k, 1.0f, a.data(), lda, bm.data(), ldb, 0.0f, c.data(), s.n);
    });
    const double dnnl = Rate(t, [&] {
      dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.m, s.n, s.k, 1.0f, a.data(), lda, bm.data(), ldb, 0.0f,
                 c.data(), s.n);
    });
    const double flop = 2.0 * s.m * s.n * s.k;
    std::printf("%-36s OpenBLAS %8.1f us %6.1f GFLOP/s   oneDNN %8.1f us %6.1f GFLOP/s\n", s.what, 1e6 / blas,
                blas * flop / 1e9, 1e6 / dnnl, dnnl * flop / 1e9);
    std::fflush(stdout);
  }
}

// X[100,784] with the given fraction of nonzeros (random places, values in (0,1]) times
// W[784,100]: forward (with bias and ReLU on the sparse side) and dW = X^T dY, each in the
// sparse kernels and in dnnl_sgemm. MNIST's pixels are 0.19 nonzero.
void BenchSparse(double seconds) {
  using namespace loom::nn;
  if (!kernels::SparseProductsAvailable()) {
    std::printf("sparse: this CPU has no AVX-512F; dense layers use oneDNN only\n");
    return;
  }
  omp_set_num_threads(1);
  const int64_t n = 100, in = 784, units = 100;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> w(in * units), bias(units), dy(n * units), y(n * units), dw(in * units);
  for (float& v : w) v = u(rng) - 0.5f;
  for (float& v : bias) v = u(rng) - 0.5f;
  for (float& v : dy) v = u(rng) - 0.5f;
  std::printf("one thread, X[100,784] W[784,100]; sparse = the kernels that skip X's zeros\n");
  for (double density : {0.10, 0.19, 0.25, 0.40}) {
    std::vector<float> x(n * in, 0.0f);
    for (float& v : x)
      if (u(rng) < density) v = 1.0f - u(rng);
    kernels::SparseRows nz;
    const double t = seconds / 8;
    const double sparse_fwd = Rate(t, [&] {
      kernels::FindNonzeros(x.data(), n, in, &nz);
      kernels::SparseTimesDense(nz, n, w.data(), bias.data(), units, true, y.data());
    });
    const double dense_fwd = Rate(t, [&] {
      dnnl_sgemm('N', 'N', n, units, in, 1.0f, x.data(), in, w.data(), units, 0.0f, y.data(), units);
    });
    kernels::FindNonzeros(x.data(), n, in, &nz);
    const double sparse_dw = Rate(t, [&] { kernels::SparseTransposeTimesDense(nz, n, in, dy.data(), units, dw.data()); });
    const double dense_dw = Rate(t, [&] {
      dnnl_sgemm('T', 'N', in, units, n, 1.0f, x.data(), in, dy.data(), units, 0.0f, dw.data(), units);
    });
    std::printf("density %.2f  forward: sparse %6.1f us (nonzeros found + bias + ReLU), dnnl_sgemm %6.1f us, x%.2f"
                "   dW: sparse %6.1f us, dnnl_sgemm %6.1f us, x%.2f\n",
                density, 1e6 / sparse_fwd, 1e6 / dense_fwd, sparse_fwd / dense_fwd, 1e6 / sparse_dw, 1e6 / dense_dw,
                sparse_dw / dense_dw);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) {
      seconds = std::atof(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--only=", 7) == 0) {
      only = argv[i] + 7;
    } else {
      std::fprintf(stderr, "usage: nn_step_bench [--seconds=2] [--only=mlp|cnn|gemm|sparse]\n");
      return 2;
    }
  }
  // oneDNN runs on OpenMP; the model sets each of its threads to a team of one itself.
  if (only.empty() || only == "mlp") BenchModel("mlp", ModelSpec::Mlp(100), seconds);
  if (only.empty() || only == "cnn") {
    auto cnn = ModelSpec::FromJson(*loom::ParseYaml(R"(
input_shape: [28, 28, 1]
layers:
  - {type: conv2d, filters: 16, kernel_size: 5, padding: same}
  - {type: relu}
  - {type: max_pool, pool_size: 2}
  - {type: conv2d, filters: 32, kernel_size: 5, padding: same}
  - {type: relu}
  - {type: max_pool, pool_size: 2}
  - {type: flatten}
  - {type: dense, units: 128}
  - {type: relu}
  - {type: dense, units: 10}
)", "cnn"), "examples/mnist/cnn.yaml (copy)");
    BenchModel("cnn", *cnn, seconds);
  }
  if (only.empty() || only == "gemm") BenchGemm(seconds);
  if (only.empty() || only == "sparse") BenchSparse(seconds);
  return 0;
}
