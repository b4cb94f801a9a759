// Server-side request batching (TF Serving's --enable_batching): a Servable decorator that
// queues concurrent Predict calls and runs them as one batch on the wrapped servable, which
// turns many one-image matrix-vector products into one matrix-matrix product.
//
// A batch is closed when it holds max_batch_size examples or batch_timeout_micros after its
// first request, whichever comes first; num_batch_threads run batches in parallel. More than
// max_enqueued_batches waiting batches make Predict return UNAVAILABLE ("queue is full"), as
// TF Serving does. Thread-safe.
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
#include "serving/servable.h"

namespace loom::serving {

// TF Serving's BatchingParameters (the fields Loom uses), with its defaults.
struct BatchingParameters {
  int64_t max_batch_size = 32;
  int64_t batch_timeout_micros = 0;
  int64_t max_enqueued_batches = 100;
  int64_t num_batch_threads = 0;  // 0: number of CPUs
};

// --batching_parameters_file: protobuf text ("max_batch_size { value: 128 }") or YAML/JSON with
// the same fields (plain numbers accepted too). Errors name the file and field.
StatusOr<BatchingParameters> ReadBatchingParameters(const std::string& path);
StatusOr<BatchingParameters> BatchingParametersFromJson(const Json& json, const std::string& source);

class BatchingServable : public Servable {
 public:
  BatchingServable(std::shared_ptr<Servable> inner, const BatchingParameters& params);
  ~BatchingServable() override;  // finishes queued work, joins the batch threads

  const Signature& signature() const override { return inner_->signature(); }
  Status Predict(const float* inputs, int64_t n, float* scores) override;

 private:
  struct Task;
  void BatchLoop();

  std::shared_ptr<Servable> inner_;
  BatchingParameters params_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<Task*> queue_;
  int64_t queued_examples_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Wraps every servable another loader makes in a BatchingServable.
class BatchingLoader : public ServableLoader {
 public:
  BatchingLoader(ServableLoader* inner, BatchingParameters params) : inner_(inner), params_(params) {}
  StatusOr<std::shared_ptr<Servable>> Load(const std::string& path, int64_t version) override;

 private:
  ServableLoader* inner_;
  BatchingParameters params_;
};

}  // namespace loom::serving
