// Dataset: examples held in memory as dense rows plus integer labels, the form the trainer, the
// evaluator and the Batcher read. The rows are held one of two ways: as floats, or as bytes
// whose floats are byte / 255.f (MNIST's pixels: 4x smaller, and a batch gathered from them
// takes half the time, so LoadMnist keeps the training split that way). Plain data: copyable,
// no invariants enforced beyond what its producers (LoadMnist) guarantee; Batcher::Create
// checks the shapes.
#pragma once

#include <cstdint>
#include <vector>

#include "core/logging.h"

namespace loom {

struct Dataset {
  int64_t size = 0;                // number of examples
  int64_t features = 784;          // values per example (28x28 for MNIST)
  std::vector<float> images;       // size * features, row-major; empty when held as pixels
  std::vector<uint8_t> pixels;     // size * features bytes, each value byte / 255.f; empty
                                   // when held as images
  std::vector<int32_t> labels;     // size class ids (0..9 for MNIST)

  bool held_as_pixels() const { return !pixels.empty(); }
  // REQUIRES: 0 <= i < size, and the rows held as images (not pixels): a split held as pixels
  // has no floats to point at (CopyImage reads either).
  const float* image(int64_t i) const {
    LOOM_CHECK(!held_as_pixels()) << "Dataset::image: the rows are held as pixels; use CopyImage";
    return images.data() + i * features;
  }
  // Writes example i's features as floats to out[0, features), either way the rows are held.
  // REQUIRES: 0 <= i < size.
  void CopyImage(int64_t i, float* out) const;
};

// out[k] = bytes[k] / 255.f for k in [0, n): MNIST's pixels as TensorFlow's read_data_sets scales
// them (a division, as it does, not a multiplication by 1/255, whose rounding differs).
void PixelsToUnitFloats(const uint8_t* bytes, int64_t n, float* out);

}  // namespace loom
