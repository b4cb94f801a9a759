// Dataset: examples held in memory as dense float rows plus integer labels, the form the
// trainer, the evaluator and the Batcher read. Plain data: copyable, no invariants enforced
// beyond what its producers (LoadMnist) guarantee; Batcher::Create checks the shapes.
#pragma once

#include <cstdint>
#include <vector>

namespace loom {

struct Dataset {
  int64_t size = 0;                // number of examples
  int64_t features = 784;          // floats per example (28x28 for MNIST)
  std::vector<float> images;       // size * features, row-major; MNIST pixels as pixel / 255.f
  std::vector<int32_t> labels;     // size class ids (0..9 for MNIST)

  // REQUIRES: 0 <= i < size.
  const float* image(int64_t i) const { return images.data() + i * features; }
};

}  // namespace loom
