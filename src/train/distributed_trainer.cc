#include "train/distributed_trainer.h"

#include <sys/time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/file.h"
#include "core/logging.h"
#include "data/batcher.h"
#include "tboard/event_writer.h"
#include "train/checkpoint.h"
#include "train/progress_format.h"
#include "train/ps_client.h"

namespace loom::train {
namespace {

using Clock = std::chrono::steady_clock;


std::vector<std::string> SlotSuffixes(const std::string& optimizer) {
  if (optimizer == "adam") return {"/Adam", "/Adam_1"};
  return {"/Momentum"};
}

// Per parameter, its piece of a flat vector as a tensor of the parameter's shape.
std::vector<nn::NamedTensor> Unflatten(const std::vector<nn::Parameter>& params, const std::vector<float>& flat,
                                       const std::string& suffix) {
  std::vector<nn::NamedTensor> out;
  size_t offset = 0;
  for (const nn::Parameter& p : params) {
    nn::Tensor t(p.value.shape());
    std::memcpy(t.data(), flat.data() + offset, static_cast<size_t>(t.size()) * sizeof(float));
    offset += static_cast<size_t>(t.size());
    out.push_back({p.name + suffix, std::move(t)});
  }
  return out;
}

}  // namespace

DistributedTrainer::DistributedTrainer(const DistributedTrainerOptions& options) : options_(options) {}
DistributedTrainer::~DistributedTrainer() = default;

StatusOr<std::unique_ptr<DistributedTrainer>> DistributedTrainer::Create(const DistributedTrainerOptions& options) {
  std::unique_ptr<DistributedTrainer> trainer(new DistributedTrainer(options));
  LOOM_RETURN_IF_ERROR(trainer->Init());
  return trainer;
}

Status DistributedTrainer::Init() {
  const TrainerOptions& t = options_.trainer;
  const ClusterSpec& cluster = options_.cluster;
  if (cluster.ReplicaIndex() < 0)
    return InvalidArgument(std::string("a ") + TaskTypeName(cluster.task_type) + " task does not train");
  if (t.batch_size <= 0) return InvalidArgument("--batch_size: must be positive");
  if (t.train_dir.empty()) return InvalidArgument("--train_dir: must be set");
  if (t.learning_rate_decay != "none" && t.learning_rate_decay != "cosine")
    return InvalidArgument("--learning_rate_decay: \"" + t.learning_rate_decay + "\" is not none or cosine");
  if (options_.sync_replicas &&
      (options_.replicas_to_aggregate < 0 || options_.replicas_to_aggregate > cluster.NumReplicas()))
    return InvalidArgument("--replicas_to_aggregate: " + std::to_string(options_.replicas_to_aggregate) +
                           " is not in 1.." + std::to_string(cluster.NumReplicas()) + " (the replicas)");
  LOOM_ASSIGN_OR_RETURN(data_, LoadMnist(t.data_dir, MnistOptions{}));
  nn::ModelOptions model_options;
  model_options.num_threads = t.num_threads;
  model_options.max_batch = t.batch_size;
  LOOM_ASSIGN_OR_RETURN(model_, nn::Model::Create(t.spec, model_options));
  seed_ = t.seed;

  BatcherOptions batcher_options;
  batcher_options.batch_size = t.batch_size;
  batcher_options.seed = seed_;
  batcher_options.shard_index = cluster.ReplicaIndex();
  batcher_options.num_shards = cluster.NumReplicas();
  LOOM_ASSIGN_OR_RETURN(batcher_, Batcher::Create(data_.train, batcher_options));
  // Global steps per epoch count the whole training split, however many replicas share it.
  target_step_ = t.epochs > 0 ? t.epochs * (data_.train.size / t.batch_size) : t.train_steps;
  if (target_step_ <= 0) return InvalidArgument("--train_steps: must be positive");

  PsClientOptions client_options;
  client_options.ps_addresses = cluster.ps;
  client_options.replica = cluster.ReplicaIndex();
  client_options.wait_secs = options_.ps_wait_secs;
  client_options.transport = options_.ps_transport;
  LOOM_ASSIGN_OR_RETURN(client_, PsClient::Create(client_options, model_->parameters()));

  if (cluster.IsChief()) {
    LOOM_RETURN_IF_ERROR(EnsureWritableDir(t.train_dir).WithPrefix("--train_dir"));
    tboard::EventWriterOptions event_options;
    event_options.dir = t.train_dir;
    LOOM_ASSIGN_OR_RETURN(events_, tboard::EventWriter::Create(event_options));
  }
  return OkStatus();
}

void DistributedTrainer::Print(const std::string& line) {
  if (options_.trainer.out) *options_.trainer.out << line << std::endl;
}

Status DistributedTrainer::InitParameterServers() {
  const TrainerOptions& t = options_.trainer;
  config_.optimizer = t.optimizer;
  config_.learning_rate_decay = t.learning_rate_decay;
  config_.train_steps = target_step_;
  config_.sync_replicas = options_.sync_replicas;
  config_.num_replicas = options_.cluster.NumReplicas();
  config_.replicas_to_aggregate =
      options_.replicas_to_aggregate > 0 ? options_.replicas_to_aggregate : config_.num_replicas;
  // A ps task that comes back empty after a restart gets its shard from the latest checkpoint.
  client_->set_reinit_handler([this](size_t shard) -> Status {
    // This may run on the client's round-trip thread while the model computes: read the
    // checkpoint through a model of its own.
    nn::ModelOptions model_options;
    model_options.max_batch = 1;
    LOOM_ASSIGN_OR_RETURN(std::unique_ptr<nn::Model> scratch, nn::Model::Create(options_.trainer.spec, model_options));
    LOOM_ASSIGN_OR_RETURN(StartState state, LoadStartState(*scratch));
    Print(Format("ps %zu was restarted: restoring its shard from %s (global step %lld)", shard,
                 state.source.c_str(), static_cast<long long>(state.global_step)));
    return client_->InitShard(shard, config_, state.global_step, state.variables, state.slot0, state.slot1);
  });
  LOOM_ASSIGN_OR_RETURN(bool initialized, client_->WaitReachable());
  if (initialized) {
    // The chief was restarted while the ps tasks kept training state: carry on from it.
    Print("The ps tasks are initialized already; joining at their global step");
    return OkStatus();
  }
  LOOM_ASSIGN_OR_RETURN(StartState state, LoadStartState(*model_));
  seed_ = state.seed;
  if (state.source != "initial values")
    Print(Format("Resuming from %s (global step %lld)", state.source.c_str(), static_cast<long long>(state.global_step)));
  return client_->Init(config_, state.global_step, state.variables, state.slot0, state.slot1);
}

StatusOr<DistributedTrainer::StartState> DistributedTrainer::LoadStartState(nn::Model& model) {
  const TrainerOptions& t = options_.trainer;
  std::vector<nn::Parameter>& params = model.parameters();
  StartState out;
  out.seed = seed_;
  LOOM_ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(t.train_dir));
  if (latest) {
    LOOM_ASSIGN_OR_RETURN(Checkpoint ckpt, LoadCheckpoint(*latest));
    LOOM_RETURN_IF_ERROR(model.LoadParameters(ckpt.variables, *latest));
    out.global_step = ckpt.global_step;
    out.source = *latest;
    std::map<std::string, const nn::Tensor*> state;
    for (const auto& s : ckpt.optimizer_state) state[s.name] = &s.tensor;
    const std::vector<std::string> suffixes = SlotSuffixes(t.optimizer.type);
    for (size_t k = 0; k < suffixes.size(); ++k) {
      std::vector<float>& slot = k == 0 ? out.slot0 : out.slot1;
      for (const nn::Parameter& p : params) {
        auto it = state.find(p.name + suffixes[k]);
        if (it == state.end())
          return DataLoss(*latest + ": optimizer state " + p.name + suffixes[k] + " is missing (a checkpoint of " +
                          "another optimizer than --optimizer " + t.optimizer.type + "?)");
        if (it->second->shape() != p.value.shape())
          return DataLoss(*latest + ": optimizer state " + it->first + " has shape " +
                          nn::ShapeString(it->second->shape()) + ", its parameter " + nn::ShapeString(p.value.shape()));
        slot.insert(slot.end(), it->second->data(), it->second->data() + it->second->size());
      }
    }
    if (auto it = ckpt.metadata.find("seed"); it != ckpt.metadata.end())
      out.seed = std::strtoull(it->second.c_str(), nullptr, 10);
  } else {
    model.InitParameters(seed_);
    out.source = "initial values";
  }
  for (const nn::Parameter& p : params) out.variables.insert(out.variables.end(), p.value.data(), p.value.data() + p.value.size());
  return out;
}

