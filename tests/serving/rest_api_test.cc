// The REST API over real HTTP on 127.0.0.1 (port 0), in process, with real Loom bundles.
#include "serving/rest_api.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "serving/model_server.h"
#include "test_util/bundles.h"
#include "test_util/fake_clock.h"
#include "test_util/raw_http.h"
#include "test_util/test_server.h"
#include "test_util/test_env.h"

namespace loom::serving {
namespace {

using testing::ConnectLocal;
using testing::ReadResponse;
using testing::Request;
using testing::RequestText;
using testing::SendAll;

using testing::TestImage;

std::string ImageJson(const std::vector<float>& image) {
  std::string s = "[";
  for (size_t i = 0; i < image.size(); ++i) {
    if (i) s += ",";
    char buf[32];
    snprintf(buf, sizeof(buf), "%.9g", image[i]);
    s += buf;
  }
  return s + "]";
}

Json ParseBody(const testing::RawResponse& r) {
  auto j = ParseJson(r.body, "response");
  EXPECT_TRUE(j.ok()) << r.body;
  return j.ok() ? *j : Json();
}

class RestApiTest : public ::testing::Test {
 protected:
  void Start(double poll_seconds = 1) {
    ModelServerOptions options =
        testing::TestServerOptions(dir_, base_, &clock_, metrics_path_, batching_parameters_);
    options.file_system_poll_wait_seconds = poll_seconds;
    options.max_body_bytes = 16u << 20;
    options.connection_timeout_seconds = 1;
    auto server = ModelServer::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(*server);
    port_ = server_->port();
  }
  testing::RawResponse Predict(const std::string& body, const std::string& which = "") {
    return Request(port_, "POST", "/v1/models/mnist" + which + ":predict", body);
  }
  void ExpectStillServing() {
    auto r = Predict("{\"instances\": [" + ImageJson(TestImage(1)) + "]}");
    EXPECT_EQ(r.status, 200) << r.body;
  }

  loom::testing::ScratchDir dir_;
  std::string base_ = dir_.Join("mnist");
  testing::FakeClock clock_;
  std::unique_ptr<ModelServer> server_;
  int port_ = 0;
  std::string metrics_path_;
  std::string batching_parameters_;  // TF Serving's text format; empty: no batching
};

using testing::MetricValue;

TEST_F(RestApiTest, StatusMetadataAndPredictAsTfServing) {
  std::string v1 = testing::WriteTestBundle(base_, 1, 7);
  Start();
  auto status = Request(port_, "GET", "/v1/models/mnist");
  ASSERT_EQ(status.status, 200);
  Json want = Json::parse(R"({"model_version_status": [{"version": "1", "state": "AVAILABLE",
      "status": {"error_code": "OK", "error_message": ""}}]})");
  EXPECT_EQ(ParseBody(status), want);
  EXPECT_EQ(ParseBody(Request(port_, "GET", "/v1/models/mnist/versions/1")), want);

  Json meta = ParseBody(Request(port_, "GET", "/v1/models/mnist/metadata"));
  EXPECT_EQ(meta["model_spec"]["version"], "1");
  for (const char* sig : {"serving_default", "predict_images"}) {
    Json def = meta["metadata"]["signature_def"]["signature_def"][sig];
    EXPECT_EQ(def["inputs"]["images"]["dtype"], "DT_FLOAT");
    EXPECT_EQ(def["inputs"]["images"]["tensor_shape"]["dim"][1]["size"], "784");
    EXPECT_EQ(def["outputs"]["scores"]["tensor_shape"]["dim"][1]["size"], "10");
    EXPECT_EQ(def["outputs"]["classes"]["dtype"], "DT_INT64");
  }

  std::vector<float> image = TestImage(3);
  std::vector<float> direct = testing::DirectScores(v1, image);
  int best = static_cast<int>(std::max_element(direct.begin(), direct.end()) - direct.begin());
  auto row = Predict("{\"signature_name\": \"predict_images\", \"instances\": [" + ImageJson(image) +
                     ", " + ImageJson(image) + "]}");
  ASSERT_EQ(row.status, 200) << row.body;
  Json preds = ParseBody(row)["predictions"];
  ASSERT_EQ(preds.size(), 2u);
  for (int j = 0; j < 10; ++j) EXPECT_FLOAT_EQ(preds[1]["scores"][j].get<float>(), direct[j]);
  EXPECT_EQ(preds[0]["classes"], best);
  // Columnar, by version, 28x28 nested.
  std::string nested = "[";
  for (int r = 0; r < 28; ++r) {
    std::vector<float> line(image.begin() + r * 28, image.begin() + r * 28 + 28);
    if (r) nested += ",";
    nested += ImageJson(line);
  }
  nested += "]";
  auto col = Predict("{\"inputs\": {\"images\": [" + nested + "]}}", "/versions/1");
  ASSERT_EQ(col.status, 200) << col.body;
  Json outputs = ParseBody(col)["outputs"];
  EXPECT_EQ(outputs["classes"][0], best);
  for (int j = 0; j < 10; ++j) EXPECT_FLOAT_EQ(outputs["scores"][0][j].get<float>(), direct[j]);
  // KServe v2 health.
  EXPECT_EQ(Request(port_, "GET", "/v2/health/live").status, 200);
  EXPECT_EQ(Request(port_, "GET", "/v2/health/ready").status, 200);
}

