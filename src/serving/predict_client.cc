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

// The predict URL path of `options` (v1 :predict or v2 /infer), or an error naming the flag.
StatusOr<std::string> PredictPath(const PredictClientOptions& options) {
  if (options.server.empty()) return InvalidArgument("--server: must be host:port");
  if (options.protocol != "v1" && options.protocol != "v2")
    return InvalidArgument("--protocol: \"" + options.protocol + "\" is not v1 or v2");
  const bool v2 = options.protocol == "v2";
  std::string path = (v2 ? "/v2/models/" : "/v1/models/") + net::UrlEncode(options.model, false);
  if (options.version >= 0) path += "/versions/" + std::to_string(options.version);
  path += v2 ? "/infer" : ":predict";
  return path;
}

// A non-200 answer as an error carrying the server's {"error": ...} message.
Status ErrorOf(const net::HttpResponse& response) {
  auto body = ParseJson(response.body, "response");
  std::string message = body.ok() && body->contains("error") && (*body)["error"].is_string()
                            ? (*body)["error"].get<std::string>()
                            : response.body.substr(0, 200);
  return Unavailable(std::to_string(response.status) + ": " + message);
}

}  // namespace

std::string PredictBody(const float* images, int64_t n, int64_t features, const std::string& signature) {
  std::string body;
  body.reserve(static_cast<size_t>(n * features) * 12 + 64);
  body = "{";
  if (!signature.empty()) body += "\"signature_name\": " + Json(signature).dump() + ", ";
  body += "\"instances\": [";
  for (int64_t i = 0; i < n; ++i) {
    body += i ? ", [" : "[";
    AppendFloats(images + i * features, features, &body);
    body += ']';
  }
  body += "]}";
  return body;
}

std::string InferBodyV2(const float* images, int64_t n, int64_t features) {
  std::string body;
  body.reserve(static_cast<size_t>(n * features) * 12 + 128);
  body = "{\"inputs\": [{\"name\": \"images\", \"shape\": [" + std::to_string(n) + ", " +
         std::to_string(features) + "], \"datatype\": \"FP32\", \"data\": [";
  AppendFloats(images, n * features, &body);
  body += "]}]}";
  return body;
}

StatusOr<PredictReport> RunPredictions(const PredictClientOptions& options, const Dataset& data,
                                       int64_t num_tests) {
  if (options.concurrency < 1) return InvalidArgument("--concurrency: must be >= 1");
  const int64_t n = num_tests <= 0 ? data.size : std::min(num_tests, data.size);
  LOOM_ASSIGN_OR_RETURN(const std::string path, PredictPath(options));
  const bool v2 = options.protocol == "v2";
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
      request.body = v2 ? InferBodyV2(data.image(i), 1, data.features)
                        : PredictBody(data.image(i), 1, data.features, options.signature);
      auto start = std::chrono::steady_clock::now();
      auto response = (*client)->Send(request);
      latencies[static_cast<size_t>(i)] =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      Status error;
      int64_t predicted = -1;
      if (!response.ok()) {
        error = response.status();
      } else if (response->status != 200) {
        error = ErrorOf(*response);
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

namespace loom::serving {
namespace {

// Appends the k numbers of a JSON array to out; false if it is not k numbers.
bool ReadScores(const Json& j, int64_t k, std::vector<float>* out) {
  if (!j.is_array() || static_cast<int64_t>(j.size()) != k) return false;
  for (const Json& v : j) {
    if (!v.is_number()) return false;
    out->push_back(v.get<float>());
  }
  return true;
}

// The n answers of a 200 body: v1 predictions[i].{scores, classes}, or v2 outputs scores
// (data [n*10]) and classes (data [n]).
StatusOr<std::vector<ImagePrediction>> PredictionsOf(const std::string& body, int64_t n, bool v2) {
  LOOM_ASSIGN_OR_RETURN(Json j, ParseJson(body, "response"));
  std::vector<ImagePrediction> out(static_cast<size_t>(n));
  const std::string excerpt = body.substr(0, 200);
  if (!v2) {
    const Json* p = j.contains("predictions") ? &j["predictions"] : nullptr;
    if (!p || !p->is_array() || static_cast<int64_t>(p->size()) != n)
      return DataLoss("the answer has no predictions for " + std::to_string(n) + " images: " + excerpt);
    for (int64_t i = 0; i < n; ++i) {
      const Json& row = (*p)[i];
      if (!row.is_object() || !row.contains("classes") || !row["classes"].is_number_integer() ||
          !row.contains("scores") || !ReadScores(row["scores"], 10, &out[i].scores))
        return DataLoss("predictions[" + std::to_string(i) + "]: want scores[10] and classes: " + excerpt);
      out[i].digit = row["classes"].get<int64_t>();
    }
    return out;
  }
  const Json* scores = nullptr;
  const Json* classes = nullptr;
  if (j.contains("outputs") && j["outputs"].is_array()) {
    for (const Json& o : j["outputs"]) {
      if (!o.is_object() || !o.contains("data")) continue;
      if (o.value("name", "") == "scores") scores = &o["data"];
      if (o.value("name", "") == "classes") classes = &o["data"];
    }
  }
  std::vector<float> flat;
  if (!scores || !ReadScores(*scores, n * 10, &flat))
    return DataLoss("outputs[name=scores].data: want " + std::to_string(n * 10) + " numbers: " + excerpt);
  if (!classes || !classes->is_array() || static_cast<int64_t>(classes->size()) != n)
    return DataLoss("outputs[name=classes].data: want " + std::to_string(n) + " integers: " + excerpt);
  for (int64_t i = 0; i < n; ++i) {
    if (!(*classes)[i].is_number_integer())
      return DataLoss("outputs[name=classes].data[" + std::to_string(i) + "]: not an integer: " + excerpt);
    out[i].digit = (*classes)[i].get<int64_t>();
    out[i].scores.assign(flat.begin() + i * 10, flat.begin() + (i + 1) * 10);
  }
  return out;
}

}  // namespace

StatusOr<std::vector<ImagePrediction>> PredictImages(const PredictClientOptions& options, const float* images,
                                                     int64_t n, int64_t features) {
  LOOM_ASSIGN_OR_RETURN(const std::string path, PredictPath(options));
  const bool v2 = options.protocol == "v2";
  LOOM_ASSIGN_OR_RETURN(auto client, net::HttpClient::Create(net::HttpClientOptions{}));
  net::HttpRequest request;
  request.method = "POST";
  request.url = "http://" + options.server + path;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = v2 ? InferBodyV2(images, n, features) : PredictBody(images, n, features, options.signature);
  const std::string where = options.server + ": POST " + path;
  auto response = client->Send(request);
  if (!response.ok()) return response.status().WithPrefix(where);
  if (response->status != 200) return ErrorOf(*response).WithPrefix(where);
  auto predictions = PredictionsOf(response->body, n, v2);
  if (!predictions.ok()) return predictions.status().WithPrefix(where);
  return predictions;
}

}  // namespace loom::serving
