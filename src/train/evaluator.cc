#include "train/evaluator.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "core/file.h"
#include "data/mnist.h"
#include "nn/model.h"
#include "tboard/event_writer.h"
#include "train/checkpoint.h"

namespace loom::train {

struct Evaluator::Impl {
  EvaluatorOptions options;
  Mnist data;
  std::unique_ptr<tboard::EventWriter> events;
  int64_t target_step = 0;

  void Print(const std::string& line) {
    if (options.out) *options.out << line << std::endl;
  }
};

Evaluator::Evaluator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Evaluator::~Evaluator() = default;

StatusOr<std::unique_ptr<Evaluator>> Evaluator::Create(const EvaluatorOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.train_dir.empty()) return InvalidArgument("--train_dir: must be set");
  if (options.batch_size <= 0) return InvalidArgument("--batch_size: must be positive");
  if (impl->options.eval_dir.empty()) impl->options.eval_dir = JoinPath(options.train_dir, "eval");
  LOOM_ASSIGN_OR_RETURN(impl->data, LoadMnist(options.data_dir, MnistOptions{}));
  impl->target_step = options.epochs > 0 ? options.epochs * (impl->data.train.size / options.batch_size)
                                         : options.train_steps;
  tboard::EventWriterOptions event_options;
  event_options.dir = impl->options.eval_dir;
  LOOM_ASSIGN_OR_RETURN(impl->events, tboard::EventWriter::Create(event_options));
  return std::unique_ptr<Evaluator>(new Evaluator(std::move(impl)));
}

StatusOr<EvaluatorResult> Evaluator::Run() {
  Impl& s = *impl_;
  EvaluatorResult result;
  std::string last_path;
  for (;;) {
    LOOM_ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(s.options.train_dir));
    if (latest && *latest != last_path) {
      StatusOr<Checkpoint> ckpt = LoadCheckpoint(*latest);
      // The chief's max_to_keep may delete a checkpoint between the index and the read: look again.
      if (!ckpt.ok() && !PathExists(*latest)) continue;
      if (!ckpt.ok()) return ckpt.status();
      nn::ModelOptions model_options;
      model_options.num_threads = s.options.num_threads;
      model_options.max_batch = 1000;
      LOOM_ASSIGN_OR_RETURN(std::unique_ptr<nn::Model> model, nn::Model::Create(ckpt->spec, model_options));
      LOOM_RETURN_IF_ERROR(model->LoadParameters(ckpt->variables, *latest));
      const Dataset& test = s.data.test;
      const Dataset& validation = s.data.validation;
      nn::EvalResult t = model->Evaluate(test.images.data(), test.labels.data(), test.size);
      nn::EvalResult v = model->Evaluate(validation.images.data(), validation.labels.data(), validation.size);
      LOOM_RETURN_IF_ERROR(s.events->WriteScalars(
          {{"accuracy", t.accuracy}, {"loss", t.cross_entropy}, {"validation/accuracy", v.accuracy}},
          ckpt->global_step));
      LOOM_RETURN_IF_ERROR(s.events->Flush());
      char line[512];
      snprintf(line, sizeof(line), "Evaluated %s (global step %lld): test accuracy %.4f, test cross entropy %g",
               latest->c_str(), static_cast<long long>(ckpt->global_step), t.accuracy, t.cross_entropy);
      s.Print(line);
      last_path = *latest;
      ++result.evaluations;
      result.last_global_step = ckpt->global_step;
      result.last_test_accuracy = t.accuracy;
      if (ckpt->global_step >= s.target_step) break;
    }
    if (s.options.should_stop && s.options.should_stop()) {
      result.stopped_early = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(s.options.poll_secs));
  }
  LOOM_RETURN_IF_ERROR(s.events->Close());
  return result;
}

}  // namespace loom::train