TEST_F(RestApiTest, BadInputGetsTheRightCodeAndTheServerKeepsServing) {
  testing::WriteTestBundle(base_, 1, 7);
  Start();
  std::string image = ImageJson(TestImage(1));
  struct Case {
    std::string path;  // after /v1/models
    std::string body;
    int code;
    std::string part;  // of the error message
  };
  std::vector<Case> cases = {
      {"/mnist:predict", "{\"instances\": [" + image, 400, "JSON"},
      {"/mnist:predict", "{\"instances\": [[1,2,3]]}", 400, "takes 784 per example"},
      {"/mnist:predict", "{\"inputs\": [[1,2,3]]}", 400, "takes 784 per example"},
      {"/mnist:predict", "{\"instances\": [[\"a\"]]}", 400, "is float"},
      {"/mnist:predict", "{\"inputs\": {\"images\": [[true]]}}", 400, "is float"},
      {"/mnist:predict", "{\"instances\": [[NaN]]}", 400, "expected a number"},
      {"/mnist:predict", "{\"inputs\": [[1e300]]}", 400, "out of range for float"},
      {"/mnist:predict", "{\"instances\": [[-1e39]]}", 400, "out of range for float"},
      {"/mnist:predict", "{\"signature_name\": \"nope\", \"instances\": [" + image + "]}", 400,
       "Serving signature name: \"nope\" not found"},
      {"/other:predict", "{\"instances\": [" + image + "]}", 404,
       "Servable not found for request: Latest(other)"},
      {"/mnist/versions/9:predict", "{\"instances\": [" + image + "]}", 404,
       "Servable not found for request: Specific(mnist, 9)"},
      {"/mnist/labels/stable:predict", "{\"instances\": [" + image + "]}", 400,
       "Unrecognized servable version label: stable"},
      {"/mnist/versions/x:predict", "{}", 404, "Malformed request"},
      {"/mnist:classify", "{}", 501, "predict-only"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path + " " + c.body.substr(0, 60));
    auto r = Request(port_, "POST", "/v1/models" + c.path, c.body);
    EXPECT_EQ(r.status, c.code) << r.body;
    Json j = ParseBody(r);
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_NE(j["error"].get<std::string>().find(c.part), std::string::npos) << r.body;
    ExpectStillServing();
  }
  EXPECT_EQ(Request(port_, "GET", "/v1/models/other").status, 404);
  EXPECT_EQ(Request(port_, "GET", "/v1/models/mnist/versions/4").status, 404);
  EXPECT_EQ(Request(port_, "GET", "/nope").status, 404);
}

TEST_F(RestApiTest, HugeBodyIsRejectedBySizeLimit) {
  testing::WriteTestBundle(base_, 1, 7);
  Start();
  // 100 MB announced: refused after the headers, the body never read.
  int fd = ConnectLocal(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /v1/models/mnist:predict HTTP/1.1\r\nHost: a\r\n"
                          "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
                          "{\"instances\": [[0,0,0,"));
  auto r = ReadResponse(fd);
  close(fd);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(ParseBody(r)["error"].get<std::string>().find("larger than the limit"), std::string::npos);
  ExpectStillServing();
}

