// `loom serve --model_base_path s3://...` against a real S3 server (Swift's s3api, the storage
// tests' fixture): versions uploaded by Loom's S3 client are copied to the cache and served; a
// half-uploaded version is not served until it is complete; a corrupt one is reported in the
// status with its error while the previous one keeps serving.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <regex>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "storage/s3_store.h"
#include "test_util/bundles.h"
#include "test_util/raw_http.h"
#include "test_util/serve_process.h"
#include "test_util/subprocess.h"
#include "test_util/swift_env.h"
#include "test_util/test_env.h"

namespace loom::serving {
namespace {

using loom::testing::Process;
using loom::testing::ScratchDir;

std::string Value(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env)
    if (e.rfind(key + "=", 0) == 0) return e.substr(key.size() + 1);
  return "";
}

// The status of `version` (null if not listed) after waiting up to `wait` for it to be `state`.
Json VersionStatus(int port, int64_t version, const std::string& state,
                   std::chrono::milliseconds wait = std::chrono::seconds(30)) {
  Json last;
  for (int i = 0; i < wait.count() / 10; ++i) {
    auto r = testing::Request(port, "GET", "/v1/models/mnist");
    auto parsed = ParseJson(r.body, "status");
    if (parsed.ok() && parsed->contains("model_version_status")) {
      for (const Json& v : (*parsed)["model_version_status"]) {
        if (v["version"] != std::to_string(version)) continue;
        last = v;
        if (v["state"] == state) return v;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return last;
}

class ServeS3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = loom::testing::SwiftEnvItems();
    storage::S3Options o;
    o.endpoint = Value(env_, "AWS_ENDPOINT_URL");
    o.access_key = Value(env_, "AWS_ACCESS_KEY_ID");
    o.secret_key = Value(env_, "AWS_SECRET_ACCESS_KEY");
    o.bucket = "loom-serving";
    auto store = storage::S3Store::Create(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreateBucket().ok());
    prefix_ = "run-" + std::to_string(std::random_device{}()) + "/models/mnist/";
  }
  // Uploads <local base>/<version>/<file>.
  void Upload(const std::string& local_base, int64_t version, const std::string& file) {
    const std::string rel = std::to_string(version) + "/" + file;
    auto put = store_->Put(prefix_ + rel, JoinPath(local_base, rel), storage::PutOptions{});
    ASSERT_TRUE(put.ok()) << put.status().ToString();
  }

  std::vector<std::string> env_;
  std::unique_ptr<storage::S3Store> store_;
  std::string prefix_;
};

TEST_F(ServeS3Test, ServesVersionsFromS3ThroughTheCache) {
  ScratchDir dir;
  const std::string local = dir.Join("export");
  const std::string v1 = testing::WriteTestBundle(local, 1, 11);
  const std::string v2 = testing::WriteTestBundle(local, 2, 22);
  testing::WriteCorruptBundle(local, 3);
  for (const char* f : {"model.json", "weights.safetensors", "model.onnx"}) Upload(local, 1, f);

  Process server({loom::testing::LoomBinary(), "serve", "--rest_api_port=0", "--port=0",
                  "--grpc_socket_path=" + dir.Join("grpc.sock"), "--model_name=mnist",
                  "--model_base_path=s3://loom-serving/" + prefix_, "--file_system_poll_wait_seconds=0.1",
                  "--model_cache_dir=" + dir.Join("cache")},
                 dir.path(), env_);
  const int port = testing::WaitForPort(server);
  ASSERT_GT(port, 0) << server.Wait().err;
  EXPECT_EQ(VersionStatus(port, 1, "AVAILABLE")["state"], "AVAILABLE");
  const std::string copy1 = dir.Join("cache/loom-serving/" + prefix_ + "1");
  EXPECT_EQ(*ReadFile(JoinPath(copy1, "weights.safetensors")), *ReadFile(JoinPath(v1, "weights.safetensors")));

  std::vector<float> image(784);
  for (int i = 0; i < 784; ++i) image[i] = (i % 17) / 17.0f;
  auto predict_scores = [&] {
    std::string body = "{\"instances\": [[";
    for (int i = 0; i < 784; ++i) body += (i ? "," : "") + std::to_string(image[i]);
    body += "]]}";
    auto r = testing::Request(port, "POST", "/v1/models/mnist:predict", body);
    EXPECT_EQ(r.status, 200) << r.body;
    auto j = ParseJson(r.body, "predict");
    std::vector<float> scores;
    if (j.ok() && j->contains("predictions"))
      for (const Json& v : (*j)["predictions"][0]["scores"]) scores.push_back(v.get<float>());
    return scores;
  };
  auto near = [](const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::fabs(a[i] - b[i]) > 1e-4) return false;
    return true;
  };
  // Parse the image as the server does: the body carries std::to_string's 6 decimals.
  for (float& v : image) v = std::stof(std::to_string(v));
  EXPECT_TRUE(near(predict_scores(), testing::DirectScores(v1, image)));

  // Half an upload of version 2 (no weights yet) is not served: not listed through 15 polls of
  // the base path (--file_system_poll_wait_seconds=0.1)...
  Upload(local, 2, "model.json");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(VersionStatus(port, 2, "none-ever", std::chrono::seconds(1)).is_null());
  EXPECT_TRUE(near(predict_scores(), testing::DirectScores(v1, image)));
  // ...until it is complete.
  Upload(local, 2, "weights.safetensors");
  EXPECT_EQ(VersionStatus(port, 2, "AVAILABLE")["state"], "AVAILABLE");
  EXPECT_TRUE(near(predict_scores(), testing::DirectScores(v2, image)));

  // A corrupt version 3: END with its error, version 2 keeps serving.
  Upload(local, 3, "weights.safetensors");
  Upload(local, 3, "model.json");
  Json v3 = VersionStatus(port, 3, "END");
  EXPECT_EQ(v3["state"], "END") << v3.dump();
  EXPECT_NE(v3.dump().find("model.json"), std::string::npos) << v3.dump();
  EXPECT_TRUE(near(predict_scores(), testing::DirectScores(v2, image)));

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait().exit_code, 0);
}

}  // namespace
}  // namespace loom::serving
