// Writes small real Loom bundles (the example MLP with seeded random weights) for serving tests,
// and a deliberately broken twin.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/file.h"
#include "export/bundle.h"
#include "nn/model.h"

namespace loom::serving::testing {

// <base>/<version> with the example MLP initialised from `seed`.
inline std::string WriteTestBundle(const std::string& base, int64_t version, uint64_t seed) {
  nn::ModelSpec spec = nn::ModelSpec::Mlp(100);
  auto model = nn::Model::Create(spec, nn::ModelOptions{});
  EXPECT_TRUE(model.ok());
  (*model)->InitParameters(seed);
  exporter::ExportOptions options;
  options.base_path = base;
  options.version = version;
  auto dir = exporter::WriteBundle(options, spec, (*model)->ParameterTensors());
  EXPECT_TRUE(dir.ok()) << dir.status().message();
  return dir.ok() ? *dir : "";
}

// <base>/<version> whose model.json is not JSON (a corrupt export).
inline void WriteCorruptBundle(const std::string& base, int64_t version) {
  std::string dir = JoinPath(base, std::to_string(version));
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "model.json"), "{\"format\": ").ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "weights.safetensors"), "garbage").ok());
}

// A deterministic MNIST-sized image in [0, 1], different for each seed.
inline std::vector<float> TestImage(int seed) {
  std::vector<float> image(784);
  for (size_t i = 0; i < image.size(); ++i) image[i] = static_cast<float>((i * 7 + seed * 13) % 256) / 255.0f;
  return image;
}

// What the model in a bundle predicts for one image, computed without the server.
inline std::vector<float> DirectScores(const std::string& bundle_dir, const std::vector<float>& image) {
  auto bundle = exporter::ReadBundle(bundle_dir);
  EXPECT_TRUE(bundle.ok());
  auto model = nn::Model::Create(bundle->spec, nn::ModelOptions{});
  EXPECT_TRUE((*model)->LoadParameters(bundle->weights, bundle_dir).ok());
  std::vector<float> scores(nn::kNumClasses);
  (*model)->Predict(image.data(), 1, scores.data());
  return scores;
}

}  // namespace loom::serving::testing