StatusOr<std::string> DistributedTrainer::SaveFromParameterServers(bool load_into_model) {
  LOOM_ASSIGN_OR_RETURN(PsSnapshot snapshot, client_->Snapshot());
  const TrainerOptions& t = options_.trainer;
  std::vector<nn::Parameter>& params = model_->parameters();
  Checkpoint ckpt;
  ckpt.global_step = snapshot.global_step;
  ckpt.spec = t.spec;
  ckpt.variables = Unflatten(params, snapshot.variables, "");
  nn::Tensor step(std::vector<int64_t>{});
  step[0] = static_cast<float>(snapshot.optimizer_step);
  ckpt.optimizer_state.push_back({"step", std::move(step)});
  const std::vector<std::string> suffixes = SlotSuffixes(t.optimizer.type);
  for (size_t k = 0; k < suffixes.size(); ++k)
    for (auto& s : Unflatten(params, k == 0 ? snapshot.slot0 : snapshot.slot1, suffixes[k]))
      ckpt.optimizer_state.push_back(std::move(s));
  ckpt.metadata["seed"] = std::to_string(seed_);
  ckpt.metadata["optimizer"] = t.optimizer.ToJson().dump();
  ckpt.metadata["cluster"] = options_.cluster.ToTfConfig()["cluster"].dump();
  if (load_into_model) LOOM_RETURN_IF_ERROR(model_->LoadParameters(ckpt.variables, "ps snapshot"));
  return SaveCheckpoint(t.train_dir, ckpt);
}

