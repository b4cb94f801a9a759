// The evaluator task of a training job (TF's "evaluator" in TF_CONFIG): it trains nothing; it
// watches the chief's train_dir, evaluates each new checkpoint on the test set (and the
// validation split) as it appears, writes the results as TensorBoard scalars to its own event
// file in <train_dir>/eval (where TF's Estimator puts them), and exits once it has evaluated
// the checkpoint of the last step. Checkpoints that come and go between two looks are skipped,
// as TF's evaluator skips them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "core/status.h"

namespace loom::train {

struct EvaluatorOptions {
  std::string data_dir;              // the MNIST IDX files
  std::string train_dir;             // the chief's checkpoints
  std::string eval_dir;              // event files; "" means <train_dir>/eval
  int64_t train_steps = 200;         // done after evaluating a checkpoint of this global step
  int64_t epochs = 0;                // when > 0: train_steps = epochs * batches per epoch
  int64_t batch_size = 100;          // for epochs
  int num_threads = 1;
  double poll_secs = 0.5;            // how often to look for a new checkpoint
  std::ostream* out = nullptr;       // one line per evaluation
  std::function<bool()> should_stop; // polled between looks: true ends the run early
};

struct EvaluatorResult {
  int evaluations = 0;               // checkpoints evaluated
  int64_t last_global_step = -1;
  double last_test_accuracy = 0;
  bool stopped_early = false;
};

class Evaluator {
 public:
  static StatusOr<std::unique_ptr<Evaluator>> Create(const EvaluatorOptions& options);
  ~Evaluator();
  StatusOr<EvaluatorResult> Run();

 private:
  struct Impl;
  explicit Evaluator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loom::train
