// `loom serve` as a process: TF Serving's flags, a hot swap under load with a corrupt version
// dropped in (no request fails), and SIGTERM draining then exiting 0.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <regex>
#include <sstream>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "data/mnist.h"
#include "data/png.h"
#include "export/bundle.h"
#include "nn/model.h"
#include "test_util/bundles.h"
#include "test_util/raw_http.h"
#include "test_util/serve_process.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"
#include "tfserving/serving_apis.grpc.pb.h"

namespace loom::serving {
namespace {

using loom::testing::Process;
using loom::testing::ScratchDir;

using testing::WaitForPort;

std::string Image() {
  std::string s = "[";
  for (int i = 0; i < 784; ++i) {
    if (i) s += ",";
    s += "0." + std::to_string(i % 10);
  }
  return s + "]";
}

// Waits (polling the status URL) until `version`'s state is `state`; returns the last status.
Json WaitForState(int port, int64_t version, const std::string& state) {
  Json j;
  for (int i = 0; i < 3000; ++i) {
    auto r = testing::Request(port, "GET", "/v1/models/mnist");
    auto parsed = ParseJson(r.body, "status");
    if (parsed.ok()) {
      j = *parsed;
      for (const Json& v : j["model_version_status"])
        if (v["version"] == std::to_string(version) && v["state"] == state) return j;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return j;
}

TEST(ServeCliTest, HotSwapUnderLoadThenSigtermDrains) {
  ScratchDir dir;
  std::string base = dir.Join("models/mnist");
  testing::WriteTestBundle(base, 1, 7);
  Process server({loom::testing::LoomBinary(), "serve", "--rest_api_port=0", "--port=0",
                  "--grpc_socket_path=" + dir.Join("grpc.sock"), "--model_name=mnist",
                  "--model_base_path=file://" + base, "--file_system_poll_wait_seconds=0.05",
                  "--model_cache_dir=" + dir.Join("cache")},
                 dir.path());
  int port = WaitForPort(server);
  ASSERT_GT(port, 0) << server.Wait().err;

  // Load: keep-alive clients predicting all through the swap.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string body = "{\"instances\": [" + Image() + "]}";
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      int fd = testing::ConnectLocal(port);
      while (!stop.load()) {
        if (fd < 0 || !testing::SendAll(fd, testing::RequestText("POST", "/v1/models/mnist:predict", body))) {
          ++failed;
          break;
        }
        auto r = testing::ReadResponse(fd);
        (r.status == 200 ? ok : failed)++;
      }
      if (fd >= 0) close(fd);
    });
  }
  while (ok.load() < 50) std::this_thread::yield();
  testing::WriteTestBundle(base, 2, 8);
  Json status = WaitForState(port, 2, "AVAILABLE");
  testing::WriteCorruptBundle(base, 3);
  status = WaitForState(port, 3, "END");
  int before = ok.load();
  while (ok.load() < before + 50) std::this_thread::yield();
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  ASSERT_EQ(status["model_version_status"].size(), 3u) << status.dump();
  EXPECT_EQ(status["model_version_status"][1]["state"], "AVAILABLE") << status.dump();
  EXPECT_EQ(status["model_version_status"][2]["state"], "END");
  EXPECT_NE(status["model_version_status"][2]["status"]["error_message"], "");
  auto meta = ParseJson(testing::Request(port, "GET", "/v1/models/mnist/metadata").body, "metadata");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ((*meta)["model_spec"]["version"], "2");

