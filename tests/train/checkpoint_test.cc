#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include "core/file.h"
#include "test_util/test_env.h"

namespace loom::train {
namespace {

nn::Tensor Filled(std::vector<int64_t> shape, float start) {
  nn::Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t.data()[i] = start + static_cast<float>(i);
  return t;
}

Checkpoint Make(int64_t step) {
  Checkpoint c;
  c.global_step = step;
  c.spec = nn::ModelSpec::Mlp(3);
  c.variables = {{"dense_0/kernel", Filled({784, 3}, 0)}, {"dense_0/bias", Filled({3}, 1)}};
  c.optimizer_state = {{"step", Filled({1}, static_cast<float>(step))}};
  c.metadata["seed"] = "7";
  return c;
}

TEST(CheckpointTest, SaveLoadLatest) {
  testing::ScratchDir dir;
  auto none = LatestCheckpoint(dir.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto path = SaveCheckpoint(dir.path(), Make(10));
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(*path, dir.Join("model.ckpt-10.safetensors"));
  ASSERT_TRUE(SaveCheckpoint(dir.path(), Make(20)).ok());
  auto latest = LatestCheckpoint(dir.path());
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ(**latest, dir.Join("model.ckpt-20.safetensors"));
  auto index = ReadFile(dir.Join("checkpoint"));
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->rfind("model_checkpoint_path: \"model.ckpt-20\"\n", 0), 0u) << *index;

  auto loaded = LoadCheckpoint(**latest);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->global_step, 20);
  EXPECT_EQ(loaded->spec.ToJson(), nn::ModelSpec::Mlp(3).ToJson());
  ASSERT_EQ(loaded->variables.size(), 2u);
  EXPECT_EQ(loaded->variables[0].name, "dense_0/kernel");
  EXPECT_EQ(loaded->variables[0].tensor.data()[5], 5.0f);
  ASSERT_EQ(loaded->optimizer_state.size(), 1u);
  EXPECT_EQ(loaded->optimizer_state[0].name, "step");
  EXPECT_EQ(loaded->optimizer_state[0].tensor.data()[0], 20.0f);
  EXPECT_EQ(loaded->metadata.at("seed"), "7");
}

TEST(CheckpointTest, KeepsTheNewestFive) {
  testing::ScratchDir dir;
  for (int step = 1; step <= 7; ++step) ASSERT_TRUE(SaveCheckpoint(dir.path(), Make(step)).ok());
  auto names = ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  std::vector<std::string> expected = {"checkpoint",
                                       "model.ckpt-3.safetensors", "model.ckpt-4.safetensors",
                                       "model.ckpt-5.safetensors", "model.ckpt-6.safetensors",
                                       "model.ckpt-7.safetensors"};
  EXPECT_EQ(*names, expected);
}

TEST(CheckpointTest, IndexNamingAMissingFileIsAnError) {
  testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("checkpoint"), "model_checkpoint_path: \"model.ckpt-9\"\n").ok());
  auto latest = LatestCheckpoint(dir.path());
  ASSERT_FALSE(latest.ok());
  EXPECT_NE(latest.status().message().find("model.ckpt-9.safetensors"), std::string::npos);
}

TEST(CheckpointTest, NotACheckpointNamesTheFile) {
  testing::ScratchDir dir;
  std::string path = dir.Join("model.ckpt-1.safetensors");
  ASSERT_TRUE(nn::WriteSafetensors(path, {{"x", Filled({2}, 0)}}, {}).ok());
  auto loaded = LoadCheckpoint(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find(path), std::string::npos);
  EXPECT_NE(loaded.status().message().find("global_step"), std::string::npos);
}

}  // namespace
}  // namespace loom::train
