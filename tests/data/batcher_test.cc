#include "data/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace loom {
namespace {

constexpr int64_t kFeatures = 3;

// Example i has label i and image {i, i + 0.25, i + 0.5}, so a batch row says where it came from.
Dataset Indexed(int64_t n) {
  Dataset ds;
  ds.size = n;
  ds.features = kFeatures;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t f = 0; f < kFeatures; ++f) ds.images.push_back(i + 0.25f * f);
    ds.labels.push_back(static_cast<int32_t>(i));
  }
  return ds;
}

std::unique_ptr<Batcher> MakeBatcher(const Dataset& ds, const BatcherOptions& options) {
  auto b = Batcher::Create(ds, options);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

// The dataset indices of the next batch, checking each image row matches its label.
std::vector<int32_t> NextIndices(Batcher& b) {
  std::vector<float> images(b.batch_size() * kFeatures, -1.f);
  std::vector<int32_t> labels(b.batch_size(), -1);
  b.Next(images.data(), labels.data());
  for (int64_t r = 0; r < b.batch_size(); ++r) {
    for (int64_t f = 0; f < kFeatures; ++f) {
      EXPECT_EQ(images[r * kFeatures + f], labels[r] + 0.25f * f) << "row " << r;
    }
  }
  return labels;
}

// All indices of the next `batches` batches, in order.
std::vector<int32_t> Take(Batcher& b, int64_t batches) {
  std::vector<int32_t> out;
  for (int64_t k = 0; k < batches; ++k) {
    auto batch = NextIndices(b);
    out.insert(out.end(), batch.begin(), batch.end());
  }
  return out;
}

TEST(BatcherTest, ShardsAreDisjointAndCoverEverything) {
  Dataset ds = Indexed(103);
  std::set<int32_t> seen;
  int64_t total = 0;
  for (int shard = 0; shard < 4; ++shard) {
    auto b = MakeBatcher(ds, {.batch_size = 1, .seed = 7, .shard_index = shard, .num_shards = 4});
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->shard_size(), shard < 3 ? 26 : 25);  // 103 = 26 + 26 + 26 + 25
    EXPECT_EQ(b->batches_per_epoch(), b->shard_size());
    // Two epochs: both stay within the shard.
    for (int32_t i : Take(*b, 2 * b->batches_per_epoch())) {
      EXPECT_EQ(i % 4, shard) << i;
      seen.insert(i);
    }
    total += b->shard_size();
  }
  EXPECT_EQ(total, 103);
  EXPECT_EQ(seen.size(), 103u);
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), 102);
}

TEST(BatcherTest, EachEpochIsAPermutation) {
  Dataset ds = Indexed(50);
  auto b = MakeBatcher(ds, {.batch_size = 10, .seed = 1});
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->batches_per_epoch(), 5);
  std::vector<int32_t> identity(50);
  std::iota(identity.begin(), identity.end(), 0);
  std::vector<std::vector<int32_t>> epochs;
  for (int e = 0; e < 4; ++e) {
    EXPECT_EQ(b->epoch(), e);
    auto order = Take(*b, 5);
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, identity) << "epoch " << e;
    EXPECT_NE(order, identity) << "epoch " << e << " was not shuffled";
    for (const auto& earlier : epochs) EXPECT_NE(order, earlier) << "epoch " << e << " repeats";
    epochs.push_back(order);
  }
  EXPECT_EQ(b->batch_number(), 20);
}

TEST(BatcherTest, RemainderOfAnEpochIsDropped) {
  Dataset ds = Indexed(53);
  auto b = MakeBatcher(ds, {.batch_size = 10, .seed = 3});
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->batches_per_epoch(), 5);
  for (int e = 0; e < 3; ++e) {
    auto order = Take(*b, 5);
    EXPECT_EQ(std::set<int32_t>(order.begin(), order.end()).size(), 50u) << "epoch " << e;
  }
}

TEST(BatcherTest, SameSeedSameBatchesOtherSeedOtherOrder) {
  Dataset ds = Indexed(200);
  auto a = MakeBatcher(ds, {.batch_size = 20, .seed = 42});
  auto b = MakeBatcher(ds, {.batch_size = 20, .seed = 42});
  auto c = MakeBatcher(ds, {.batch_size = 20, .seed = 43});
  ASSERT_TRUE(a && b && c);
  auto from_a = Take(*a, 30);
  EXPECT_EQ(from_a, Take(*b, 30));
  EXPECT_NE(from_a, Take(*c, 30));
}

TEST(BatcherTest, OrderIsPinnedAcrossMachines) {
  // The order depends only on std::mt19937_64 (fully specified by the standard) and our own
  // arithmetic; these values pin it so a change of compiler, library or code shows up here.
  // They come from an independent Python implementation: batcher_order_reference.py.
  Dataset ds = Indexed(10);
  auto b = MakeBatcher(ds, {.batch_size = 10, .seed = 2024});
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(NextIndices(*b), (std::vector<int32_t>{9, 5, 8, 7, 3, 2, 1, 6, 4, 0}));
  EXPECT_EQ(NextIndices(*b), (std::vector<int32_t>{5, 1, 4, 0, 9, 7, 2, 8, 3, 6}));
}

