#include "serving/metrics.h"

#include <cstdio>

namespace loom::serving {
namespace {

// Label values escaped as the exposition format requires.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void ServingMetrics::Record(const std::string& model, const std::string& api,
                            const std::string& entrypoint, const std::string& status, int64_t latency_us) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[{model, api, entrypoint, status}];
  Histogram& h = latency_[{model, api, entrypoint}];
  size_t b = 0;
  while (b < kBucketsUs.size() && latency_us > kBucketsUs[b]) ++b;
  if (b < kBucketsUs.size()) ++h.buckets[b];
  ++h.count;
  h.sum_us += static_cast<double>(latency_us);
}

void ServingMetrics::RecordBatch(int64_t examples) {
  size_t b = 0;
  while (b < kBatchSizeBuckets.size() && examples > kBatchSizeBuckets[b]) ++b;
  batch_buckets_[b].fetch_add(1, std::memory_order_relaxed);
  batched_examples_.fetch_add(examples, std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
}

std::string ServingMetrics::PrometheusText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out += "# HELP :tensorflow:serving:request_count The total number of requests.\n";
  out += "# TYPE :tensorflow:serving:request_count counter\n";
  for (const auto& [key, n] : counts_) {
    const auto& [model, api, entrypoint, status] = key;
    out += ":tensorflow:serving:request_count{model_name=\"" + Escape(model) + "\",API=\"" +
           Escape(api) + "\",entrypoint=\"" + Escape(entrypoint) + "\",status=\"" + Escape(status) + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "# HELP :tensorflow:serving:request_latency Distribution of wall time (in microseconds) "
         "for Tensorflow Serving request.\n";
  out += "# TYPE :tensorflow:serving:request_latency histogram\n";
  for (const auto& [key, h] : latency_) {
    const auto& [model, api, entrypoint] = key;
    std::string labels = "model_name=\"" + Escape(model) + "\",API=\"" + Escape(api) +
                         "\",entrypoint=\"" + Escape(entrypoint) + "\"";
    int64_t cumulative = 0;
    for (size_t b = 0; b < kBucketsUs.size(); ++b) {
      cumulative += h.buckets[b];
      out += ":tensorflow:serving:request_latency_bucket{" + labels + ",le=\"" +
             std::to_string(kBucketsUs[b]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += ":tensorflow:serving:request_latency_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
    char sum[64];
    snprintf(sum, sizeof(sum), "%.0f", h.sum_us);
    out += ":tensorflow:serving:request_latency_sum{" + labels + "} " + sum + "\n";
    out += ":tensorflow:serving:request_latency_count{" + labels + "} " + std::to_string(h.count) + "\n";
  }
  if (!batching_.load()) return out;
  out += "# HELP :loom:serving:batching:processed_batch_size Examples per batch run by "
         "--enable_batching.\n";
  out += "# TYPE :loom:serving:batching:processed_batch_size histogram\n";
  int64_t cumulative = 0;
  for (size_t b = 0; b < kBatchSizeBuckets.size(); ++b) {
    cumulative += batch_buckets_[b].load();
    out += ":loom:serving:batching:processed_batch_size_bucket{le=\"" +
           std::to_string(kBatchSizeBuckets[b]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += batch_buckets_[kBatchSizeBuckets.size()].load();
  out += ":loom:serving:batching:processed_batch_size_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += ":loom:serving:batching:processed_batch_size_sum " + std::to_string(batched_examples_.load()) + "\n";
  out += ":loom:serving:batching:processed_batch_size_count " + std::to_string(cumulative) + "\n";
  out += "# HELP :loom:serving:batching:queued_examples Examples waiting for a batch.\n";
  out += "# TYPE :loom:serving:batching:queued_examples gauge\n";
  out += ":loom:serving:batching:queued_examples " + std::to_string(queued_examples_.load()) + "\n";
  return out;
}

}  // namespace loom::serving
