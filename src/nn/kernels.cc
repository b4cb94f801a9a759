#include "nn/kernels.h"
#include "nn/libraries.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/logging.h"

// Function multi-versioning: the loader picks the best clone for the CPU once; the build never
// uses -march=native, so one binary runs everywhere.
#define LOOM_VECTORIZE __attribute__((target_clones("avx512f", "avx2", "default")))

namespace loom::nn::kernels {

void UseOneThreadHere() {
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

ScopedFlushDenormal::ScopedFlushDenormal() : saved_(_mm_getcsr()) {
  _mm_setcsr(saved_ | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
}

ScopedFlushDenormal::~ScopedFlushDenormal() { _mm_setcsr(saved_); }

LOOM_VECTORIZE void Relu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

LOOM_VECTORIZE void ReluBackward(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

LOOM_VECTORIZE void ColumnSums(const float* x, int64_t rows, int64_t cols, float* sums) {
  for (int64_t c = 0; c < cols; ++c) sums[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    for (int64_t c = 0; c < cols; ++c) sums[c] += row[c];
  }
}

LOOM_VECTORIZE void ReluBackwardColumnSums(const float* y, float* dy, int64_t rows, int64_t cols,
                                           float* sums) {
  for (int64_t c = 0; c < cols; ++c) sums[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* y_row = y + r * cols;
    float* dy_row = dy + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      dy_row[c] = y_row[c] > 0.0f ? dy_row[c] : 0.0f;
      sums[c] += dy_row[c];
    }
  }
}

LOOM_VECTORIZE void Add(const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

double SoftmaxCrossEntropy(const float* logits, const int32_t* labels, int64_t rows, int64_t cols,
                           float scale, float* dlogits, float* probabilities, int64_t* correct) {
  // Each exponential is taken once, in float, into the row of the output being written (the
  // loss is summed in double). It was twice per element in double: 10% of a training step.
  std::vector<float> scratch;
  if (!dlogits && !probabilities) scratch.resize(static_cast<size_t>(cols));
  double loss = 0;
  int64_t right = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * cols;
    float* e = probabilities ? probabilities + r * cols : dlogits ? dlogits + r * cols : scratch.data();
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c)
      if (z[c] > z[best]) best = c;
    const float max = z[best];
    float sum = 0;
    for (int64_t c = 0; c < cols; ++c) {
      e[c] = std::exp(z[c] - max);
      sum += e[c];
    }
    if (labels) {
      const int32_t label = labels[r];
      LOOM_CHECK(label >= 0 && label < cols) << "label " << label << " out of range";
      loss += std::log(static_cast<double>(sum)) - (z[label] - max);
      if (best == label) ++right;
    }
    const float inv = 1.0f / sum;
    if (dlogits) {  // before probabilities: e may be that row
      float* d = dlogits + r * cols;
      for (int64_t c = 0; c < cols; ++c) d[c] = e[c] * inv * scale;
      if (labels) d[labels[r]] -= scale;
    }
    if (probabilities)
      for (int64_t c = 0; c < cols; ++c) probabilities[r * cols + c] = e[c] * inv;
  }
  if (correct) *correct += right;
  return loss;
}

LOOM_VECTORIZE void MaxPool(const PoolGeometry& g, const float* in, float* out, int32_t* argmax) {
  const int64_t c_count = g.c;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      float* o = out + (oy * g.ow + ox) * c_count;
      int32_t* a = argmax + (oy * g.ow + ox) * c_count;
      for (int64_t c = 0; c < c_count; ++c) {
        o[c] = -std::numeric_limits<float>::infinity();
        a[c] = -1;
      }
      for (int64_t ky = 0; ky < g.window_h; ++ky) {
        const int64_t iy = oy * g.stride_h - g.pad_top + ky;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t kx = 0; kx < g.window_w; ++kx) {
          const int64_t ix = ox * g.stride_w - g.pad_left + kx;
          if (ix < 0 || ix >= g.w) continue;
          const int32_t base = static_cast<int32_t>((iy * g.w + ix) * c_count);
          const float* x = in + base;
          for (int64_t c = 0; c < c_count; ++c) {
            const bool take = x[c] > o[c] || a[c] < 0;
            o[c] = take ? x[c] : o[c];
            a[c] = take ? base + static_cast<int32_t>(c) : a[c];
          }
        }
      }
    }
  }
}

void MaxPoolBackward(const PoolGeometry& g, const float* dout, const int32_t* argmax, float* din) {
  std::fill(din, din + g.h * g.w * g.c, 0.0f);
  const int64_t n = g.oh * g.ow * g.c;
  for (int64_t i = 0; i < n; ++i) din[argmax[i]] += dout[i];
}

}  // namespace loom::nn::kernels

namespace loom::nn::kernels {

std::string MathLibraryVersion() {
  const dnnl_version_t* v = dnnl_version();
  std::string text = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  const std::string hash = v->hash != nullptr ? v->hash : "";
  if (!hash.empty() && hash != "N/A") text += " (commit " + hash + ")";
  return text;
}

}  // namespace loom::nn::kernels