  server.Signal(SIGTERM);
  auto result = server.Wait();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Drained"), std::string::npos) << result.out;
}

// SIGTERM while predicts (REST and gRPC) wait for a batch that would not fill for 10 minutes:
// the drain runs them at once, every client gets its own right answer, and the server exits 0.
TEST(ServeCliTest, SigtermAnswersRequestsWaitingForABatchThenExits) {
  ScratchDir dir;
  std::string base = dir.Join("models/mnist");
  std::string v1 = testing::WriteTestBundle(base, 1, 7);
  ASSERT_TRUE(WriteFileAtomic(dir.Join("batching.config"),
                              "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 600000000 }\n"
                              "num_batch_threads { value: 1 }\n")
                  .ok());
  Process server({loom::testing::LoomBinary(), "serve", "--rest_api_port=0", "--port=0",
                  "--grpc_socket_path=" + dir.Join("grpc.sock"), "--model_name=mnist",
                  "--model_base_path=" + base, "--file_system_poll_wait_seconds=0", "--enable_batching",
                  "--batching_parameters_file=" + dir.Join("batching.config"), "--metrics"},
                 dir.path());
  int port = WaitForPort(server);
  ASSERT_GT(port, 0) << server.Wait().err;
  constexpr int kClients = 5;
  std::vector<testing::RawResponse> answers(kClients);
  std::vector<std::vector<float>> images(kClients, std::vector<float>(784));
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    for (int i = 0; i < 784; ++i) images[c][i] = static_cast<float>((i * (c + 3)) % 17) / 16.0f;
    std::string body = "{\"instances\": [[";
    for (int i = 0; i < 784; ++i) body += (i ? "," : "") + std::to_string(images[c][i]);
    body += "]]}";
    clients.emplace_back([&answers, c, port, body] {
      answers[c] = testing::Request(port, "POST", "/v1/models/mnist:predict", body);
    });
  }
  // Three gRPC predicts wait with them (on the server's socket).
  constexpr int kGrpcClients = 3;
  std::vector<tensorflow::serving::PredictResponse> grpc_answers(kGrpcClients);
  std::vector<grpc::Status> grpc_statuses(kGrpcClients);
  auto channel = grpc::CreateChannel("unix:" + dir.Join("grpc.sock"), grpc::InsecureChannelCredentials());
  auto stub = tensorflow::serving::PredictionService::NewStub(channel);
  for (int c = 0; c < kGrpcClients; ++c) {
    clients.emplace_back([&, c] {
      tensorflow::serving::PredictRequest request;
      request.mutable_model_spec()->set_name("mnist");
      auto& tensor = (*request.mutable_inputs())["images"];
      tensor.set_dtype(tensorflow::DT_FLOAT);
      tensor.mutable_tensor_shape()->add_dim()->set_size(1);
      tensor.mutable_tensor_shape()->add_dim()->set_size(784);
      for (float v : images[c]) tensor.add_float_val(v);
      grpc::ClientContext context;
      grpc_statuses[c] = stub->Predict(&context, request, &grpc_answers[c]);
    });
  }
  // All eight wait in the batch queue.
  std::string metrics;
  for (int i = 0; i < 6000; ++i) {
    metrics = testing::Request(port, "GET", "/monitoring/prometheus/metrics").body;
    if (metrics.find(":loom:serving:batching:queued_examples 8\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(metrics.find(":loom:serving:batching:queued_examples 8\n"), std::string::npos) << metrics;
  server.Signal(SIGTERM);
  for (auto& t : clients) t.join();
  for (int c = 0; c < kGrpcClients; ++c) {
    ASSERT_TRUE(grpc_statuses[c].ok()) << grpc_statuses[c].error_message();
    std::vector<float> direct = testing::DirectScores(v1, images[c]);
    ASSERT_EQ(grpc_answers[c].outputs().at("scores").float_val_size(), 10);
    for (int j = 0; j < 10; ++j) EXPECT_NEAR(grpc_answers[c].outputs().at("scores").float_val(j), direct[j], 1e-6) << c;
  }
  auto result = server.Wait();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Drained, exiting"), std::string::npos) << result.out;
  for (int c = 0; c < kClients; ++c) {
    ASSERT_EQ(answers[c].status, 200) << answers[c].body;
    auto body = ParseJson(answers[c].body, "answer");
    ASSERT_TRUE(body.ok()) << answers[c].body;
    std::vector<float> direct = testing::DirectScores(v1, images[c]);
    for (int j = 0; j < 10; ++j)
      EXPECT_NEAR((*body)["predictions"][0]["scores"][j].get<float>(), direct[j], 1e-6) << c;
  }
}

// The acceptance check of the mnist client: over the 10,000 test images, through the server,
// the error rate is exactly 1 - `loom eval`'s accuracy.
TEST(ServeCliTest, PredictErrorRateEqualsEvalAccuracy) {
  ScratchDir dir;
  std::string base = dir.Join("models/mnist");
  std::string mnist = loom::testing::MnistDir();
  testing::TrainAndExport(dir, base);
  if (HasFatalFailure()) return;
  auto eval = loom::testing::Run({loom::testing::LoomBinary(), "eval", "--model=" + base, "--data_dir=" + mnist},
                                 dir.path());
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(eval.out, m, std::regex("test accuracy ([0-9.]+)"))) << eval.out;
  double accuracy = std::stod(m[1]);

  Process server({loom::testing::LoomBinary(), "serve", "--rest_api_port=0", "--port=0",
                  "--grpc_socket_path=" + dir.Join("grpc.sock"), "--model_name=mnist",
                  "--model_base_path=" + base, "--file_system_poll_wait_seconds=0"},
                 dir.path());
  int port = WaitForPort(server);
  ASSERT_GT(port, 0) << server.Wait().err;
  auto predict = loom::testing::Run(
      {loom::testing::LoomBinary(), "predict", "--server=127.0.0.1:" + std::to_string(port),
       "--model=mnist", "--num_tests=0", "--concurrency=8", "--signature=predict_images",
       "--data_dir=" + mnist},
      dir.path());
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  ASSERT_TRUE(std::regex_search(predict.out, m, std::regex("Inference error rate: ([0-9.e+-]+)%")))
      << predict.out;
  EXPECT_NEAR(std::stod(m[1]), (1 - accuracy) * 100, 1e-9) << predict.out << eval.out;
  EXPECT_NE(predict.out.find("Sent 10000 images"), std::string::npos) << predict.out;
  // The same over KServe v2.
  auto v2 = loom::testing::Run(
      {loom::testing::LoomBinary(), "predict", "--server=127.0.0.1:" + std::to_string(port),
       "--model=mnist", "--num_tests=0", "--protocol=v2", "--data_dir=" + mnist},
      dir.path());
  ASSERT_EQ(v2.exit_code, 0) << v2.err;
  ASSERT_TRUE(std::regex_search(v2.out, m, std::regex("Inference error rate: ([0-9.e+-]+)%"))) << v2.out;
  EXPECT_NEAR(std::stod(m[1]), (1 - accuracy) * 100, 1e-9) << v2.out << eval.out;
  // And over TF Serving's gRPC API (here on the server's UNIX socket).
  auto grpc = loom::testing::Run(
      {loom::testing::LoomBinary(), "predict", "--server=unix:" + dir.Join("grpc.sock"), "--model=mnist",
       "--num_tests=0", "--concurrency=4", "--protocol=grpc", "--data_dir=" + mnist},
      dir.path());
  ASSERT_EQ(grpc.exit_code, 0) << grpc.err;
  ASSERT_TRUE(std::regex_search(grpc.out, m, std::regex("Inference error rate: ([0-9.e+-]+)%"))) << grpc.out;
  EXPECT_NEAR(std::stod(m[1]), (1 - accuracy) * 100, 1e-9) << grpc.out << eval.out;
  auto grpc_missing = loom::testing::Run(
      {loom::testing::LoomBinary(), "predict", "--server=unix:" + dir.Join("grpc.sock"), "--model=other",
       "--protocol=grpc", "--data_dir=" + mnist},
      dir.path());
  EXPECT_EQ(grpc_missing.exit_code, 1);
  EXPECT_NE(grpc_missing.err.find(": Predict: NOT_FOUND: Servable not found for request: Latest(other)"),
            std::string::npos) << grpc_missing.err;

  auto missing = loom::testing::Run(
      {loom::testing::LoomBinary(), "predict", "--server=127.0.0.1:" + std::to_string(port),
       "--model=other", "--data_dir=" + mnist},
      dir.path());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("404: Servable not found for request: Latest(other)"), std::string::npos)
      << missing.err;
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait().exit_code, 0);
}

