// loom train: one training task, with mnist_replica.py's flags.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <optional>
#include <csignal>
#include <thread>
#include <iostream>

#include "commands.h"
#include "train/distributed_trainer.h"
#include "train/evaluator.h"
#include "train/parameter_server.h"
#include "train/tf_config.h"
#include "train/trainer.h"

namespace loom::cli {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<train::ParameterServer*> g_ps{nullptr};  // a ps task's server, stopped by a signal

// SIGTERM/SIGINT: training checkpoints and stops; a ps task stops serving.
void OnStopSignal() {
  g_stop = true;
  if (train::ParameterServer* ps = g_ps.load()) ps->Stop();
}

// The cluster and this task, from TF_CONFIG or mnist_replica's flags; nullopt: one process.
StatusOr<std::optional<train::ClusterSpec>> ClusterFromEnvOrFlags(const FlagSet& flags,
                                                                  const train::ReplicaFlags& replica) {
  const char* env = std::getenv("TF_CONFIG");
  const std::string tf_config = env ? env : "";
  const bool from_flags = flags.IsSet("job_name") || flags.IsSet("ps_hosts") || flags.IsSet("worker_hosts") ||
                          flags.IsSet("master_hosts") || flags.IsSet("task_index");
  const bool from_env = !tf_config.empty() && tf_config != "{}";
  if (from_env && from_flags)
    return InvalidArgument("--job_name: given while TF_CONFIG is set; use one or the other");
  if (!from_env && !from_flags) return std::optional<train::ClusterSpec>();
  LOOM_ASSIGN_OR_RETURN(train::ClusterSpec spec,
                        from_env ? train::ParseTfConfig(tf_config) : train::ClusterSpecFromFlags(replica));
  return std::optional<train::ClusterSpec>(std::move(spec));
}

// A ps task: serves its shard until the chief says training is over, then exits 0.
int RunParameterServer(const train::ClusterSpec& cluster, double shutdown_grace_secs) {
  train::ParameterServerOptions options;
  options.address = cluster.TaskAddress();
  options.shutdown_grace_secs = shutdown_grace_secs;
  auto ps = train::ParameterServer::Create(options);
  if (!ps.ok()) return Fail("train", ps.status().WithPrefix("ps " + std::to_string(cluster.task_index)));
  std::cout << "ps " << cluster.task_index << " serving on " << options.address << std::endl;
  g_ps = ps->get();
  (*ps)->Wait();
  g_ps = nullptr;
  if (g_stop) return 128 + SIGTERM;
  std::cout << "ps " << cluster.task_index << ": training is over, exiting" << std::endl;
  return 0;
}

}  // namespace

void WatchStopSignals(std::function<void()> on_signal) {
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([on_signal = std::move(on_signal)] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) on_signal();
  }).detach();
}

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
  flags.String("data_dir", &options.data_dir,
               "directory with the MNIST IDX files (raw or .gz), or an s3:// or file:// URL of one (cached)");
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
  train::ReplicaFlags replica;
  flags.String("job_name", &replica.job_name, "distributed: ps, worker or master (else TF_CONFIG, else one process)");
  flags.Int("task_index", &replica.task_index, "distributed: index of this task within its job");
  flags.String("ps_hosts", &replica.ps_hosts, "distributed: comma-separated host:port of the ps tasks");
  flags.String("worker_hosts", &replica.worker_hosts, "distributed: comma-separated host:port of the workers");
  flags.String("master_hosts", &replica.master_hosts, "distributed: host:port of a separate chief (master)");
  bool sync_replicas = false;
  int replicas_to_aggregate = 0;
  double ps_wait_secs = 300;
  flags.Bool("sync_replicas", &sync_replicas, "distributed: aggregate gradients of all replicas per step");
  flags.Int("replicas_to_aggregate", &replicas_to_aggregate,
            "distributed, with --sync_replicas: gradients per step (default: the number of replicas)");
  flags.Float("ps_wait_secs", &ps_wait_secs, "distributed: give up when a ps task is unreachable this long");
  double ps_shutdown_grace_secs = train::ParameterServerOptions().shutdown_grace_secs;
  flags.Float("ps_shutdown_grace_secs", &ps_shutdown_grace_secs,
              "distributed, a ps task: after the chief's end, how long to wait for every worker to hear it");
  std::string ps_transport = "auto";
  flags.String("ps_transport", &ps_transport,
               "distributed: auto, grpc or shm: how a step's gradients and variables reach a ps task; shm goes "
               "through shared memory (same host only: the ps address must be a loopback address), auto uses it "
               "for loopback ps addresses and gRPC for others; grpc always uses gRPC");
  bool overlap = false;
  flags.Bool("overlap_communication", &overlap,
             "distributed, async: compute the next gradients while this step's travel (faster, one step staler)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "train", &code)) return code;
  if (!positional.empty()) return Fail("train", InvalidArgument("unexpected argument \"" + positional[0] + "\""));
  if (options.num_threads < 1) return Fail("train", InvalidArgument("--threads: must be at least 1"));
  auto transport = train::ParsePsTransport(ps_transport);
  if (!transport.ok()) return Fail("train", transport.status());
  auto cluster = ClusterFromEnvOrFlags(flags, replica);
  if (!cluster.ok()) return Fail("train", cluster.status());
  if (*cluster) train::KeepLargeBuffersInHeap();
  if (*cluster && (*cluster)->task_type == train::TaskType::kPs) {
    WatchStopSignals(OnStopSignal);
    return RunParameterServer(**cluster, ps_shutdown_grace_secs);
  }
  auto data_dir = ResolveDataDir(options.data_dir, "train");  // a URL goes through the dataset cache
  if (!data_dir.ok()) return Fail("train", data_dir.status());
  options.data_dir = *data_dir;

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
  WatchStopSignals(OnStopSignal);

  if (*cluster && (*cluster)->task_type == train::TaskType::kEvaluator) {
    train::EvaluatorOptions eval;
    eval.data_dir = options.data_dir;
    eval.train_dir = options.train_dir;
    eval.train_steps = options.train_steps;
    eval.epochs = options.epochs;
    eval.batch_size = options.batch_size;
    eval.num_threads = options.num_threads;
    eval.out = &std::cout;
    eval.should_stop = options.should_stop;
    auto evaluator = train::Evaluator::Create(eval);
    if (!evaluator.ok()) return Fail("train", evaluator.status());
    auto result = (*evaluator)->Run();
    if (!result.ok()) return Fail("train", result.status());
    return result->stopped_early ? 128 + SIGTERM : 0;
  }
  if (*cluster) {
    train::DistributedTrainerOptions distributed;
    distributed.trainer = options;
    distributed.trainer.progress_bar = false;
    distributed.cluster = **cluster;
    distributed.sync_replicas = sync_replicas;
    distributed.replicas_to_aggregate = replicas_to_aggregate;
    distributed.ps_wait_secs = ps_wait_secs;
    distributed.overlap = overlap;
    distributed.ps_transport = *transport;
    auto trainer = train::DistributedTrainer::Create(distributed);
    if (!trainer.ok()) return Fail("train", trainer.status());
    auto result = (*trainer)->Run();
    if (!result.ok()) return Fail("train", result.status());
    if (result->stopped_early) return 128 + SIGTERM;
    if (!export_dir.empty() && (*cluster)->IsChief()) {
      Args export_args = {"--checkpoint_dir", options.train_dir, "--export_dir", export_dir};
      return RunExport(export_args);
    }
    return 0;
  }
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
