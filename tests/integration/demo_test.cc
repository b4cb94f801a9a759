// `loom demo` from nothing: MNIST into the embedded store, Kubeflow's MNIST pipeline as one workflow
// (fetch, TFJob with chief + worker + ps, export, the model server as a daemon step, client, exit
// handler), every node Succeeded and the client's error rate below 3%, once with every pod a
// process and once with every step and replica a container of loom:latest (the loom_image
// fixture), where --keep_serving then serves the exported model after the workflow. 2,000 steps
// with one worker and one ps keep it short (measured 2.37-2.45% error; the demo's defaults,
// 5,500 steps with 2 + 2, give ~2.0%).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "core/file.h"
#include "core/process.h"
#include "core/json.h"
#include "test_util/loopback.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

class DemoTest : public ::testing::Test {
 protected:
  testing::ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LoomBinary());
    return testing::Run(args, logs_.path(), env_);
  }
  // Runs the demo with `flags`; checks the client's error rate, every pod node Succeeded with
  // `runtime`, and the TFJob's replicas ran in it too. Returns `loom demo`'s output.
  std::string RunDemo(const std::string& name, const std::string& runtime, std::vector<std::string> flags) {
    std::vector<std::string> args = {"demo", "--train_steps=2000", "--workers=1", "--ps=1", "--port=" + std::to_string(port_),
                                     "--name=" + name};
    args.insert(args.end(), flags.begin(), flags.end());
    testing::ProcessResult r = Loom(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.out, m, std::regex("Inference error rate: ([0-9.]+)%"))) << r.out;
    if (!m.empty()) {
      EXPECT_LT(std::stod(m[1]), 3.0) << r.out;
    }
    EXPECT_NE(r.out.find("http://127.0.0.1:2746"), std::string::npos) << r.out;

    testing::ProcessResult get = Loom({"wf", "get", name, "-o", "json"});
    auto wf = ParseJson(get.out, "loom wf get");
    EXPECT_TRUE(wf.ok()) << get.out << get.err;
    if (!wf.ok()) return r.out;
    EXPECT_EQ((*wf)["status"]["phase"], "Succeeded");
    std::set<std::string> templates;
    for (const auto& [id, node] : (*wf)["status"]["nodes"].items()) {
      if (node["type"] != "Pod") continue;
      const std::string tmpl = node["templateName"];
      EXPECT_EQ(node["phase"], "Succeeded") << node.dump();
      // The train step is a resource template: its pods are the TFJob's replicas, below.
      if (tmpl != "train") {
        EXPECT_EQ(node.value("podRuntime", ""), runtime) << node.dump();
      }
      // The model server was a daemon, stopped when the steps ended.
      if (tmpl == "serve") {
        EXPECT_FALSE(node.value("daemoned", false)) << node.dump();
      }
      templates.insert(tmpl);
    }
    for (const char* t : {"get-workflow-info", "fetch-data", "train", "export", "serve", "test-model", "cleanup"}) {
      EXPECT_TRUE(templates.count(t)) << "no Succeeded pod of template " << t;
    }
    testing::ProcessResult job = Loom({"job", "get", name, "-o", "json"});
    auto status = ParseJson(job.out, "loom job get");
    EXPECT_TRUE(status.ok()) << job.out << job.err;
    if (status.ok()) {
      EXPECT_EQ((*status)["status"]["local"]["replicas"].size(), 3u) << job.out;
      for (const Json& replica : (*status)["status"]["local"]["replicas"]) EXPECT_EQ(replica["runtime"], runtime) << job.out;
    }
    // The exported model and the TFJob record are where the UI looks for them.
    EXPECT_TRUE(PathExists(home_.Join("store/mnist-train/exported/" + name + "/1/model.json")));
    EXPECT_TRUE(PathExists(home_.Join("jobs/" + name + "/status.json")));
    EXPECT_TRUE(PathExists(home_.Join("runs/" + name + "/checkpoint")));
    return r.out;
  }

  testing::ScratchDir home_, logs_;
  std::vector<std::string> env_ = {"LOOM_HOME=" + home_.path(), "LOOM_MNIST_DIR=" + testing::MnistDir()};
  int port_ = testing::FreeLoopbackPort();
};

TEST_F(DemoTest, WholePipelineAsOneWorkflow) {
  RunDemo("mnist-e2e", "process", {"--keep_serving=false"});
  // Nothing serves after the workflow: its daemon was stopped and the demo started none.
  EXPECT_EQ(testing::ConnectLoopback(port_), -1);
  EXPECT_FALSE(PathExists(home_.Join("run/serve-" + std::to_string(port_) + ".pid")));
}

TEST_F(DemoTest, WholePipelineInContainersThenKeepsServing) {
  const std::string out = RunDemo("mnist-containers", "container", {"--pod-runtime=container"});
  // --keep_serving: the demo serves the exported model after the workflow, its pid in the pid file.
  const std::string pid_file = home_.Join("run/serve-" + std::to_string(port_) + ".pid");
  auto pid_text = ReadFile(pid_file);
  ASSERT_TRUE(pid_text.ok()) << out;
  const pid_t pid = std::atoi(pid_text->c_str());
  ASSERT_GT(pid, 0) << *pid_text;
  testing::ProcessResult predict =
      Loom({"predict", "--server=127.0.0.1:" + std::to_string(port_), "--model=mnist", "--num_tests=100"});
  EXPECT_EQ(predict.exit_code, 0) << predict.out << predict.err;
  EXPECT_NE(predict.out.find("Inference error rate"), std::string::npos) << predict.out;
  // The next demo on the port stops it first (here the demo of a bad file, which then fails).
  testing::ProcessResult again = Loom({"demo", "--port=" + std::to_string(port_), "--file=/nonexistent.yaml"});
  EXPECT_NE(again.out.find("stopped the model server of an earlier demo (pid " + std::to_string(pid) + ")"),
            std::string::npos) << again.out << again.err;
  EXPECT_FALSE(ProcessRunning(pid));
}

}  // namespace
}  // namespace loom
