// The single-process training loop of Kubeflow's mnist_replica.py: batches from the 55k
// training split, forward/backward, the optimizer step, progress lines, TensorBoard scalars,
// checkpoints every N steps and at the end, and the final validation cross-entropy and test
// accuracy. Started on a train_dir that holds a checkpoint, it resumes from it; a run that is
// stopped (should_stop) and resumed ends with the same weights as one that was not.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <ostream>
#include <string>

#include "core/status.h"
#include "data/mnist.h"
#include "nn/model.h"
#include "nn/model_spec.h"
#include "nn/optimizer.h"

namespace loom::tboard {
class EventWriter;
}
namespace loom {
class Batcher;
}

namespace loom::train {

struct TrainerOptions {
  std::string data_dir;                // the four MNIST IDX files (raw or .gz)
  std::string train_dir;               // checkpoints and event files; resumed from when it has one
  nn::ModelSpec spec = nn::ModelSpec::Mlp(100);
  int64_t train_steps = 200;           // the global step to stop at
  int64_t epochs = 0;                  // when > 0: train_steps = epochs * batches per epoch
  int64_t batch_size = 100;
  nn::OptimizerOptions optimizer;      // Adam, learning rate 0.01 by default
  std::string learning_rate_decay = "none";  // "none", or "cosine": tf.train.cosine_decay to 0
                                             // at the last step
  uint64_t seed = 1;                   // initial weights and the order of batches
  int num_threads = 1;                 // threads for one step's math
  int64_t save_checkpoint_steps = 500; // a checkpoint every N global steps (and at the end)
  int64_t save_summaries_steps = 100;  // TensorBoard scalars every N global steps
  double log_every_secs = 1.0;         // progress lines at most this often (first and last always)
  int task_index = 0;                  // "Worker <task_index>" in progress lines
  bool progress_bar = false;           // redraw a bar on `out` (when it is a terminal)
  std::ostream* out = nullptr;         // progress and results; nullptr: no output
  std::function<bool()> should_stop;   // polled each step; true: checkpoint and return early
};

struct TrainResult {
  int64_t global_step = 0;
  int64_t local_steps = 0;             // steps run by this process (resumed runs count from 0)
  double seconds = 0;                  // the training loop's wall time
  double examples_per_sec = 0;
  double validation_cross_entropy = 0;
  double validation_accuracy = 0;
  double test_accuracy = 0;
  bool stopped_early = false;          // should_stop() said so
  std::string checkpoint_path;         // the last checkpoint written
};

class Trainer {
 public:
  // Loads the data, builds the model, and restores the latest checkpoint in train_dir if any.
  // Fails with a message naming the place: an unwritable train_dir, a bad IDX file, a
  // checkpoint from another architecture.
  static StatusOr<std::unique_ptr<Trainer>> Create(const TrainerOptions& options);
  ~Trainer();

  // Trains until global step train_steps (or should_stop), then checkpoints and evaluates.
  StatusOr<TrainResult> Run();

  int64_t global_step() const { return global_step_; }
  nn::Model& model() { return *model_; }

 private:
  explicit Trainer(const TrainerOptions& options);
  Status Init();
  // Starts writing a checkpoint of the current weights, optimizer state and step on a thread of
  // its own, after waiting for the one before it (whose path it records in *last_path), so
  // that the file's fsyncs overlap training instead of stalling it (measured: 10-25 ms of
  // fsync per checkpoint here). The state is copied before it returns.
  Status StartSave(std::string* last_path);
  // Waits for the checkpoint in flight, if any, and records its path in *last_path.
  Status FinishSave(std::string* last_path);
  void Print(const std::string& line);
  void DrawBar(double examples_per_sec, double loss);

  TrainerOptions options_;
  Mnist data_;
  std::unique_ptr<nn::Model> model_;
  std::unique_ptr<nn::Optimizer> optimizer_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<tboard::EventWriter> events_;
  std::future<StatusOr<std::string>> pending_save_;  // the checkpoint being written, if any
  int64_t global_step_ = 0;
  int64_t target_step_ = 0;
  bool bar_drawn_ = false;
};

}  // namespace loom::train
