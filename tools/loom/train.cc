// loom train: one training task, with mnist_replica.py's flags.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <thread>
#include <iostream>

#include "commands.h"
#include "train/trainer.h"

namespace loom::cli {
namespace {

std::atomic<bool> g_stop{false};

// SIGTERM and SIGINT ask training to checkpoint and stop. They are blocked in every thread
// (the threads made later inherit the mask) and taken by one thread in sigwait, so a signal
// never lands in the middle of a compute thread's JIT-compiled math. Call before any thread starts.
void WatchStopSignals() {
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) g_stop = true;
  }).detach();
}

}  // namespace

int RunTrain(const Args& args) {
  train::TrainerOptions options;
  options.data_dir = DefaultDataDir();
  options.train_dir = "/tmp/mnist_train";
  int hidden_units = 100;
  std::string model_path, optimizer = "adam";
  int64_t seed = 1;
  double learning_rate = options.optimizer.learning_rate;
  bool progress = isatty(STDOUT_FILENO);

  FlagSet flags("loom train [flags]");
  flags.String("data_dir", &options.data_dir, "directory with the MNIST IDX files (raw or .gz)");
  flags.String("train_dir", &options.train_dir,
               "checkpoints and TensorBoard events; training resumes from a checkpoint here");
  flags.Int("hidden_units", &hidden_units, "units in the hidden layer (when --model is not given)");
  flags.Int("train_steps", &options.train_steps, "number of (global) training steps to perform");
  flags.Int("batch_size", &options.batch_size, "training batch size");
  flags.Float("learning_rate", &learning_rate, "learning rate");
  flags.String("model", &model_path, "model spec file (JSON or YAML), e.g. examples/mnist/cnn.yaml");
  flags.String("optimizer", &optimizer, "adam or sgd (with momentum 0.9)");
  flags.String("learning_rate_decay", &options.learning_rate_decay,
               "none, or cosine: decay the learning rate to 0 at the last step (tf.train.cosine_decay)");
  flags.Int("epochs", &options.epochs, "when > 0, train this many epochs instead of --train_steps");
  flags.Int("seed", &seed, "seed for the initial weights and the order of batches");
  flags.Int("threads", &options.num_threads, "threads for the math of one step");
  flags.Int("save_checkpoint_steps", &options.save_checkpoint_steps, "checkpoint every N steps");
  flags.Int("save_summaries_steps", &options.save_summaries_steps, "TensorBoard scalars every N steps");
  flags.Bool("progress", &progress, "draw a progress bar (default: when stdout is a terminal)");
  std::string export_dir;
  flags.String("export_dir", &export_dir, "export the trained model to <export_dir>/<next version>");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "train", &code)) return code;
  if (!positional.empty()) return Fail("train", InvalidArgument("unexpected argument \"" + positional[0] + "\""));
  if (options.num_threads < 1) return Fail("train", InvalidArgument("--threads: must be at least 1"));

  if (!model_path.empty()) {
    auto spec = nn::ModelSpec::FromFile(model_path);
    if (!spec.ok()) return Fail("train", spec.status());
    options.spec = *spec;
  } else {
    if (hidden_units < 1) return Fail("train", InvalidArgument("--hidden_units: must be at least 1"));
    options.spec = nn::ModelSpec::Mlp(hidden_units);
  }
  auto opt = nn::OptimizerOptions::FromName(optimizer);
  if (!opt.ok()) return Fail("train", opt.status().WithPrefix("--optimizer"));
  options.optimizer = *opt;
  options.optimizer.learning_rate = learning_rate;
  options.seed = static_cast<uint64_t>(seed);
  options.progress_bar = progress;
  options.out = &std::cout;
  options.should_stop = [] { return g_stop.load(); };
  WatchStopSignals();

  auto trainer = train::Trainer::Create(options);
  if (!trainer.ok()) return Fail("train", trainer.status());
  auto result = (*trainer)->Run();
  if (!result.ok()) return Fail("train", result.status());
  if (result->stopped_early) return 128 + SIGTERM;
  if (!export_dir.empty()) {
    Args export_args = {"--checkpoint_dir", options.train_dir, "--export_dir", export_dir};
    return RunExport(export_args);
  }
  return 0;
}

}  // namespace loom::cli
