#include "data/dataset.h"

#include <cstring>

namespace loom {

// Compiled for AVX-512, AVX2 and baseline x86-64, the best picked at load time.
__attribute__((target_clones("avx512f", "avx2", "default")))
void PixelsToUnitFloats(const uint8_t* bytes, int64_t n, float* out) {
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<float>(bytes[k]) / 255.f;
}

void Dataset::CopyImage(int64_t i, float* out) const {
  if (held_as_pixels()) {
    PixelsToUnitFloats(pixels.data() + i * features, features, out);
  } else {
    std::memcpy(out, image(i), sizeof(float) * static_cast<size_t>(features));
  }
}

}  // namespace loom