TEST_F(RestApiTest, IdleAndSlowClientsDoNotStopService) {
  testing::WriteTestBundle(base_, 1, 7);
  Start();
  std::vector<int> idle;
  for (int i = 0; i < 2000; ++i) {
    int fd = ConnectLocal(port_);
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  // A slow client: one byte at a time, then it stalls.
  int slow = ConnectLocal(port_);
  std::string partial = "POST /v1/models/mnist:predict HTTP/1.1\r\nHost: a\r\nContent-Le";
  for (char c : partial) {
    ASSERT_TRUE(SendAll(slow, std::string(1, c)));
    ExpectStillServing();
  }
  for (int i = 0; i < 20; ++i) ExpectStillServing();
  // The stalled connection is closed by the server's connection timeout (1 s here).
  char byte;
  EXPECT_LE(recv(slow, &byte, 1, 0), 0);
  close(slow);
  for (int fd : idle) close(fd);
  ExpectStillServing();
}

TEST_F(RestApiTest, KServeV2) {
  std::string v1 = testing::WriteTestBundle(base_, 1, 7);
  Start();
  EXPECT_EQ(ParseBody(Request(port_, "GET", "/v2/health/live"))["live"], true);
  EXPECT_EQ(ParseBody(Request(port_, "GET", "/v2/health/ready"))["ready"], true);
  EXPECT_EQ(ParseBody(Request(port_, "GET", "/v2/models/mnist/ready"))["ready"], true);
  EXPECT_EQ(Request(port_, "GET", "/v2/models/mnist/versions/1/ready").status, 200);
  EXPECT_EQ(Request(port_, "GET", "/v2/models/mnist/versions/2/ready").status, 404);
  Json meta = ParseBody(Request(port_, "GET", "/v2/models/mnist"));
  EXPECT_EQ(meta["versions"], Json::array({"1"}));
  EXPECT_EQ(meta["inputs"][0]["name"], "images");
  EXPECT_EQ(meta["inputs"][0]["shape"], Json::array({-1, 784}));
  EXPECT_EQ(meta["outputs"][0]["shape"], Json::array({-1, 10}));

  // UINT8 pixels are scaled by 1/255, as MNIST was for training.
  std::vector<float> image(784);
  std::string pixels = "[";
  for (int i = 0; i < 784; ++i) {
    int p = (i * 37) % 256;
    image[i] = static_cast<float>(p) / 255.0f;
    if (i) pixels += ",";
    pixels += std::to_string(p);
  }
  pixels += "]";
  std::vector<float> direct = testing::DirectScores(v1, image);
  for (const std::string& body :
       {"{\"id\": \"a\", \"inputs\": [{\"name\": \"images\", \"shape\": [1, 784], \"datatype\": \"FP32\", \"data\": " + ImageJson(image) + "}]}",
        "{\"inputs\": [{\"name\": \"images\", \"shape\": [1, 28, 28], \"datatype\": \"UINT8\", \"data\": " + pixels + "}]}",
        // Valid, but not what the fast parser takes (data before datatype): the general path.
        "{\"id\": 7, \"inputs\": [{\"data\": " + pixels + ", \"name\": \"images\", \"shape\": [1, 784], \"datatype\": \"UINT8\"}]}"}) {
    auto r = Request(port_, "POST", "/v2/models/mnist/infer", body);
    ASSERT_EQ(r.status, 200) << r.body;
    Json out = ParseBody(r);
    EXPECT_EQ(out["model_name"], "mnist");
    EXPECT_EQ(out["model_version"], "1");
    if (body.find("\"id\": 7") != std::string::npos) {
      EXPECT_EQ(out["id"], 7);
    }
    if (body.find("\"id\": \"a\"") != std::string::npos) {
      EXPECT_EQ(out["id"], "a");
    }
    ASSERT_EQ(out["outputs"][0]["name"], "scores");
    EXPECT_EQ(out["outputs"][0]["shape"], Json::array({1, 10}));
    for (int j = 0; j < 10; ++j) EXPECT_FLOAT_EQ(out["outputs"][0]["data"][j].get<float>(), direct[j]);
    EXPECT_EQ(out["outputs"][1]["data"][0],
              std::max_element(direct.begin(), direct.end()) - direct.begin());
  }
  struct Case { std::string path, body; int code; std::string part; };
  std::vector<Case> cases = {
      {"/v2/models/mnist/infer", "{\"inputs\": [", 400, "request body"},
      {"/v2/models/mnist/infer", "{\"inputs\": [{\"name\": \"images\", \"shape\": [1, 3], \"datatype\": \"FP32\", \"data\": [1,2,3]}]}", 400, "784 values per example"},
      {"/v2/models/mnist/infer", "{\"inputs\": [{\"name\": \"images\", \"shape\": [1, 784], \"datatype\": \"BYTES\", \"data\": []}]}", 400, "not supported"},
      {"/v2/models/mnist/infer", "{\"inputs\": [{\"name\": \"images\", \"shape\": [1, 784], \"datatype\": \"UINT8\", \"data\": [300]}]}", 400, "[0, 255]"},
      {"/v2/models/mnist/infer", "{\"inputs\": [{\"name\": \"images\", \"shape\": [1, 784], \"datatype\": \"FP32\", \"data\": [\"x\"]}]}", 400, "expected numbers"},
      {"/v2/models/mnist/infer", "{\"inputs\": [{\"name\": \"images\", \"shape\": [1, 784], \"datatype\": \"FP32\", \"data\": [1]}]}", 400, "1 values for shape"},
      {"/v2/models/mnist/infer", "{\"inputs\": [{\"name\": \"pixels\", \"shape\": [1, 784], \"datatype\": \"FP32\", \"data\": [1]}]}", 400, "inputs[0].name"},
      {"/v2/models/other/infer", "{}", 404, "Servable not found"},
      {"/v2/models/mnist/versions/3/infer", "{}", 404, "Specific(mnist, 3)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = Request(port_, "POST", c.path, c.body);
    EXPECT_EQ(r.status, c.code) << r.body;
    EXPECT_NE(ParseBody(r)["error"].get<std::string>().find(c.part), std::string::npos) << r.body;
  }
  ExpectStillServing();
}

// Scores print as TF Serving prints floats: whole numbers with ".0", and a model driven to NaN
// (inputs near float's limit) answers NaN, which Python's json reads, rather than breaking the
// body. Both protocols.
TEST_F(RestApiTest, WholeAndNonFiniteScoresPrintAsTfServing) {
  testing::WriteTestBundle(base_, 1, 7);
  Start();
  auto image = [](const char* pixel) {
    std::string s = "[";
    for (int i = 0; i < 784; ++i) s += std::string(i ? "," : "") + pixel;
    return s + "]";
  };
  // Saturated: a softmax of logits thousands apart is exactly 1 and 0.
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/models/mnist:predict", "{\"instances\": [" + image("1000.0") + "]}"},
           {"/v2/models/mnist/infer", "{\"inputs\": [{\"name\": \"images\", \"datatype\": \"FP32\", "
                                      "\"shape\": [1, 784], \"data\": " + image("1000.0") + "}]}"}}) {
    auto r = Request(port_, "POST", path, body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("1.0"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("0.0"), std::string::npos) << r.body;
    ParseBody(r);  // still strict JSON
  }
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/models/mnist:predict", "{\"instances\": [" + image("3e38") + "]}"},
           {"/v2/models/mnist/infer", "{\"inputs\": [{\"name\": \"images\", \"datatype\": \"FP32\", "
                                      "\"shape\": [1, 784], \"data\": " + image("3e38") + "}]}"}}) {
    auto r = Request(port_, "POST", path, body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("[NaN,NaN,"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("nan"), std::string::npos) << r.body;
  }
}

