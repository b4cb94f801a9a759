#include "nn/kernels.h"
#include "nn/libraries.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <immintrin.h>

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

// ---- sparse x dense products (AVX-512) ----

#define LOOM_AVX512 __attribute__((target("avx512f")))

bool SparseProductsAvailable() {
  static const bool available = __builtin_cpu_supports("avx512f");
  return available;
}


LOOM_AVX512 int64_t FindNonzeros(const float* x, int64_t rows, int64_t cols, SparseRows* s) {
  // Each 16-wide step stores 16 lanes (the nonzeros first): room for 16 past the last one.
  s->row_start.resize(static_cast<size_t>(rows + 1));
  s->col.resize(static_cast<size_t>(rows * cols + 16));
  s->val.resize(static_cast<size_t>(rows * cols + 16));
  int32_t* col = s->col.data();
  float* val = s->val.data();
  int64_t count = 0;
  const __m512i step = _mm512_set1_epi32(16);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t r = 0; r < rows; ++r) {
    s->row_start[r] = static_cast<int32_t>(count);
    const float* row = x + r * cols;
    __m512i index = iota;
    int64_t k = 0;
    for (; k + 16 <= cols; k += 16) {
      const __m512 v = _mm512_loadu_ps(row + k);
      const __mmask16 nz = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
      _mm512_storeu_ps(val + count, _mm512_maskz_compress_ps(nz, v));
      _mm512_storeu_si512(col + count, _mm512_maskz_compress_epi32(nz, index));
      count += __builtin_popcount(nz);
      index = _mm512_add_epi32(index, step);
    }
    for (; k < cols; ++k) {
      if (row[k] != 0.0f) { col[count] = static_cast<int32_t>(k); val[count] = row[k]; ++count; }
    }
  }
  s->row_start[rows] = static_cast<int32_t>(count);
  return count;
}

// One block of kVectors vectors (up to 128 columns) from column c0 of one output row:
// out = init + sum_e val[e] * m[idx[e], block], then max(., 0) when relu. Two sets of
// accumulators (even and odd e), all in registers, so that the FMA latency is hidden.
template <int kVectors>
LOOM_AVX512 __attribute__((always_inline)) static inline void RowBlock(const int32_t* idx, const float* val, int32_t count,
                                                                const float* m, int64_t ld, const float* init,
                                                                __mmask16 last_mask, bool relu, float* out) {
  __m512 a[kVectors], b[kVectors];
  auto mask = [&](int j) { return j == kVectors - 1 ? last_mask : static_cast<__mmask16>(0xFFFF); };
#pragma GCC unroll 8
  for (int j = 0; j < kVectors; ++j) {
    a[j] = init ? _mm512_maskz_loadu_ps(mask(j), init + 16 * j) : _mm512_setzero_ps();
    b[j] = _mm512_setzero_ps();
  }
  int32_t e = 0;
  for (; e + 2 <= count; e += 2) {
    const __m512 x0 = _mm512_set1_ps(val[e]), x1 = _mm512_set1_ps(val[e + 1]);
    const float* s0 = m + static_cast<int64_t>(idx[e]) * ld;
    const float* s1 = m + static_cast<int64_t>(idx[e + 1]) * ld;
#pragma GCC unroll 8
    for (int j = 0; j < kVectors; ++j) {
      a[j] = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(mask(j), s0 + 16 * j), a[j]);
      b[j] = _mm512_fmadd_ps(x1, _mm512_maskz_loadu_ps(mask(j), s1 + 16 * j), b[j]);
    }
  }
  if (e < count) {
    const __m512 x0 = _mm512_set1_ps(val[e]);
    const float* s0 = m + static_cast<int64_t>(idx[e]) * ld;
#pragma GCC unroll 8
    for (int j = 0; j < kVectors; ++j) a[j] = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(mask(j), s0 + 16 * j), a[j]);
  }
#pragma GCC unroll 8
  for (int j = 0; j < kVectors; ++j) {
    __m512 v = _mm512_add_ps(a[j], b[j]);
    if (relu) v = _mm512_maskz_max_ps(0xFFFF, v, _mm512_setzero_ps());  // (plain max_ps trips GCC 12's -Wmaybe-uninitialized)
    _mm512_mask_storeu_ps(out + 16 * j, mask(j), v);
  }
}

// out[units] (one row) = (bias or 0) + sum_e val[e] * m[idx[e], :], then max(., 0) when relu.
LOOM_AVX512 static void SparseRowTimesDense(const int32_t* idx, const float* val, int32_t count, const float* m,
                                     const float* bias, int64_t units, bool relu, float* out) {
  for (int64_t c0 = 0; c0 < units; c0 += 128) {
    const int64_t width = std::min<int64_t>(128, units - c0);
    const int vectors = static_cast<int>((width + 15) / 16);
    const int64_t tail = width - 16 * (vectors - 1);
    const __mmask16 last = static_cast<__mmask16>((1u << tail) - 1);
    const float* init = bias ? bias + c0 : nullptr;
    switch (vectors) {
      case 1: RowBlock<1>(idx, val, count, m + c0, units, init, last, relu, out + c0); break;
      case 2: RowBlock<2>(idx, val, count, m + c0, units, init, last, relu, out + c0); break;
      case 3: RowBlock<3>(idx, val, count, m + c0, units, init, last, relu, out + c0); break;
      case 4: RowBlock<4>(idx, val, count, m + c0, units, init, last, relu, out + c0); break;
      case 5: RowBlock<5>(idx, val, count, m + c0, units, init, last, relu, out + c0); break;
      case 6: RowBlock<6>(idx, val, count, m + c0, units, init, last, relu, out + c0); break;
      case 7: RowBlock<7>(idx, val, count, m + c0, units, init, last, relu, out + c0); break;
      default: RowBlock<8>(idx, val, count, m + c0, units, init, last, relu, out + c0); break;
    }
  }
}

LOOM_AVX512 void SparseTimesDense(const SparseRows& s, int64_t rows, const float* w, const float* bias, int64_t units,
                                  bool relu, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t b = s.row_start[r], e = s.row_start[r + 1];
    SparseRowTimesDense(s.col.data() + b, s.val.data() + b, e - b, w, bias, units, relu, y + r * units);
  }
}

LOOM_AVX512 void SparseTransposeTimesDense(SparseRows& s, int64_t rows, int64_t cols, const float* dy,
                                           int64_t units, float* dw) {
  // The nonzeros by column (a counting sort of the row-wise lists), then each row of dw in
  // registers.
  const int64_t count = s.row_start[rows];
  s.col_start.assign(cols + 1, 0);
  s.row.resize(count);
  s.col_val.resize(count);
  for (int64_t e = 0; e < count; ++e) ++s.col_start[s.col[e] + 1];
  for (int64_t k = 0; k < cols; ++k) s.col_start[k + 1] += s.col_start[k];
  std::vector<int32_t>& next = s.next;
  next.assign(s.col_start.begin(), s.col_start.end() - 1);
  for (int64_t r = 0; r < rows; ++r) {
    for (int32_t e = s.row_start[r]; e < s.row_start[r + 1]; ++e) {
      const int32_t at = next[s.col[e]]++;
      s.row[at] = static_cast<int32_t>(r);
      s.col_val[at] = s.val[e];
    }
  }
  for (int64_t k = 0; k < cols; ++k) {
    const int32_t b = s.col_start[k], e = s.col_start[k + 1];
    SparseRowTimesDense(s.row.data() + b, s.col_val.data() + b, e - b, dy, nullptr, units, false, dw + k * units);
  }
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