TEST(BatcherTest, SeekResumesExactly) {
  Dataset ds = Indexed(64);
  BatcherOptions options{.batch_size = 8, .seed = 9, .shard_index = 1, .num_shards = 2};
  auto fresh = MakeBatcher(ds, options);
  ASSERT_NE(fresh, nullptr);
  ASSERT_EQ(fresh->batches_per_epoch(), 4);
  std::vector<std::vector<int32_t>> run;
  for (int k = 0; k < 13; ++k) run.push_back(NextIndices(*fresh));
  for (int64_t k : {0, 1, 3, 4, 5, 8, 11, 12}) {
    auto resumed = MakeBatcher(ds, options);
    resumed->Seek(k);
    EXPECT_EQ(resumed->batch_number(), k);
    EXPECT_EQ(NextIndices(*resumed), run[k]) << "batch " << k;
    if (k + 1 < 13) {
      EXPECT_EQ(NextIndices(*resumed), run[k + 1]) << "batch " << k + 1;
    }
  }
  // Seeking backwards on a used Batcher works too.
  fresh->Seek(2);
  EXPECT_EQ(NextIndices(*fresh), run[2]);
}

TEST(BatcherTest, NoShuffleIsIndexOrder) {
  Dataset ds = Indexed(12);
  auto b = MakeBatcher(ds, {.batch_size = 2, .shard_index = 1, .num_shards = 3,
                            .shuffle = false});
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(Take(*b, 2), (std::vector<int32_t>{1, 4, 7, 10}));
  EXPECT_EQ(Take(*b, 2), (std::vector<int32_t>{1, 4, 7, 10}));
}

TEST(BatcherTest, CreateErrorsNameTheField) {
  Dataset ds = Indexed(10);
  auto expect_error = [&](const BatcherOptions& o, const std::string& fragment) {
    auto b = Batcher::Create(ds, o);
    ASSERT_FALSE(b.ok()) << fragment;
    EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(b.status().message().find(fragment), std::string::npos) << b.status().message();
  };
  expect_error({.batch_size = 0}, "BatcherOptions.batch_size: 0 must be positive");
  expect_error({.batch_size = -5}, "BatcherOptions.batch_size: -5");
  expect_error({.batch_size = 11}, "BatcherOptions.batch_size: 11 is larger than shard 0 of 1");
  expect_error({.batch_size = 5, .shard_index = 0, .num_shards = 3},
               "BatcherOptions.batch_size: 5 is larger than shard 0 of 3, which has 4");
  expect_error({.batch_size = 1, .shard_index = 2, .num_shards = 2},
               "BatcherOptions.shard_index: 2 is out of range for 2 shards");
  expect_error({.batch_size = 1, .shard_index = -1, .num_shards = 2},
               "BatcherOptions.shard_index: -1");
  expect_error({.batch_size = 1, .num_shards = 0}, "BatcherOptions.num_shards: 0");
  // A shard with no examples at all (more shards than examples).
  expect_error({.batch_size = 1, .shard_index = 11, .num_shards = 12}, "which has 0");
  EXPECT_TRUE(Batcher::Create(ds, {.batch_size = 10}).ok());

  Dataset broken = Indexed(10);
  broken.labels.pop_back();
  auto b = Batcher::Create(broken, {.batch_size = 1});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("Dataset: size 10"), std::string::npos);
}

// Rows held as bytes come out as byte / 255.f, in the same order as the same rows held as floats.
TEST(BatcherTest, PixelRowsBatchLikeTheirFloats) {
  Dataset bytes;
  bytes.size = 300;
  bytes.features = 70;  // not a multiple of a cache line
  for (int64_t i = 0; i < bytes.size * bytes.features; ++i) bytes.pixels.push_back(static_cast<uint8_t>(i * 7 % 256));
  for (int64_t i = 0; i < bytes.size; ++i) bytes.labels.push_back(static_cast<int32_t>(i % 10));
  Dataset floats = bytes;
  floats.pixels.clear();
  for (uint8_t p : bytes.pixels) floats.images.push_back(static_cast<float>(p) / 255.f);
  auto a = MakeBatcher(bytes, {.batch_size = 32, .seed = 3});
  auto b = MakeBatcher(floats, {.batch_size = 32, .seed = 3});
  ASSERT_TRUE(a && b);
  std::vector<float> ia(32 * 70), ib(32 * 70);
  std::vector<int32_t> la(32), lb(32);
  for (int k = 0; k < 20; ++k) {  // two epochs and a bit
    a->Next(ia.data(), la.data());
    b->Next(ib.data(), lb.data());
    ASSERT_EQ(ia, ib) << "batch " << k;
    ASSERT_EQ(la, lb) << "batch " << k;
  }
  bytes.images.push_back(0.f);  // both forms at once
  EXPECT_FALSE(Batcher::Create(bytes, {.batch_size = 32}).ok());
}

}  // namespace
}  // namespace loom