TEST_F(RestApiTest, PrometheusMetrics) {
  testing::WriteTestBundle(base_, 1, 7);
  metrics_path_ = kDefaultMetricsPath;
  Start();
  ExpectStillServing();
  ExpectStillServing();
  EXPECT_EQ(Predict("{\"instances\": [[1]]}").status, 400);
  EXPECT_EQ(Request(port_, "POST", "/v1/models/random_name_1:predict", "{}").status, 404);
  auto r = Request(port_, "GET", kDefaultMetricsPath);
  ASSERT_EQ(r.status, 200);
  const std::string& text = r.body;
  EXPECT_NE(text.find("# TYPE :tensorflow:serving:request_count counter"), std::string::npos) << text;
  EXPECT_NE(text.find(":tensorflow:serving:request_count{model_name=\"mnist\",API=\"predict\",entrypoint=\"REST\",status=\"OK\"} 2\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find(":tensorflow:serving:request_count{model_name=\"mnist\",API=\"predict\",entrypoint=\"REST\",status=\"INVALID_ARGUMENT\"} 1\n"),
            std::string::npos) << text;
  // A name the server does not know is not a label value.
  EXPECT_EQ(text.find("random_name_1"), std::string::npos) << text;
  EXPECT_NE(text.find(":tensorflow:serving:request_count{model_name=\"\",API=\"predict\",entrypoint=\"REST\",status=\"NOT_FOUND\"} 1\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find(":tensorflow:serving:request_latency_count{model_name=\"mnist\",API=\"predict\",entrypoint=\"REST\"} 3\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("le=\"+Inf\"} 3\n"), std::string::npos) << text;
}

TEST(MonitoringConfigTest, Parse) {
  auto path = ParseMonitoringConfig("prometheus_config {\n  enable: true,\n  path: \"/m/p\"\n}\n", "mon.config");
  ASSERT_TRUE(path.ok()) << path.status().message();
  EXPECT_EQ(*path, "/m/p");
  EXPECT_EQ(*ParseMonitoringConfig("prometheus_config { enable: true }", "f"), kDefaultMetricsPath);
  EXPECT_EQ(*ParseMonitoringConfig("prometheus_config { enable: false }", "f"), "");
  auto bad = ParseMonitoringConfig("prometheus_config { path: \"/x\" }", "mon.config");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("mon.config: prometheus_config.enable"), std::string::npos);
  EXPECT_FALSE(ParseMonitoringConfig("nothing", "f").ok());
  EXPECT_FALSE(ParseMonitoringConfig("prometheus_config { enable: true path: \"x\" }", "f").ok());
}

TEST_F(RestApiTest, ModelConfigFileServesSeveralModelsWithLabels) {
  std::string a1 = testing::WriteTestBundle(dir_.Join("a"), 1, 1);
  std::string a2 = testing::WriteTestBundle(dir_.Join("a"), 2, 2);
  std::string b5 = testing::WriteTestBundle(dir_.Join("b"), 5, 5);
  std::string config = dir_.Join("models.config");
  ASSERT_TRUE(WriteFileAtomic(config, "model_config_list {\n"
      "  config { name: 'a' base_path: '" + dir_.Join("a") + "' model_version_policy { all {} }\n"
      "           version_labels { key: 'stable' value: 1 } version_labels { key: 'canary' value: 2 } }\n"
      "  config { name: 'b' base_path: '" + dir_.Join("b") + "' }\n}\n").ok());
  ModelServerOptions options;
  options.rest_api_port = 0;
  options.grpc_port = 0;
  options.model_config_file = config;
  options.file_system_poll_wait_seconds = 0;
  auto server = ModelServer::BuildAndStart(options);
  ASSERT_TRUE(server.ok()) << server.status().message();
  port_ = (*server)->port();
  std::vector<float> image = TestImage(2);
  std::string body = "{\"instances\": [" + ImageJson(image) + "]}";
  struct Case { std::string path, bundle; };
  for (const Case& c : std::vector<Case>{{"/v1/models/a/labels/stable", a1}, {"/v1/models/a/labels/canary", a2},
                                         {"/v1/models/a", a2}, {"/v1/models/a/versions/1", a1}, {"/v1/models/b", b5}}) {
    SCOPED_TRACE(c.path);
    auto r = Request(port_, "POST", c.path + ":predict", body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FLOAT_EQ(ParseBody(r)["predictions"][0]["scores"][3].get<float>(), testing::DirectScores(c.bundle, image)[3]);
  }
  Json st = ParseBody(Request(port_, "GET", "/v1/models/a/labels/stable"));
  ASSERT_EQ(st["model_version_status"].size(), 1u);
  EXPECT_EQ(st["model_version_status"][0]["version"], "1");
  EXPECT_EQ(ParseBody(Request(port_, "GET", "/v1/models/a"))["model_version_status"].size(), 2u);
  EXPECT_EQ(Request(port_, "POST", "/v1/models/b/labels/stable:predict", body).status, 400);
}

// --enable_batching over HTTP: 64 clients at once (more than the 2 event threads could hold if
// a request blocked its thread), one of them gone before its answer; each answer is the
// unbatched one, and the batches were full. A batch closes only when full (its timeout is 10
// minutes), so what is asserted does not depend on timing.
TEST_F(RestApiTest, BatchingFormsFullBatchesAndAnswersEachRequestItsOwn) {
  std::string v1 = testing::WriteTestBundle(base_, 1, 7);
  metrics_path_ = kDefaultMetricsPath;
  batching_parameters_ =
      "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 600000000 }\n"
      "num_batch_threads { value: 1 }\n";
  Start();
  auto metrics = [&] { return Request(port_, "GET", kDefaultMetricsPath).body; };
  // A client that goes away while its request waits for the batch.
  int gone = ConnectLocal(port_);
  ASSERT_TRUE(SendAll(gone, RequestText("POST", "/v1/models/mnist:predict",
                                        "{\"instances\": [" + ImageJson(TestImage(99)) + "]}")));
  while (MetricValue(metrics(), ":loom:serving:batching:queued_examples") != 1) std::this_thread::yield();
  close(gone);

  constexpr int kClients = 63;  // with the one gone: 64, eight full batches
  std::vector<testing::RawResponse> answers(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::vector<float> image = TestImage(c);
      answers[c] = c % 4 == 3
                       ? Request(port_, "POST", "/v2/models/mnist/infer",
                                 "{\"inputs\": [{\"name\": \"images\", \"datatype\": \"FP32\", "
                                 "\"shape\": [1, 784], \"data\": " + ImageJson(image) + "}]}")
                       : Predict("{\"instances\": [" + ImageJson(image) + "]}");
    });
  }
  for (auto& t : clients) t.join();
  for (int c = 0; c < kClients; ++c) {
    ASSERT_EQ(answers[c].status, 200) << answers[c].body;
    std::vector<float> direct = testing::DirectScores(v1, TestImage(c));
    int best = static_cast<int>(std::max_element(direct.begin(), direct.end()) - direct.begin());
    Json body = ParseBody(answers[c]);
    Json scores = c % 4 == 3 ? body["outputs"][0]["data"] : body["predictions"][0]["scores"];
    Json cls = c % 4 == 3 ? body["outputs"][1]["data"][0] : body["predictions"][0]["classes"];
    ASSERT_EQ(scores.size(), 10u) << body.dump();
    for (int j = 0; j < 10; ++j) EXPECT_NEAR(scores[j].get<float>(), direct[j], 1e-6) << c;
    EXPECT_EQ(cls, best) << c;
  }
  std::string text = metrics();
  EXPECT_EQ(MetricValue(text, ":loom:serving:batching:processed_batch_size_count"), 8) << text;
  EXPECT_EQ(MetricValue(text, ":loom:serving:batching:processed_batch_size_sum"), 64) << text;
  EXPECT_EQ(MetricValue(text, ":loom:serving:batching:processed_batch_size_bucket{le=\"4\"}"), 0) << text;
  EXPECT_EQ(MetricValue(text, ":loom:serving:batching:queued_examples"), 0) << text;
  // The gone client's request was run with its batch, and nothing of it is left behind.
  EXPECT_EQ(MetricValue(text, ":tensorflow:serving:request_count{model_name=\"mnist\",API=\"predict\","
                              "entrypoint=\"REST\",status=\"OK\"}"),
            kClients - kClients / 4 + 1) << text;
  EXPECT_TRUE(server_->Shutdown(60));
}

