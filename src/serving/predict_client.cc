#include "serving/predict_client.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "core/json.h"
#include "net/http_client.h"
#include "tfserving/serving_apis.grpc.pb.h"

namespace loom::serving {

namespace {

void AppendFloats(const float* values, int64_t n, std::string* out) {
  char buf[32];
  for (int64_t i = 0; i < n; ++i) {
    if (i) *out += ',';
    out->append(buf, std::to_chars(buf, buf + sizeof(buf), values[i]).ptr);
  }
}

// The predict URL path of `options` (v1 :predict or v2 /infer), or an error naming the flag.
StatusOr<std::string> PredictPath(const PredictClientOptions& options) {
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

// One connection to the model server, speaking the options' protocol.
class Connection {
 public:
  virtual ~Connection() = default;
  // The answers for n images, or the error prefixed with the server and the call.
  virtual StatusOr<std::vector<ImagePrediction>> Predict(const float* images, int64_t n, int64_t features) = 0;
};

// TF Serving's REST :predict or KServe v2's /infer over a kept-alive HTTP connection.
class HttpConnection : public Connection {
 public:
  static StatusOr<std::unique_ptr<Connection>> Create(const PredictClientOptions& options) {
    LOOM_ASSIGN_OR_RETURN(const std::string path, PredictPath(options));
    LOOM_ASSIGN_OR_RETURN(auto client, net::HttpClient::Create(net::HttpClientOptions{}));
    return std::unique_ptr<Connection>(new HttpConnection(options, path, std::move(client)));
  }
  StatusOr<std::vector<ImagePrediction>> Predict(const float* images, int64_t n, int64_t features) override {
    request_.body = v2_ ? InferBodyV2(images, n, features) : PredictBody(images, n, features, signature_);
    auto response = client_->Send(request_);
    if (!response.ok()) return response.status().WithPrefix(where_);
    if (response->status != 200) return ErrorOf(*response).WithPrefix(where_);
    auto predictions = PredictionsOf(response->body, n, v2_);
    if (!predictions.ok()) return predictions.status().WithPrefix(where_);
    return predictions;
  }

 private:
  HttpConnection(const PredictClientOptions& options, const std::string& path,
                 std::unique_ptr<net::HttpClient> client)
      : client_(std::move(client)), v2_(options.protocol == "v2"), signature_(options.signature),
        where_(options.server + ": POST " + path) {
    request_.method = "POST";
    request_.url = "http://" + options.server + path;
    request_.headers = {{"Content-Type", "application/json"}};
  }
  std::unique_ptr<net::HttpClient> client_;
  net::HttpRequest request_;
  bool v2_;
  std::string signature_;
  std::string where_;
};

// TF Serving's PredictionService.Predict, the images as one DT_FLOAT tensor_content (what
// TensorFlow's make_tensor_proto sends), on a channel of its own.
class GrpcConnection : public Connection {
 public:
  explicit GrpcConnection(const PredictClientOptions& options)
      : where_(options.server + ": Predict") {
    // A channel argument of its own gives each connection its own TCP connection.
    grpc::ChannelArguments args;
    args.SetInt("loom.connection", next_id_.fetch_add(1));
    stub_ = tensorflow::serving::PredictionService::NewStub(
        grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), args));
    request_.mutable_model_spec()->set_name(options.model);
    if (options.version >= 0) request_.mutable_model_spec()->mutable_version()->set_value(options.version);
    request_.mutable_model_spec()->set_signature_name(options.signature);
    tensor_ = &(*request_.mutable_inputs())["images"];
    tensor_->set_dtype(tensorflow::DT_FLOAT);
    tensor_->mutable_tensor_shape()->add_dim();
    tensor_->mutable_tensor_shape()->add_dim();
  }
  StatusOr<std::vector<ImagePrediction>> Predict(const float* images, int64_t n, int64_t features) override {
    tensor_->mutable_tensor_shape()->mutable_dim(0)->set_size(n);
    tensor_->mutable_tensor_shape()->mutable_dim(1)->set_size(features);
    tensor_->set_tensor_content(images, static_cast<size_t>(n * features) * sizeof(float));
    grpc::ClientContext context;
    // A server that takes a call and never answers must not hang the client (Kubeflow's mnist
    // client waited 5 s; a batch of 100 images on a loaded machine may take longer).
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    tensorflow::serving::PredictResponse response;
    grpc::Status s = stub_->Predict(&context, request_, &response);
    if (!s.ok()) {
      tensorflow::error::Code code = static_cast<tensorflow::error::Code>(s.error_code());
      return Unavailable(where_ + ": " + tensorflow::error::Code_Name(code) + ": " + s.error_message());
    }
    auto scores = response.outputs().find("scores");
    auto classes = response.outputs().find("classes");
    if (scores == response.outputs().end() || scores->second.float_val_size() != n * 10)
      return DataLoss(where_ + ": outputs[\"scores\"].float_val: want " + std::to_string(n * 10) + " floats");
    if (classes == response.outputs().end() || classes->second.int64_val_size() != n)
      return DataLoss(where_ + ": outputs[\"classes\"].int64_val: want " + std::to_string(n) + " integers");
    std::vector<ImagePrediction> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      out[i].digit = classes->second.int64_val(static_cast<int>(i));
      const float* row = scores->second.float_val().data() + i * 10;
      out[i].scores.assign(row, row + 10);
    }
    return out;
  }

 private:
  static inline std::atomic<int> next_id_{0};
  std::unique_ptr<tensorflow::serving::PredictionService::Stub> stub_;
  tensorflow::serving::PredictRequest request_;
  tensorflow::TensorProto* tensor_;
  std::string where_;
};

StatusOr<std::unique_ptr<Connection>> Connect(const PredictClientOptions& options) {
  if (options.server.empty()) return InvalidArgument("--server: must be host:port");
  if (options.protocol == "grpc") return std::unique_ptr<Connection>(new GrpcConnection(options));
  if (options.protocol == "rest" || options.protocol == "v2") return HttpConnection::Create(options);
  return InvalidArgument("--protocol: \"" + options.protocol + "\" is not rest, grpc or v2");
}

}  // namespace

StatusOr<std::vector<ImagePrediction>> PredictImages(const PredictClientOptions& options, const float* images,
                                                     int64_t n, int64_t features) {
  LOOM_ASSIGN_OR_RETURN(auto connection, Connect(options));
  return connection->Predict(images, n, features);
}

StatusOr<PredictReport> RunPredictions(const PredictClientOptions& options, const Dataset& data,
                                       int64_t num_tests) {
  if (options.concurrency < 1) return InvalidArgument("--concurrency: must be >= 1");
  const int64_t n = num_tests <= 0 ? data.size : std::min(num_tests, data.size);
  LOOM_RETURN_IF_ERROR(Connect(options).status());  // the options' errors before any thread starts

  std::atomic<int64_t> next{0};
  std::atomic<int64_t> wrong{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;
  std::vector<double> latencies(static_cast<size_t>(n));
  auto fail = [&](const Status& error) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.ok()) first_error = error;
    failed = true;
  };
  auto worker = [&] {
    auto connection = Connect(options);
    if (!connection.ok()) return fail(connection.status());
    while (!failed.load()) {
      int64_t i = next.fetch_add(1);
      if (i >= n) break;
      auto start = std::chrono::steady_clock::now();
      auto answer = (*connection)->Predict(data.image(i), 1, data.features);
      latencies[static_cast<size_t>(i)] =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (!answer.ok()) return fail(answer.status());
      if ((*answer)[0].digit != data.labels[static_cast<size_t>(i)]) wrong.fetch_add(1);
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
