#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sys/time.h>

#include "core/file.h"
#include "core/logging.h"
#include "data/batcher.h"
#include "tboard/event_writer.h"
#include "train/checkpoint.h"
#include "train/progress_format.h"
#include "train/learning_rate.h"

namespace loom::train {
namespace {

using Clock = std::chrono::steady_clock;


}  // namespace

Trainer::Trainer(const TrainerOptions& options) : options_(options) {}
Trainer::~Trainer() = default;

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options) {
  std::unique_ptr<Trainer> trainer(new Trainer(options));
  LOOM_RETURN_IF_ERROR(trainer->Init());
  return trainer;
}

Status Trainer::Init() {
  if (options_.batch_size <= 0) return InvalidArgument("--batch_size: must be positive");
  if (options_.train_dir.empty()) return InvalidArgument("--train_dir: must be set");
  if (options_.learning_rate_decay != "none" && options_.learning_rate_decay != "cosine")
    return InvalidArgument("--learning_rate_decay: \"" + options_.learning_rate_decay +
                           "\" is not none or cosine");
  LOOM_ASSIGN_OR_RETURN(data_, LoadMnist(options_.data_dir, MnistOptions{}));

  nn::ModelOptions model_options;
  model_options.num_threads = options_.num_threads;
  model_options.max_batch = options_.batch_size;
  LOOM_ASSIGN_OR_RETURN(model_, nn::Model::Create(options_.spec, model_options));
  nn::OptimizerOptions optimizer_options = options_.optimizer;
  optimizer_options.num_threads = options_.num_threads;
  LOOM_ASSIGN_OR_RETURN(optimizer_, nn::Optimizer::Create(optimizer_options));

  uint64_t seed = options_.seed;
  LOOM_ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(options_.train_dir));
  if (latest) {
    LOOM_ASSIGN_OR_RETURN(Checkpoint ckpt, LoadCheckpoint(*latest));
    LOOM_RETURN_IF_ERROR(model_->LoadParameters(ckpt.variables, *latest));
    LOOM_RETURN_IF_ERROR(optimizer_->LoadState(ckpt.optimizer_state, *latest, model_->parameters()));
    global_step_ = ckpt.global_step;
    // Batches continue in the order the original run would have drawn them.
    if (auto it = ckpt.metadata.find("seed"); it != ckpt.metadata.end())
      seed = std::strtoull(it->second.c_str(), nullptr, 10);
    if (options_.out) Print(Format("Resuming from %s (global step %lld)", latest->c_str(),
                                   static_cast<long long>(global_step_)));
  } else {
    model_->InitParameters(seed);
  }
  options_.seed = seed;
  // Only now, with the inputs known to be good, does anything get written.
  LOOM_RETURN_IF_ERROR(EnsureWritableDir(options_.train_dir).WithPrefix("--train_dir"));

  BatcherOptions batcher_options;
  batcher_options.batch_size = options_.batch_size;
  batcher_options.seed = seed;
  LOOM_ASSIGN_OR_RETURN(batcher_, Batcher::Create(data_.train, batcher_options));
  batcher_->Seek(global_step_);
  target_step_ = options_.epochs > 0 ? options_.epochs * batcher_->batches_per_epoch()
                                     : options_.train_steps;

  tboard::EventWriterOptions event_options;
  event_options.dir = options_.train_dir;
  LOOM_ASSIGN_OR_RETURN(events_, tboard::EventWriter::Create(event_options));
  return OkStatus();
}

void Trainer::Print(const std::string& line) {
  if (!options_.out) return;
  if (bar_drawn_) *options_.out << "\r\033[K";
  *options_.out << line << std::endl;  // live in logs and pipes, not at exit
  bar_drawn_ = false;
}

void Trainer::DrawBar(double examples_per_sec, double loss) {
  if (!options_.out || !options_.progress_bar) return;
  constexpr int kWidth = 30;
  double frac = target_step_ > 0 ? static_cast<double>(global_step_) / target_step_ : 1.0;
  int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  *options_.out << "\r\033[K[" << bar << "] "
                << Format("%lld/%lld steps  %.0f examples/s  loss %.4f",
                          static_cast<long long>(global_step_),
                          static_cast<long long>(target_step_), examples_per_sec, loss)
                << std::flush;
  bar_drawn_ = true;
}

Status Trainer::StartSave(std::string* last_path) {
  LOOM_RETURN_IF_ERROR(FinishSave(last_path));
  Checkpoint ckpt;
  ckpt.global_step = global_step_;
  ckpt.spec = options_.spec;
  for (const nn::Parameter& p : model_->parameters()) ckpt.variables.push_back({p.name, p.value});
  ckpt.optimizer_state = optimizer_->SaveState();
  ckpt.metadata["seed"] = std::to_string(options_.seed);
  ckpt.metadata["optimizer"] = options_.optimizer.ToJson().dump();
  pending_save_ = std::async(std::launch::async, [dir = options_.train_dir, ckpt = std::move(ckpt)] {
    return SaveCheckpoint(dir, ckpt);
  });
  return OkStatus();
}

Status Trainer::FinishSave(std::string* last_path) {
  if (!pending_save_.valid()) return OkStatus();
  LOOM_ASSIGN_OR_RETURN(*last_path, pending_save_.get());
  return OkStatus();
}