TEST_F(RestApiTest, HotSwapAndCorruptVersion) {
  std::string v1 = testing::WriteTestBundle(base_, 1, 7);
  Start();
  std::vector<float> image = TestImage(5);
  std::string body = "{\"instances\": [" + ImageJson(image) + "]}";
  auto poll = [&] { clock_.RunOnePoll(1'000'000); };
  std::string v2 = testing::WriteTestBundle(base_, 2, 8);
  poll();
  Json status = ParseBody(Request(port_, "GET", "/v1/models/mnist"));
  ASSERT_EQ(status["model_version_status"].size(), 2u) << status.dump();
  EXPECT_EQ(status["model_version_status"][0]["state"], "END");
  EXPECT_EQ(status["model_version_status"][1]["state"], "AVAILABLE");
  Json pred = ParseBody(Predict(body));
  std::vector<float> direct = testing::DirectScores(v2, image);
  EXPECT_FLOAT_EQ(pred["predictions"][0]["scores"][0].get<float>(), direct[0]);

  testing::WriteCorruptBundle(base_, 3);
  poll();
  status = ParseBody(Request(port_, "GET", "/v1/models/mnist/versions/3"));
  ASSERT_EQ(status["model_version_status"].size(), 1u) << status.dump();
  EXPECT_EQ(status["model_version_status"][0]["state"], "END");
  EXPECT_NE(status["model_version_status"][0]["status"]["error_code"], "OK");
  EXPECT_NE(status["model_version_status"][0]["status"]["error_message"].get<std::string>().find("model.json"),
            std::string::npos) << status.dump();
  // Version 2 keeps serving.
  pred = ParseBody(Predict(body));
  EXPECT_FLOAT_EQ(pred["predictions"][0]["scores"][0].get<float>(), direct[0]);
  EXPECT_EQ(Predict(body, "/versions/3").status, 404);
  EXPECT_EQ(ParseBody(Request(port_, "GET", "/v1/models/mnist/metadata"))["model_spec"]["version"], "2");
}

}  // namespace
}  // namespace loom::serving
