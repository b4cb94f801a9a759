// Batcher: the stream of training batches one worker reads from a Dataset.
//
// Sharding: shard i of n owns the examples whose index % n == i, so the shards of n workers
// are disjoint and together cover the dataset. Within a shard, batch k belongs to epoch
// k / batches_per_epoch(); each epoch visits the shard in a fresh order, a Fisher-Yates
// permutation driven by std::mt19937_64 seeded from (seed, epoch) with our own bounded-integer
// draw, so the order is the same on every run, compiler and machine. The last
// shard_size % batch_size examples of an epoch's order are dropped.
//
// Because batch k depends only on (options, k), Seek(k) lets a training run restored from a
// checkpoint at step k see exactly the batches an uninterrupted run would.
//
// The Dataset must outlive the Batcher. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "data/dataset.h"

namespace loom {

struct BatcherOptions {
  int64_t batch_size = 100;  // examples per batch; 1..shard size
  uint64_t seed = 0;         // with the epoch number, picks each epoch's order
  int shard_index = 0;       // which shard this Batcher reads: 0..num_shards-1
  int num_shards = 1;        // how many disjoint shards the dataset is dealt into
  bool shuffle = true;       // false: every epoch in index order (for evaluation)
};

class Batcher {
 public:
  // Errors: batch_size <= 0 or larger than the shard, num_shards < 1, shard_index out of
  // range, or a Dataset whose vectors do not match its size and features.
  static StatusOr<std::unique_ptr<Batcher>> Create(const Dataset& dataset,
                                                   const BatcherOptions& options);

  // Fills batch number batch_number() and advances to the next one.
  // images: batch_size * features floats; labels: batch_size ints.
  void Next(float* images, int32_t* labels);
  // Makes the next Next() fill batch `batch_number` (a global count across epochs).
  // REQUIRES: batch_number >= 0.
  void Seek(int64_t batch_number);

  int64_t batch_number() const { return batch_number_; }
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  int64_t epoch() const { return batch_number_ / batches_per_epoch_; }
  int64_t batch_size() const { return options_.batch_size; }
  int64_t shard_size() const { return shard_size_; }

 private:
  Batcher(const Dataset& dataset, const BatcherOptions& options, int64_t shard_size);
  // Computes order_ for `epoch`: dataset indices of this shard, permuted if shuffling.
  void PrepareEpoch(int64_t epoch);

  const Dataset& dataset_;
  const BatcherOptions options_;
  const int64_t shard_size_;
  const int64_t batches_per_epoch_;
  int64_t batch_number_ = 0;
  int64_t order_epoch_ = -1;     // the epoch order_ holds, -1 before the first
  std::vector<int64_t> order_;   // dataset indices in this epoch's visiting order
};

}  // namespace loom
