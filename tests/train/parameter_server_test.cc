// The ps service and its client in one process over real gRPC on 127.0.0.1: sharding, async
// and sync updates equal to the single-process optimizer's, stale gradients dropped, the end of
// training, Shutdown reaching every replica, and the errors a misconfigured task sees.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "nn/model.h"
#include "nn/optimizer.h"
#include "train/parameter_server.h"
#include "train/ps_client.h"
#include "train/ps_test_util.h"

namespace loom::train {
namespace {

using ps_testing::Cluster;
using ps_testing::FillGrads;
using ps_testing::Flat;
using ps_testing::SmallModel;

// Equal up to float rounding: the ps runs the same AdamUpdate on a shard whose start is not
// the start of a parameter, so vector and scalar lanes fall on different elements.
void ExpectNear(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  float worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > worst) worst = std::abs(a[i] - b[i]), at = i;
  EXPECT_LE(worst, 1e-6f) << "element " << at << ": " << a[at] << " vs " << b[at];
}

TEST(PartitionTest, BalancedAndContiguous) {
  auto shards = PartitionEvenly(79510, 3);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0].begin, 0);
  EXPECT_EQ(shards[0].size, 26504);
  EXPECT_EQ(shards[1].begin, 26504);
  EXPECT_EQ(shards[1].size, 26503);
  EXPECT_EQ(shards[2].begin + shards[2].size, 79510);
  EXPECT_EQ(ParameterLayout(SmallModel()->parameters()),
            "dense_0/kernel:784x8,dense_0/bias:8,dense_1/kernel:8x10,dense_1/bias:10");
}

// Two ps tasks initialized from `model`, and `local`, the same model under the single-process
// optimizer, to compare with.
class AsyncAgainstLocalAdam : public ::testing::Test {
 protected:
  void SetUp() override {
    client = cluster.Client(*model);
    ASSERT_TRUE(client->Init(config, 0, Flat(*model), {}, {}).ok());
    auto created = nn::Optimizer::Create(config.optimizer);
    ASSERT_TRUE(created.ok());
    optimizer = std::move(*created);
  }
  Cluster cluster{2};
  std::unique_ptr<nn::Model> model = SmallModel(), local = SmallModel();
  std::unique_ptr<PsClient> client;
  PsTrainingConfig config = [] {
    PsTrainingConfig c;
    c.train_steps = 100;
    return c;
  }();
  std::unique_ptr<nn::Optimizer> optimizer;
};

// Two ps tasks, async: each push is one Adam step on the whole vector, bit for bit the
// single-process optimizer's.
TEST_F(AsyncAgainstLocalAdam, AsyncPushesEqualLocalAdam) {
  for (int step = 0; step < 3; ++step) {
    FillGrads(*model, step);
    FillGrads(*local, step);
    auto result = client->PushPull(model->parameters());
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result->global_step, step + 1);
    EXPECT_TRUE(result->applied);
    EXPECT_FALSE(result->done);
    optimizer->Apply(local->parameters());
  }
  ExpectNear(Flat(*model), Flat(*local));

  // The snapshot holds the same variables and TF's Adam slots.
  auto snapshot = client->Snapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->global_step, 3);
  EXPECT_EQ(snapshot->optimizer_step, 3);
  ExpectNear(snapshot->variables, Flat(*local));
  std::vector<float> m;
  for (const auto& t : optimizer->SaveState())
    if (t.name.size() > 5 && t.name.substr(t.name.size() - 5) == "/Adam") m.insert(m.end(), t.tensor.data(), t.tensor.data() + t.tensor.size());
  ExpectNear(snapshot->slot0, m);
}

// StartPushPull/FinishPushPull (async training overlapped with the next step's math): the
// gradients are taken at Start (the caller may overwrite them while they travel), the variables
// arrive at Finish, and the result is the optimizer's, as with PushPull.
TEST_F(AsyncAgainstLocalAdam, OverlappedPushPullEqualsLocalAdam) {
  for (int step = 0; step < 3; ++step) {
    FillGrads(*model, step);
    FillGrads(*local, step);
    const std::vector<float> at_start = Flat(*model);
    ASSERT_TRUE(client->StartPushPull(model->parameters()).ok());
    FillGrads(*model, 1000 + step);  // the next step's math, while this one's travel
    EXPECT_EQ(Flat(*model), at_start);  // the values change only at Finish
    auto result = client->FinishPushPull(model->parameters());
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result->global_step, step + 1);
    EXPECT_TRUE(result->applied);
    optimizer->Apply(local->parameters());
    ExpectNear(Flat(*model), Flat(*local));
  }
  // Back to plain round trips on the same client.
  FillGrads(*model, 9);
  FillGrads(*local, 9);
  auto result = client->PushPull(model->parameters());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  optimizer->Apply(local->parameters());
  ExpectNear(Flat(*model), Flat(*local));
}

