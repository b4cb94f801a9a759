// The math under the layers (internal to nn/). Matrix products and convolutions are oneDNN
// primitives in layers.cc (see src/nn/README.md for why oneDNN); the O(n) loops here (ReLU,
// reductions, softmax, max-pool) are plain loops compiled for AVX-512, AVX2 and baseline
// x86-64, picked at run time.
// All matrices are row-major. Every function is thread-compatible: callers own their buffers.
#pragma once

#include <cstdint>
#include <vector>

namespace loom::nn::kernels {

// Makes oneDNN run single-threaded on the calling thread (its OpenMP team size). Cheap; call
// on each thread that runs the math, so that our own threads are the only parallelism.
void UseOneThreadHere();

// Flushes denormal floats to zero (MXCSR FTZ and DAZ) on this thread while in scope, as
// TensorFlow does on its compute threads. Without it, Adam's slots of parameters whose gradient
// has gone to zero (dead ReLUs) decay into denormals and each update costs ~100x more.
class ScopedFlushDenormal {
 public:
  ScopedFlushDenormal();
  ~ScopedFlushDenormal();
  ScopedFlushDenormal(const ScopedFlushDenormal&) = delete;
  ScopedFlushDenormal& operator=(const ScopedFlushDenormal&) = delete;

 private:
  unsigned saved_;
};

// y = max(x, 0); y may equal x.
void Relu(const float* x, float* y, int64_t n);
// dx = y > 0 ? dy : 0; dx may equal dy.
void ReluBackward(const float* y, const float* dy, float* dx, int64_t n);
// sums[c] = sum over rows of x[r, c] (overwrites sums).
void ColumnSums(const float* x, int64_t rows, int64_t cols, float* sums);
// dy = y > 0 ? dy : 0 and sums[c] = sum over rows of that dy[r, c] (overwrites sums), in one
// pass: a fused ReLU's backward and its dense layer's bias gradient.
void ReluBackwardColumnSums(const float* y, float* dy, int64_t rows, int64_t cols, float* sums);
// dst += src.
void Add(const float* src, float* dst, int64_t n);

// Softmax cross-entropy over `rows` rows of `cols` logits with integer labels. Returns the sum
// of the per-row losses (not the mean) and adds the number of rows whose largest logit is the
// label to *correct. With dlogits non-null, writes (softmax - onehot) * scale there; with
// probabilities non-null, writes the softmax there. REQUIRES: 0 <= labels[r] < cols (labels may
// be null when only probabilities are wanted).
double SoftmaxCrossEntropy(const float* logits, const int32_t* labels, int64_t rows, int64_t cols,
                           float scale, float* dlogits, float* probabilities, int64_t* correct);

// Max pooling on NHWC, one example at a time: in [h, w, c] -> out [oh, ow, c], remembering
// for each output the offset of the winning input in argmax (for the backward pass).
struct PoolGeometry {
  int64_t h, w, c, oh, ow, window_h, window_w, stride_h, stride_w, pad_top, pad_left;
};
void MaxPool(const PoolGeometry& g, const float* in, float* out, int32_t* argmax);
// din (zeroed here first) receives dout at each output's winning input.
void MaxPoolBackward(const PoolGeometry& g, const float* dout, const int32_t* argmax, float* din);

// The nonzeros of a row-major [rows, cols] matrix, by row (and, once SparseTransposeTimesDense
// has run, by column), for products that skip the zeros: MNIST's pixels are 81% zeros, and
// the first layer's two big products cost what its nonzeros do (measured, one thread, a real
// batch of 100 at density 0.185 against 100 units: forward with bias and ReLU 108 us against
// oneDNN's 146 us; the kernel's gradient 110 us against 142 us; finding the nonzeros 14 us).
struct SparseRows {
  std::vector<int32_t> row_start;  // rows + 1: row r's nonzeros are [row_start[r], row_start[r+1])
  std::vector<int32_t> col;        // their columns
  std::vector<float> val;          // their values
  std::vector<int32_t> col_start, row, next;  // the same by column, and scratch for building it
  std::vector<float> col_val;
};
// Whether this CPU runs the functions below (AVX-512F); callers use oneDNN otherwise.
bool SparseProductsAvailable();
// Fills *s with the nonzeros of x[rows, cols]; returns how many there are.
int64_t FindNonzeros(const float* x, int64_t rows, int64_t cols, SparseRows* s);
// y[r, :] = bias + sum over x's nonzeros x[r, k] * w[k, :] (then max(., 0) when relu), with
// w [cols, units] and x given by s.
void SparseTimesDense(const SparseRows& s, int64_t rows, const float* w, const float* bias, int64_t units,
                      bool relu, float* y);
// dw[k, :] = sum over r of x[r, k] * dy[r, :] for every k < cols (X^T dY), x given by s.
void SparseTransposeTimesDense(SparseRows& s, int64_t rows, int64_t cols, const float* dy, int64_t units,
                               float* dw);

}  // namespace loom::nn::kernels