// `loom predict a.png b.png`: each picture prepared as MNIST was and sent; the digit and scores
// printed are the model's on the prepared picture, over REST, KServe v2 and gRPC; a blank
// picture is one line.
TEST(ServeCliTest, PredictPngFiles) {
  ScratchDir dir;
  std::string base = dir.Join("models/mnist");
  std::string mnist = loom::testing::MnistDir();
  testing::TrainAndExport(dir, base);
  if (HasFatalFailure()) return;
  auto test = LoadMnistFiles(JoinPath(mnist, kMnistTestImages), JoinPath(mnist, kMnistTestLabels));
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  // Test images 0..4, 3x larger, black ink on white RGB paper.
  std::vector<std::string> files;
  for (int64_t i = 0; i < 5; ++i) {
    std::vector<uint8_t> rgb(84 * 84 * 3);
    for (int y = 0; y < 84; ++y)
      for (int x = 0; x < 84; ++x)
        for (int c = 0; c < 3; ++c)
          rgb[(y * 84 + x) * 3 + c] = static_cast<uint8_t>(255 - std::lround(test->image(i)[y / 3 * 28 + x / 3] * 255));
    auto png = EncodePng(84, 84, 3, rgb.data());
    ASSERT_TRUE(png.ok());
    files.push_back(dir.Join("digit" + std::to_string(i) + ".png"));
    ASSERT_TRUE(WriteFileAtomic(files.back(), *png).ok());
  }
  auto bundle = exporter::ReadBundle(base);
  ASSERT_TRUE(bundle.ok()) << bundle.status().ToString();
  auto model = nn::Model::Create(bundle->spec, nn::ModelOptions{});
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE((*model)->LoadParameters(bundle->weights, "bundle").ok());

  Process server({loom::testing::LoomBinary(), "serve", "--rest_api_port=0", "--port=0",
                  "--grpc_socket_path=" + dir.Join("grpc.sock"), "--model_name=mnist",
                  "--model_base_path=" + base, "--file_system_poll_wait_seconds=0"},
                 dir.path());
  int port = WaitForPort(server);
  ASSERT_GT(port, 0) << server.Wait().err;
  for (const std::string protocol : {"rest", "v2", "grpc"}) {
    const std::string server_address =
        protocol == "grpc" ? "unix:" + dir.Join("grpc.sock") : "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> argv = {loom::testing::LoomBinary(), "predict", "--server=" + server_address,
                                     "--model=mnist", "--protocol=" + protocol};
    argv.insert(argv.end(), files.begin(), files.end());
    auto predict = loom::testing::Run(argv, dir.path());
    ASSERT_EQ(predict.exit_code, 0) << predict.err;
    std::istringstream lines(predict.out);
    std::string line;
    for (const std::string& file : files) {
      ASSERT_TRUE(std::getline(lines, line)) << predict.out;
      std::smatch m;
      ASSERT_TRUE(std::regex_match(line, m, std::regex("(.*): digit ([0-9]), scores \\[(.*)\\]"))) << line;
      EXPECT_EQ(m[1], file);
      auto image = MnistFromImage(*ReadPng(file), file);
      ASSERT_TRUE(image.ok());
      float scores[10];
      (*model)->Predict(image->data(), 1, scores);
      EXPECT_EQ(std::stoi(m[2]), std::max_element(scores, scores + 10) - scores) << line;
      std::istringstream printed(std::regex_replace(std::string(m[3]), std::regex(","), " "));
      for (int k = 0; k < 10; ++k) {
        float v = -1;
        printed >> v;
        EXPECT_NEAR(v, scores[k], 1e-5 + 1e-5 * scores[k]) << line;
      }
    }
  }
  std::vector<uint8_t> white(40 * 30, 255);
  ASSERT_TRUE(WriteFileAtomic(dir.Join("blank.png"), *EncodePng(40, 30, 1, white.data())).ok());
  auto blank = loom::testing::Run({loom::testing::LoomBinary(), "predict", "--server=127.0.0.1:" + std::to_string(port),
                                   "--model=mnist", files[0], dir.Join("blank.png")},
                                  dir.path());
  EXPECT_EQ(blank.exit_code, 1);
  EXPECT_NE(blank.err.find(dir.Join("blank.png") + ": no digit found: the image is blank"), std::string::npos)
      << blank.err;
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait().exit_code, 0);
}

