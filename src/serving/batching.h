// Server-side request batching (TF Serving's --enable_batching): a Servable decorator that
// queues concurrent Predict calls and runs them as one batch on the wrapped servable, which
// turns many one-image matrix-vector products into one matrix-matrix product.
//
// A batch is closed when it holds max_batch_size examples or batch_timeout_micros after its
// first request, whichever comes first; num_batch_threads run batches in parallel. More than
// max_enqueued_batches waiting batches make Predict return UNAVAILABLE ("queue is full"), as
// TF Serving does. PredictAsync queues without blocking the caller and finishes on the batch
// thread, so an HTTP event thread can hand over hundreds of requests (rest_api.h); Predict
// blocks until its batch ran. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "serving/metrics.h"
#include "serving/servable.h"
#include "tensorflow_serving/servables/tensorflow/session_bundle_config.pb.h"

namespace loom::serving {

// TF Serving's BatchingParameters (the fields Loom uses), with its defaults.
struct BatchingParameters {
  int64_t max_batch_size = 32;
  int64_t batch_timeout_micros = 0;
  int64_t max_enqueued_batches = 100;
  int64_t num_batch_threads = 0;  // 0: number of CPUs
};

// --batching_parameters_file: TF Serving's BatchingParameters in protobuf text
// ("max_batch_size { value: 128 }") or YAML/JSON with the same fields (serving/config_file.h).
// Errors name the file and line or field; TensorFlow-only fields are refused by name.
StatusOr<BatchingParameters> ReadBatchingParameters(const std::string& path);
StatusOr<BatchingParameters> BatchingParametersFromProto(const tensorflow::serving::BatchingParameters& proto,
                                                          const std::string& source);

class BatchingServable : public Servable {
 public:
  // metrics (may be null, else must outlive this) gets each batch's size and the queue length.
  BatchingServable(std::shared_ptr<Servable> inner, const BatchingParameters& params,
                   ServingMetrics* metrics = nullptr);
  ~BatchingServable() override;  // finishes queued work, joins the batch threads

  const Signature& signature() const override { return inner_->signature(); }
  // Blocks until the request's batch ran.
  Status Predict(const float* inputs, int64_t n, float* scores) override;
  // Queues the request and returns; `done` runs on a batch thread once its batch ran (at once
  // with UNAVAILABLE when the queue is full).
  void PredictAsync(const float* inputs, int64_t n, float* scores,
                    std::function<void(Status)> done) override;
  // From now on batches run as soon as a batch thread is free, without waiting
  // batch_timeout_micros for more requests: a draining server gets no more.
  void Flush();

 private:
  struct Task {
    const float* inputs;
    int64_t n;
    float* scores;
    std::function<void(Status)> done;
  };
  void BatchLoop();

  std::shared_ptr<Servable> inner_;
  BatchingParameters params_;
  ServingMetrics* metrics_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<Task> queue_;
  int64_t queued_examples_ = 0;
  bool flush_ = false;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Wraps every servable another loader makes in a BatchingServable. Thread-safe.
class BatchingLoader : public ServableLoader {
 public:
  // REQUIRES: inner (and metrics, which may be null) outlive the loader and its servables.
  BatchingLoader(ServableLoader* inner, BatchingParameters params, ServingMetrics* metrics = nullptr)
      : inner_(inner), params_(params), metrics_(metrics) {}
  StatusOr<std::shared_ptr<Servable>> Load(const std::string& path, int64_t version) override;
  // BatchingServable::Flush on every servable loaded, now and later (server drain).
  void Flush();

 private:
  ServableLoader* inner_;
  BatchingParameters params_;
  ServingMetrics* metrics_;
  std::mutex mu_;
  bool flush_ = false;
  std::vector<std::weak_ptr<BatchingServable>> loaded_;
};

}  // namespace loom::serving