// Sync: two replicas' gradients of one step are averaged into one update; a late one is dropped.
TEST(ParameterServerTest, SyncAveragesAndDropsStale) {
  Cluster cluster(1);
  auto a = SmallModel(), b = SmallModel(), c = SmallModel(), local = SmallModel();
  auto chief = cluster.Client(*a, 0), worker = cluster.Client(*b, 1), late = cluster.Client(*c, 2);
  PsTrainingConfig config;
  config.train_steps = 100;
  config.sync_replicas = true;
  config.replicas_to_aggregate = 2;
  config.num_replicas = 3;
  ASSERT_TRUE(chief->Init(config, 0, Flat(*a), {}, {}).ok());
  FillGrads(*a, 1);
  FillGrads(*b, 2);
  StatusOr<PsClient::StepResult> ra = Internal("unset");
  std::thread t([&] { ra = chief->PushPull(a->parameters()); });
  auto rb = worker->PushPull(b->parameters());
  t.join();
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  EXPECT_EQ(ra->global_step, 1);
  EXPECT_EQ(rb->global_step, 1);
  EXPECT_EQ(Flat(*a), Flat(*b));

  // The same update locally: the mean of the two gradients.
  FillGrads(*local, 1);
  std::vector<std::vector<float>> g1;
  for (auto& p : local->parameters()) g1.emplace_back(p.grad.data(), p.grad.data() + p.grad.size());
  FillGrads(*local, 2);
  for (size_t i = 0; i < local->parameters().size(); ++i) {
    auto& p = local->parameters()[i];
    for (int64_t j = 0; j < p.grad.size(); ++j) p.grad.data()[j] = (p.grad.data()[j] + g1[i][static_cast<size_t>(j)]) * 0.5f;
  }
  auto optimizer = nn::Optimizer::Create(config.optimizer);
  (*optimizer)->Apply(local->parameters());
  ExpectNear(Flat(*a), Flat(*local));

  // A gradient computed on step 0's variables arrives after step 1: dropped.
  FillGrads(*c, 3);
  auto rc = late->PushPull(c->parameters());
  ASSERT_TRUE(rc.ok()) << rc.status().ToString();
  EXPECT_FALSE(rc->applied);
  EXPECT_EQ(rc->global_step, 1);
  EXPECT_EQ(Flat(*c), Flat(*a));
}

// Training ends at train_steps; the chief's Shutdown lets the ps exit once every replica knows.
TEST(ParameterServerTest, DoneAndShutdown) {
  Cluster cluster(1, /*grace=*/600);
  auto a = SmallModel(), b = SmallModel();
  auto chief = cluster.Client(*a, 0), worker = cluster.Client(*b, 1);
  PsTrainingConfig config;
  config.train_steps = 2;
  config.num_replicas = 2;
  ASSERT_TRUE(chief->Init(config, 0, Flat(*a), {}, {}).ok());
  FillGrads(*a, 1);
  ASSERT_TRUE(chief->PushPull(a->parameters()).ok());
  auto second = worker->PushPull(a->parameters());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->done);
  EXPECT_TRUE(second->applied);
  auto third = chief->PushPull(a->parameters());
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->done);
  EXPECT_FALSE(third->applied);
  EXPECT_EQ(third->global_step, 2);

  ASSERT_TRUE(chief->Shutdown().ok());
  // The worker was told "done" above and leaves; with the chief's Shutdown everyone has: Wait
  // returns (not after the grace period: the test's is 10 minutes).
  ASSERT_TRUE(worker->Leave().ok());
  cluster.servers[0]->Wait();
}

// A worker asking before the chief's Init waits for it, then gets the chief's variables.
TEST(ParameterServerTest, WorkerWaitsForInit) {
  Cluster cluster(2);
  auto chief_model = SmallModel(), worker_model = SmallModel();
  for (auto& p : worker_model->parameters()) p.value.data()[0] = 42.f;
  auto chief = cluster.Client(*chief_model, 0), worker = cluster.Client(*worker_model, 1);
  auto reachable = worker->WaitReachable();
  ASSERT_TRUE(reachable.ok());
  EXPECT_FALSE(*reachable);
  StatusOr<PsClient::StepResult> pulled = Internal("unset");
  std::thread t([&] { pulled = worker->Pull(worker_model->parameters()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(chief->Init(PsTrainingConfig{}, 5, Flat(*chief_model), {}, {}).ok());
  t.join();
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  EXPECT_EQ(pulled->global_step, 5);
  EXPECT_EQ(Flat(*worker_model), Flat(*chief_model));
}

TEST(ParameterServerTest, ErrorsNameTheTask) {
  Cluster cluster(1);
  auto model = SmallModel(8), other = SmallModel(9);
  auto chief = cluster.Client(*model);
  ASSERT_TRUE(chief->Init(PsTrainingConfig{}, 0, Flat(*model), {}, {}).ok());
  auto mismatched = cluster.Client(*other, 1);
  auto pulled = mismatched->Pull(other->parameters());
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.status().message().find("ps 0 (" + cluster.addresses[0] + ")"), std::string::npos)
      << pulled.status().message();
  EXPECT_NE(pulled.status().message().find("dense_0/kernel:784x9"), std::string::npos);
  auto reachable = mismatched->WaitReachable();
  ASSERT_FALSE(reachable.ok());

  // Nothing listens: the client gives up after wait_secs, naming the address.
  PsClientOptions options;
  options.ps_addresses = {"127.0.0.1:1"};
  options.wait_secs = 0.3;
  auto lonely = PsClient::Create(options, model->parameters());
  ASSERT_TRUE(lonely.ok());
  auto unreachable = (*lonely)->Pull(model->parameters());
  ASSERT_FALSE(unreachable.ok());
  EXPECT_NE(unreachable.status().message().find("ps 0 (127.0.0.1:1): Pull: no answer"), std::string::npos)
      << unreachable.status().message();

  // The port is taken.
  ParameterServerOptions taken;
  taken.address = cluster.addresses[0];
  auto second = ParameterServer::Create(taken);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(cluster.addresses[0]), std::string::npos);
}

}  // namespace
}  // namespace loom::train
