// A real engine on a scratch LOOM_HOME (a store, the local pod runner and the engine), for the
// tests that run workflows end to end with real pods: engine_test and daemon_test.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/json.h"
#include "test_util/test_env.h"
#include "workflow/engine.h"
#include "workflow/pod_runner.h"
#include "workflow/spec.h"
#include "workflow/store.h"

namespace loom::workflow {

class RealEngineTest : public ::testing::Test {
 protected:
  // Opens the store and the pod runner (a cancelled pod gets kill_grace_secs after SIGTERM), then
  // makes engine_.
  void StartEngine(double kill_grace_secs) {
    store_ = std::move(Store::Open(home_.Join("workflows.db"))).value();
    PodRunnerOptions pod_options;
    pod_options.home = home_.path();
    pod_options.kill_grace_secs = kill_grace_secs;
    pods_ = std::move(LocalPodRunner::Create(pod_options)).value();
    engine_ = NewEngine();
  }
  // Another engine on the same store and pods (what a restarted engine is).
  std::unique_ptr<Engine> NewEngine() {
    EngineOptions options;
    options.store = store_.get();
    options.pods = pods_.get();
    options.home = home_.path();
    options.poll_interval_ms = 20;
    return std::move(Engine::Create(options)).value();
  }
  // Submits a workflow YAML; its name, or "" (and the test fails).
  std::string Submit(const std::string& yaml, const SubmitOptions& options = {}) {
    auto m = LoadManifest(yaml, "test.yaml");
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (!m.ok()) return "";
    auto name = engine_->Submit(*m, options);
    EXPECT_TRUE(name.ok()) << name.status().ToString();
    return name.ok() ? *name : "";
  }
  // A node of workflow `wf` by its name ("wf[0].step"), or {}.
  Json Node(const std::string& wf, const std::string& node_name) {
    auto n = store_->GetNode(wf, NodeId(wf, node_name));
    return n.ok() ? *n : Json::object();
  }

  loom::testing::ScratchDir home_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LocalPodRunner> pods_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace loom::workflow