StatusOr<TrainResult> Trainer::Run() {
  TrainResult result;
  const int64_t batch = options_.batch_size;
  const int64_t features = data_.train.features;
  std::vector<float> images(static_cast<size_t>(batch * features));
  std::vector<int32_t> labels(static_cast<size_t>(batch));

  Print(Format("Training begins @ %f", UnixNow()));
  const auto start = Clock::now();
  const double cpu_start = ProcessCpuSecs();
  auto last_log = start;
  auto last_summary = start;
  int64_t summary_step = global_step_;
  double loss_sum = 0;
  int64_t loss_count = 0;
  double last_loss = 0;
  while (global_step_ < target_step_) {
    if (options_.learning_rate_decay == "cosine")
      optimizer_->set_learning_rate(CosineDecay(options_.optimizer.learning_rate, global_step_, target_step_));
    batcher_->Next(images.data(), labels.data());
    last_loss = model_->ComputeGradients(images.data(), labels.data(), batch);
    optimizer_->Apply(model_->parameters());
    ++global_step_;
    ++result.local_steps;
    loss_sum += last_loss;
    ++loss_count;
    if (!std::isfinite(last_loss))
      return FailedPrecondition(Format("loss is %f at global step %lld: training diverged "
                                       "(try a smaller --learning_rate)",
                                       last_loss, static_cast<long long>(global_step_)));

    const auto now = Clock::now();
    const bool last = global_step_ >= target_step_;
    const double since_log = std::chrono::duration<double>(now - last_log).count();
    if (result.local_steps == 1 || last || since_log >= options_.log_every_secs) {
      Print(Format("%f: Worker %d: training step %lld done (global step: %lld)", UnixNow(),
                   options_.task_index, static_cast<long long>(result.local_steps),
                   static_cast<long long>(global_step_)));
      double elapsed = std::chrono::duration<double>(now - start).count();
      DrawBar(elapsed > 0 ? result.local_steps * batch / elapsed : 0, last_loss);
      last_log = now;
    }
    if (options_.save_summaries_steps > 0 && global_step_ % options_.save_summaries_steps == 0) {
      double secs = std::chrono::duration<double>(now - last_summary).count();
      double rate = secs > 0 ? (global_step_ - summary_step) / secs : 0;
      LOOM_RETURN_IF_ERROR(events_->WriteScalars(
          {{"loss", loss_sum / loss_count}, {"global_step/sec", rate}}, global_step_));
      loss_sum = 0;
      loss_count = 0;
      summary_step = global_step_;
      last_summary = now;
    }
    if (!last && options_.save_checkpoint_steps > 0 &&
        global_step_ % options_.save_checkpoint_steps == 0) {
      LOOM_RETURN_IF_ERROR(StartSave(&result.checkpoint_path));
      nn::EvalResult v = model_->Evaluate(data_.validation.images.data(),
                                          data_.validation.labels.data(), data_.validation.size);
      LOOM_RETURN_IF_ERROR(events_->WriteScalar("accuracy", v.accuracy, global_step_));
    }
    if (options_.should_stop && options_.should_stop()) {
      result.stopped_early = !last;
      break;
    }
  }
  const auto end = Clock::now();
  const double cpu_secs = ProcessCpuSecs() - cpu_start;
  result.seconds = std::chrono::duration<double>(end - start).count();
  result.examples_per_sec = result.seconds > 0 ? result.local_steps * batch / result.seconds : 0;
  result.global_step = global_step_;
  LOOM_RETURN_IF_ERROR(StartSave(&result.checkpoint_path));

  Print(Format("Training ends @ %f", UnixNow()));
  Print(Format("Training elapsed time: %f s", result.seconds));
  Print(Format("Throughput: %.0f examples/s", result.examples_per_sec));
  if (result.local_steps > 0)
    Print(Format("CPU: %.0f us per step (this process)", cpu_secs * 1e6 / static_cast<double>(result.local_steps)));
  if (result.stopped_early) {
    LOOM_RETURN_IF_ERROR(FinishSave(&result.checkpoint_path));
    Print(Format("Stopped at global step %lld; checkpoint %s", static_cast<long long>(global_step_),
                 result.checkpoint_path.c_str()));
    LOOM_RETURN_IF_ERROR(events_->Close());
    return result;
  }
  nn::EvalResult validation = model_->Evaluate(
      data_.validation.images.data(), data_.validation.labels.data(), data_.validation.size);
  nn::EvalResult test =
      model_->Evaluate(data_.test.images.data(), data_.test.labels.data(), data_.test.size);
  result.validation_cross_entropy = validation.cross_entropy;
  result.validation_accuracy = validation.accuracy;
  result.test_accuracy = test.accuracy;
  LOOM_RETURN_IF_ERROR(events_->WriteScalar("accuracy", validation.accuracy, global_step_));
  LOOM_RETURN_IF_ERROR(events_->Close());
  LOOM_RETURN_IF_ERROR(FinishSave(&result.checkpoint_path));
  Print(Format("After %lld training step(s), validation cross entropy = %g",
               static_cast<long long>(global_step_), validation.cross_entropy));
  Print(Format("Test accuracy: %.4f", test.accuracy));
  return result;
}

}  // namespace loom::train