TEST(ServeCliTest, FlagErrorsNameTheFlag) {
  ScratchDir dir;
  auto r = loom::testing::Run({loom::testing::LoomBinary(), "serve", "--model_name=m"}, dir.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--model_base_path"), std::string::npos) << r.err;
  r = loom::testing::Run({loom::testing::LoomBinary(), "serve", "--model_base_path=/x",
                          "--model_version_policy=newest"}, dir.path());
  EXPECT_NE(r.err.find("--model_version_policy"), std::string::npos) << r.err;
  r = loom::testing::Run({loom::testing::LoomBinary(), "serve", "--model_base_path=/x",
                          "--rest_api_address=nowhere", "--rest_api_port=0"}, dir.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
  // TF Serving's rules for gRPC's --port: 0 turns the TCP port off, so it needs a socket; it
  // cannot be the REST port.
  r = loom::testing::Run({loom::testing::LoomBinary(), "serve", "--model_base_path=/x", "--port=0"}, dir.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("at least one of --port or --grpc_socket_path must be set"), std::string::npos) << r.err;
  r = loom::testing::Run({loom::testing::LoomBinary(), "serve", "--model_base_path=/x", "--port=8123",
                          "--rest_api_port=8123"}, dir.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--rest_api_port: cannot be the same as --port (8123)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace loom::serving
