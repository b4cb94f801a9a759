#include "serving/predict_client.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "core/json.h"
#include "net/http_client.h"

namespace loom::serving {

namespace {

void AppendFloats(const float* values, int64_t n, std::string* out) {
  char buf[32];
  for (int64_t i = 0; i < n; ++i) {
    if (i) *out += ',';
    out->append(buf, std::to_chars(buf, buf + sizeof(buf), values[i]).ptr);
  }
}

// The predicted class in a 200 answer, or an error naming what is missing.
StatusOr<int64_t> ClassOf(const std::string& body, bool v2) {
  LOOM_ASSIGN_OR_RETURN(Json j, ParseJson(body, "response"));
  if (!v2) {
    if (j.contains("predictions") && j["predictions"].is_array() && !j["predictions"].empty() &&
        j["predictions"][0].is_object() && j["predictions"][0].contains("classes") &&
        j["predictions"][0]["classes"].is_number_integer())
      return j["predictions"][0]["classes"].get<int64_t>();
    return DataLoss("the answer has no predictions[0].classes: " + body.substr(0, 200));
  }
  if (j.contains("outputs") && j["outputs"].is_array()) {
    for (const Json& o : j["outputs"]) {
      if (o.is_object() && o.value("name", "") == "classes" && o.contains("data") &&
          o["data"].is_array() && !o["data"].empty() && o["data"][0].is_number_integer())
        return o["data"][0].get<int64_t>();
    }
  }
  return DataLoss("the answer has no outputs[name=classes].data[0]: " + body.substr(0, 200));
}

}  // namespace

std::string PredictBody(const float* image, int64_t size, const std::string& signature) {
  std::string body;
  body.reserve(static_cast<size_t>(size) * 12 + 64);
  body = "{";
  if (!signature.empty()) body += "\"signature_name\": " + Json(signature).dump() + ", ";
  body += "\"instances\": [[";
  AppendFloats(image, size, &body);
  body += "]]}";
  return body;
}

std::string InferBodyV2(const float* image, int64_t size) {
  std::string body;
  body.reserve(static_cast<size_t>(size) * 12 + 128);
  body = "{\"inputs\": [{\"name\": \"images\", \"shape\": [1, " + std::to_string(size) +
         "], \"datatype\": \"FP32\", \"data\": [";
  AppendFloats(image, size, &body);
  body += "]}]}";
  return body;
}

StatusOr<PredictReport> RunPredictions(const PredictClientOptions& options, const Dataset& data,
                                       int64_t num_tests) {
  if (options.server.empty()) return InvalidArgument("--server: must be host:port");
  if (options.concurrency < 1) return InvalidArgument("--concurrency: must be >= 1");
  const int64_t n = num_tests <= 0 ? data.size : std::min(num_tests, data.size);
  if (options.protocol != "v1" && options.protocol != "v2")
    return InvalidArgument("--protocol: \"" + options.protocol + "\" is not v1 or v2");
  const bool v2 = options.protocol == "v2";
  std::string path = (v2 ? "/v2/models/" : "/v1/models/") + net::UrlEncode(options.model, false);
  if (options.version >= 0) path += "/versions/" + std::to_string(options.version);
  path += v2 ? "/infer" : ":predict";
  const std::string url = "http://" + options.server + path;

  std::atomic<int64_t> next{0};
  std::atomic<int64_t> wrong{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;
  std::vector<double> latencies(static_cast<size_t>(n));
  auto worker = [&] {
    auto client = net::HttpClient::Create(net::HttpClientOptions{});
    if (!client.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.ok()) first_error = client.status();
      failed = true;
      return;
    }
    net::HttpRequest request;
    request.method = "POST";
    request.url = url;
    request.headers = {{"Content-Type", "application/json"}};
    while (!failed.load()) {
      int64_t i = next.fetch_add(1);
      if (i >= n) break;
      request.body = v2 ? InferBodyV2(data.image(i), data.features)
                        : PredictBody(data.image(i), data.features, options.signature);
      auto start = std::chrono::steady_clock::now();
      auto response = (*client)->Send(request);
      latencies[static_cast<size_t>(i)] =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      Status error;
      int64_t predicted = -1;
      if (!response.ok()) {
        error = response.status();
      } else if (response->status != 200) {
        auto body = ParseJson(response->body, "response");
        std::string message = body.ok() && body->contains("error") && (*body)["error"].is_string()
                                  ? (*body)["error"].get<std::string>()
                                  : response->body.substr(0, 200);
        error = Unavailable(std::to_string(response->status) + ": " + message);
      } else {
        auto predicted_class = ClassOf(response->body, v2);
        if (predicted_class.ok()) predicted = *predicted_class;
        else error = predicted_class.status();
      }
      if (!error.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = error.WithPrefix(options.server + ": POST " + path);
        failed = true;
        break;
      }
      if (predicted != data.labels[static_cast<size_t>(i)]) wrong.fetch_add(1);
    }
  };
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < options.concurrency; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!first_error.ok()) return first_error;
  PredictReport report;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.count = n;
  report.wrong = wrong.load();
  report.error_rate = n > 0 ? static_cast<double>(report.wrong) / static_cast<double>(n) : 0;
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    size_t k = static_cast<size_t>(p * static_cast<double>(latencies.size() - 1) + 0.5);
    return latencies[k];
  };
  report.p50_ms = pct(0.50);
  report.p90_ms = pct(0.90);
  report.p99_ms = pct(0.99);
  return report;
}

}  // namespace loom::serving
