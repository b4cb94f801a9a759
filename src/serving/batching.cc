#include "serving/batching.h"

#include <chrono>
#include <cstring>

#include "serving/config_file.h"

namespace loom::serving {

StatusOr<BatchingParameters> BatchingParametersFromProto(const tensorflow::serving::BatchingParameters& proto,
                                                          const std::string& source) {
  // What TensorFlow's batching session tunes beyond the queue; the batching here has no use for it.
  if (proto.has_thread_pool_name())
    return InvalidArgument(source + ": thread_pool_name: not supported (loom serve's batch threads are its own)");
  if (!proto.allowed_batch_sizes().empty())
    return InvalidArgument(source + ": allowed_batch_sizes: not supported (a batch runs at any size up to max_batch_size)");
  if (proto.pad_variable_length_inputs())
    return InvalidArgument(source + ": pad_variable_length_inputs: not supported (inputs have a fixed length)");
  BatchingParameters p;
  auto take = [&](bool has, const google::protobuf::Int64Value& value, const char* name, int64_t* target) -> Status {
    if (!has) return OkStatus();
    if (value.value() < 0)
      return InvalidArgument(source + ": " + name + ": " + std::to_string(value.value()) + " is not a non-negative integer");
    *target = value.value();
    return OkStatus();
  };
  LOOM_RETURN_IF_ERROR(take(proto.has_max_batch_size(), proto.max_batch_size(), "max_batch_size", &p.max_batch_size));
  LOOM_RETURN_IF_ERROR(take(proto.has_batch_timeout_micros(), proto.batch_timeout_micros(), "batch_timeout_micros",
                            &p.batch_timeout_micros));
  LOOM_RETURN_IF_ERROR(take(proto.has_max_enqueued_batches(), proto.max_enqueued_batches(), "max_enqueued_batches",
                            &p.max_enqueued_batches));
  LOOM_RETURN_IF_ERROR(take(proto.has_num_batch_threads(), proto.num_batch_threads(), "num_batch_threads",
                            &p.num_batch_threads));
  if (p.max_batch_size < 1) return InvalidArgument(source + ": max_batch_size: must be >= 1");
  if (p.max_enqueued_batches < 1) return InvalidArgument(source + ": max_enqueued_batches: must be >= 1");
  return p;
}

StatusOr<BatchingParameters> ReadBatchingParameters(const std::string& path) {
  tensorflow::serving::BatchingParameters proto;
  LOOM_RETURN_IF_ERROR(ReadConfigFile(path, &proto));
  return BatchingParametersFromProto(proto, path);
}

BatchingServable::BatchingServable(std::shared_ptr<Servable> inner, const BatchingParameters& params,
                                   ServingMetrics* metrics)
    : inner_(std::move(inner)), params_(params), metrics_(metrics) {
  int64_t threads = params_.num_batch_threads > 0
                        ? params_.num_batch_threads
                        : std::max<int64_t>(1, std::thread::hardware_concurrency());
  for (int64_t i = 0; i < threads; ++i) threads_.emplace_back([this] { BatchLoop(); });
}

BatchingServable::~BatchingServable() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void BatchingServable::Flush() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    flush_ = true;
  }
  work_cv_.notify_all();
}

Status BatchingServable::Predict(const float* inputs, int64_t n, float* scores) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  Status result;
  PredictAsync(inputs, n, scores, [&](Status status) {
    std::lock_guard<std::mutex> lock(mu);
    result = std::move(status);
    finished = true;
    cv.notify_one();  // under the lock: the waiter cannot return (and destroy cv) before this
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finished; });
  return result;
}

void BatchingServable::PredictAsync(const float* inputs, int64_t n, float* scores,
                                    std::function<void(Status)> done) {
  // A request as big as a batch gains nothing from waiting.
  if (n >= params_.max_batch_size) return done(inner_->Predict(inputs, n, scores));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queued_examples_ + n <= params_.max_enqueued_batches * params_.max_batch_size) {
      queue_.push_back(Task{inputs, n, scores, std::move(done)});
      queued_examples_ += n;
      if (metrics_ != nullptr) metrics_->AddQueuedExamples(n);
      // The thread waiting for this batch to fill is woken only when it is full.
      if (queue_.size() == 1 || queued_examples_ >= params_.max_batch_size) work_cv_.notify_one();
      return;
    }
  }
  done(Unavailable("The batch scheduling queue to which this task was submitted is full"));
}

void BatchingServable::BatchLoop() {
  const Signature& sig = inner_->signature();
  std::vector<float> inputs, scores;
  std::vector<Task> batch;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    // Wait for the batch to fill, up to the timeout counted from now (its first request).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(params_.batch_timeout_micros);
    while (!stop_ && !flush_ && queued_examples_ < params_.max_batch_size && params_.batch_timeout_micros > 0) {
      if (work_cv_.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
    batch.clear();
    int64_t n = 0;
    while (!queue_.empty() && (batch.empty() || n + queue_.front().n <= params_.max_batch_size)) {
      n += queue_.front().n;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (batch.empty()) continue;  // another thread took them while this one waited
    queued_examples_ -= n;
    if (!queue_.empty()) work_cv_.notify_one();  // another thread takes the rest
    lock.unlock();
    if (metrics_ != nullptr) {
      metrics_->AddQueuedExamples(-n);
      metrics_->RecordBatch(n);
    }
    Status status;
    if (batch.size() == 1) {
      status = inner_->Predict(batch[0].inputs, n, batch[0].scores);
    } else {
      inputs.resize(static_cast<size_t>(n * sig.input_size));
      scores.resize(static_cast<size_t>(n * sig.num_classes));
      int64_t row = 0;
      for (const Task& t : batch) {
        std::memcpy(inputs.data() + row * sig.input_size, t.inputs, sizeof(float) * t.n * sig.input_size);
        row += t.n;
      }
      status = inner_->Predict(inputs.data(), n, scores.data());
      row = 0;
      for (const Task& t : batch) {
        if (status.ok())
          std::memcpy(t.scores, scores.data() + row * sig.num_classes, sizeof(float) * t.n * sig.num_classes);
        row += t.n;
      }
    }
    for (Task& t : batch) t.done(status);
    batch.clear();  // the callbacks' captures go now, not at the next batch
    lock.lock();
  }
}

StatusOr<std::shared_ptr<Servable>> BatchingLoader::Load(const std::string& path, int64_t version) {
  LOOM_ASSIGN_OR_RETURN(std::shared_ptr<Servable> inner, inner_->Load(path, version));
  auto servable = std::make_shared<BatchingServable>(std::move(inner), params_, metrics_);
  std::lock_guard<std::mutex> lock(mu_);
  if (flush_) servable->Flush();
  std::erase_if(loaded_, [](const std::weak_ptr<BatchingServable>& w) { return w.expired(); });
  loaded_.push_back(servable);
  return std::shared_ptr<Servable>(std::move(servable));
}

void BatchingLoader::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  flush_ = true;
  for (const auto& w : loaded_)
    if (auto s = w.lock()) s->Flush();
}

}  // namespace loom::serving
