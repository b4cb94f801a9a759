// The learning-rate schedule, shared by the single-process loop and the ps tasks so that both
// take the same step with the same rate.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace loom::train {

// tf.train.cosine_decay with alpha 0: the rate at `step` of a decay over `steps` steps.
inline double CosineDecay(double learning_rate, int64_t step, int64_t steps) {
  const double progress = steps > 0 ? std::min<double>(static_cast<double>(step), static_cast<double>(steps)) / static_cast<double>(steps) : 1.0;
  return learning_rate * 0.5 * (1.0 + std::cos(M_PI * progress));
}

// The rate for the update taken at global step `step` (before it is incremented).
// `decay` is "none" or "cosine".
inline double ScheduledLearningRate(double learning_rate, const std::string& decay, int64_t step,
                                    int64_t steps) {
  return decay == "cosine" ? CosineDecay(learning_rate, step, steps) : learning_rate;
}

}  // namespace loom::train
