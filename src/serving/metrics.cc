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
                            const std::string& status, int64_t latency_us) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[{model, api, status}];
  Histogram& h = latency_[{model, api}];
  size_t b = 0;
  while (b < kBucketsUs.size() && latency_us > kBucketsUs[b]) ++b;
  if (b < kBucketsUs.size()) ++h.buckets[b];
  ++h.count;
  h.sum_us += static_cast<double>(latency_us);
}

std::string ServingMetrics::PrometheusText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out += "# HELP :tensorflow:serving:request_count The total number of requests.\n";
  out += "# TYPE :tensorflow:serving:request_count counter\n";
  for (const auto& [key, n] : counts_) {
    const auto& [model, api, status] = key;
    out += ":tensorflow:serving:request_count{model_name=\"" + Escape(model) + "\",API=\"" +
           Escape(api) + "\",entrypoint=\"REST\",status=\"" + Escape(status) + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "# HELP :tensorflow:serving:request_latency Distribution of wall time (in microseconds) "
         "for Tensorflow Serving request.\n";
  out += "# TYPE :tensorflow:serving:request_latency histogram\n";
  for (const auto& [key, h] : latency_) {
    std::string labels = "model_name=\"" + Escape(key.first) + "\",API=\"" + Escape(key.second) +
                         "\",entrypoint=\"REST\"";
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
  return out;
}

}  // namespace loom::serving
