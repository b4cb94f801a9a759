// Training checkpoints in TF's layout: <train_dir>/model.ckpt-<global step>.safetensors holds
// the variables, the optimizer's slots and step, and in its metadata the global step, the
// model spec and the optimizer settings; <train_dir>/checkpoint names the latest one in TF's
// text format (model_checkpoint_path: "model.ckpt-550"), so tools that follow it find it.
// Every file is written atomically; the index is updated only after the checkpoint is in place.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "nn/model_spec.h"
#include "nn/safetensors.h"

namespace loom::train {

struct Checkpoint {
  int64_t global_step = 0;
  nn::ModelSpec spec;
  std::vector<nn::NamedTensor> variables;        // the model's parameters
  std::vector<nn::NamedTensor> optimizer_state;  // slots and step, named as the optimizer names them
  std::map<std::string, std::string> metadata;   // anything else, e.g. "optimizer", "seed"
};

struct CheckpointOptions {
  int max_to_keep = 5;  // older checkpoints are deleted, as tf.train.Saver's max_to_keep
};

// Writes <dir>/model.ckpt-<global_step>.safetensors and updates <dir>/checkpoint.
// Returns the checkpoint's path.
StatusOr<std::string> SaveCheckpoint(const std::string& dir, const Checkpoint& checkpoint,
                                     const CheckpointOptions& options = {});

// The path of the latest checkpoint in `dir`, or nullopt when there is none.
// A "checkpoint" index that names a missing file is an error naming both.
StatusOr<std::optional<std::string>> LatestCheckpoint(const std::string& dir);

// Reads a checkpoint written by SaveCheckpoint. Errors name the file and the field.
StatusOr<Checkpoint> LoadCheckpoint(const std::string& path);

// The tensor-name prefix that marks optimizer state inside a checkpoint file.
inline constexpr char kOptimizerPrefix[] = "optimizer/";

}  // namespace loom::train
