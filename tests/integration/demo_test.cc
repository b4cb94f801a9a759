// `loom demo` from nothing: MNIST into the embedded store, Kubeflow's MNIST pipeline as one workflow
// (fetch, TFJob with chief + worker + ps, export, serve, client, exit handler), every node
// Succeeded and the client's error rate below 3%. 2,000 steps with one worker and one ps keep it
// short (measured 2.37-2.45% error; the demo's defaults, 5,500 steps with 2 + 2, give ~2.0%).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "core/json.h"
#include "test_util/loopback.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom {
namespace {


TEST(DemoTest, WholePipelineAsOneWorkflow) {
  testing::ScratchDir home, logs;
  const std::vector<std::string> env = {"LOOM_HOME=" + home.path(), "LOOM_MNIST_DIR=" + testing::MnistDir()};
  testing::ProcessResult r = testing::Run(
      {testing::LoomBinary(), "demo", "--train_steps=2000", "--workers=1", "--ps=1",
       "--port=" + std::to_string(testing::FreeLoopbackPort()), "--keep_serving=false", "--name=mnist-e2e"},
      logs.path(), env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("Inference error rate: ([0-9.]+)%"))) << r.out;
  EXPECT_LT(std::stod(m[1]), 3.0) << r.out;
  EXPECT_NE(r.out.find("http://127.0.0.1:2746"), std::string::npos) << r.out;

  testing::ProcessResult get = testing::Run({testing::LoomBinary(), "wf", "get", "mnist-e2e", "-o", "json"}, logs.path(), env);
  auto wf = ParseJson(get.out, "loom wf get");
  ASSERT_TRUE(wf.ok()) << get.out << get.err;
  EXPECT_EQ((*wf)["status"]["phase"], "Succeeded");
  std::set<std::string> templates;
  for (const auto& [id, node] : (*wf)["status"]["nodes"].items()) {
    if (node["type"] != "Pod") continue;
    EXPECT_EQ(node["phase"], "Succeeded") << node.dump();
    templates.insert(node["templateName"].get<std::string>());
  }
  for (const char* t : {"get-workflow-info", "fetch-data", "train", "export", "serve", "test-model", "cleanup"}) {
    EXPECT_TRUE(templates.count(t)) << "no Succeeded pod of template " << t;
  }
  // The exported model and the TFJob record are where the UI looks for them.
  EXPECT_TRUE(PathExists(home.Join("store/mnist-train/exported/mnist-e2e/1/model.json")));
  EXPECT_TRUE(PathExists(home.Join("jobs/mnist-e2e/status.json")));
  EXPECT_TRUE(PathExists(home.Join("runs/mnist-e2e/checkpoint")));
}

}  // namespace
}  // namespace loom