StatusOr<TrainResult> DistributedTrainer::Run() {
  const TrainerOptions& t = options_.trainer;
  const ClusterSpec& cluster = options_.cluster;
  const bool chief = cluster.IsChief();
  std::string who = TaskTypeName(cluster.task_type);
  who[0] = static_cast<char>(std::toupper(who[0]));
  who += " " + std::to_string(cluster.task_index);

  if (chief) LOOM_RETURN_IF_ERROR(InitParameterServers());
  std::vector<nn::Parameter>& params = model_->parameters();
  LOOM_ASSIGN_OR_RETURN(PsClient::StepResult state, client_->Pull(params));
  int64_t global_step = state.global_step;
  // Batches go on from where this replica's share of the global steps would be.
  batcher_->Seek(global_step / cluster.NumReplicas());

  TrainResult result;
  const int64_t batch = t.batch_size;
  std::vector<float> images(static_cast<size_t>(batch * data_.train.features));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  Print(Format("Training begins @ %f", UnixNow()));
  const auto start = Clock::now();
  const double cpu_start = ProcessCpuSecs();
  auto last_log = start, last_summary = start;
  int64_t summary_step = global_step;
  double loss_sum = 0;
  int64_t loss_count = 0;
  bool done = state.done;
  double comm_secs = 0;  // waiting for the round trips to the ps tasks
  // Async: this step's gradients travel while the next ones are computed (on variables one
  // step older); sync: the step must see the update it waits for.
  const bool overlap = options_.overlap && !options_.sync_replicas;
  bool in_flight = false;
  while (!done) {
    batcher_->Next(images.data(), labels.data());
    const float loss = model_->ComputeGradients(images.data(), labels.data(), batch);
    if (!std::isfinite(loss))
      return FailedPrecondition(Format("loss is %f at global step %lld: training diverged "
                                       "(try a smaller --learning_rate)",
                                       loss, static_cast<long long>(global_step)));
    const int64_t before = global_step;
    auto wait_start = Clock::now();
    bool pushed = true;  // a round trip ended in this iteration
    if (!overlap) {
      LOOM_ASSIGN_OR_RETURN(state, client_->PushPull(params));
    } else if (in_flight) {
      LOOM_ASSIGN_OR_RETURN(state, client_->FinishPushPull(params));  // the previous step's
      in_flight = false;
    } else {
      pushed = false;
    }
    comm_secs += std::chrono::duration<double>(Clock::now() - wait_start).count();
    if (pushed) {
      global_step = state.global_step;
      done = state.done;
      ++result.local_steps;
    }
    loss_sum += loss;
    ++loss_count;

    const auto now = Clock::now();
    if (pushed && (result.local_steps == 1 || done ||
                   std::chrono::duration<double>(now - last_log).count() >= t.log_every_secs)) {
      Print(Format("%f: %s: training step %lld done (global step: %lld)", UnixNow(), who.c_str(),
                   static_cast<long long>(result.local_steps), static_cast<long long>(global_step)));
      last_log = now;
    }
    // The global step moves by every replica's pushes: act when it crosses a multiple.
    auto crossed = [&](int64_t every) { return every > 0 && global_step / every > before / every; };
    if (chief && crossed(t.save_summaries_steps)) {
      const double secs = std::chrono::duration<double>(now - last_summary).count();
      const double rate = secs > 0 ? static_cast<double>(global_step - summary_step) / secs : 0;
      LOOM_RETURN_IF_ERROR(events_->WriteScalars({{"loss", loss_sum / static_cast<double>(loss_count)},
                                                  {"global_step/sec", rate}},
                                                 global_step));
      loss_sum = 0;
      loss_count = 0;
      summary_step = global_step;
      last_summary = now;
    }
    if (chief && !done && crossed(t.save_checkpoint_steps)) {
      LOOM_ASSIGN_OR_RETURN(result.checkpoint_path, SaveFromParameterServers(/*load_into_model=*/false));
      nn::EvalResult v = model_->Evaluate(data_.validation.images.data(), data_.validation.labels.data(),
                                          data_.validation.size);
      LOOM_RETURN_IF_ERROR(events_->WriteScalar("accuracy", v.accuracy, global_step));
    }
    if (t.should_stop && t.should_stop()) {
      result.stopped_early = !done;
      break;
    }
    if (overlap && !done) {
      wait_start = Clock::now();
      LOOM_RETURN_IF_ERROR(client_->StartPushPull(params));
      comm_secs += std::chrono::duration<double>(Clock::now() - wait_start).count();
      in_flight = true;
    }
  }
  const auto end = Clock::now();
  const double cpu_secs = ProcessCpuSecs() - cpu_start;
  result.seconds = std::chrono::duration<double>(end - start).count();
  result.examples_per_sec =
      result.seconds > 0 ? static_cast<double>(result.local_steps * batch) / result.seconds : 0;
  if (chief) {
    LOOM_ASSIGN_OR_RETURN(result.checkpoint_path, SaveFromParameterServers(/*load_into_model=*/true));
  } else if (done) {
    LOOM_RETURN_IF_ERROR(client_->Leave());  // the ps tasks may exit once every worker has
  }
  result.global_step = global_step;
  Print(Format("Training ends @ %f", UnixNow()));
  Print(Format("Training elapsed time: %f s", result.seconds));
  Print(Format("Throughput: %.0f examples/s", result.examples_per_sec));
  if (result.local_steps > 0)
    Print(Format("CPU: %.0f us per step (this process)", cpu_secs * 1e6 / static_cast<double>(result.local_steps)));
  if (result.local_steps > 0)
    Print(Format("Communication: %.0f us per step (push gradients, pull variables: %zu ps task(s))",
                 comm_secs * 1e6 / static_cast<double>(result.local_steps), client_->shards().size()));
  if (result.stopped_early) {
    Print(Format("Stopped at global step %lld", static_cast<long long>(global_step)));
    if (events_) LOOM_RETURN_IF_ERROR(events_->Close());
    return result;
  }
  nn::EvalResult validation = model_->Evaluate(data_.validation.images.data(), data_.validation.labels.data(),
                                               data_.validation.size);
  result.validation_cross_entropy = validation.cross_entropy;
  result.validation_accuracy = validation.accuracy;
  Print(Format("After %lld training step(s), validation cross entropy = %g", static_cast<long long>(global_step),
               validation.cross_entropy));
  if (chief) {
    nn::EvalResult test = model_->Evaluate(data_.test.images.data(), data_.test.labels.data(), data_.test.size);
    result.test_accuracy = test.accuracy;
    LOOM_RETURN_IF_ERROR(events_->WriteScalar("accuracy", validation.accuracy, global_step));
    LOOM_RETURN_IF_ERROR(events_->Close());
    Print(Format("Test accuracy: %.4f", test.accuracy));
    // Training is over: every ps task may exit once each replica has heard.
    LOOM_RETURN_IF_ERROR(client_->Shutdown());
  }
  return result;
}

}  // namespace loom::train
