// The same-host data plane of the ps service (src/train/ps_shm.h): which addresses get it,
// round trips through shared memory giving exactly the parameters the gRPC path gives (async
// and sync), the ps's thread for a worker ending when the worker leaves or is killed, a worker
// whose ps dies getting an error (or, through PsClient, the gRPC path and a new segment from the
// restarted ps) rather than hanging, bad segment names and sizes, and no segment left in
// /dev/shm.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "nn/model.h"
#include "ps/ps.grpc.pb.h"
#include "train/parameter_server.h"
#include "train/ps_client.h"
#include "train/ps_shm.h"
#include "train/ps_test_util.h"

namespace loom::train {
namespace {

using ps_testing::Cluster;
using ps_testing::FillGrads;
using ps_testing::Flat;
using ps_testing::SmallModel;

bool SegmentExists(const std::string& name) { return access(("/dev/shm" + name).c_str(), F_OK) == 0; }

// Polls `done` until it holds or 20 s passed (a bound against hanging, not a timing).
template <typename Fn>
bool Eventually(Fn done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(PsShmTest, LoopbackAddressesOnly) {
  EXPECT_TRUE(shm::IsLoopbackAddress("127.0.0.1:2222"));
  EXPECT_TRUE(shm::IsLoopbackAddress("127.3.4.5:1"));
  EXPECT_TRUE(shm::IsLoopbackAddress("localhost:2222"));
  EXPECT_TRUE(shm::IsLoopbackAddress("[::1]:2222"));
  EXPECT_FALSE(shm::IsLoopbackAddress("198.18.0.2:2222"));
  EXPECT_FALSE(shm::IsLoopbackAddress("10.0.0.1:2222"));
  EXPECT_FALSE(shm::IsLoopbackAddress("[::2]:2222"));
  EXPECT_FALSE(shm::IsLoopbackAddress("ps-0.example:2222"));
  EXPECT_FALSE(shm::IsLoopbackAddress("128.0.0.1:2222"));
}

TEST(PsShmTest, TransportFlag) {
  EXPECT_EQ(*ParsePsTransport("auto"), PsTransport::kAuto);
  EXPECT_EQ(*ParsePsTransport("grpc"), PsTransport::kGrpc);
  EXPECT_EQ(*ParsePsTransport("shm"), PsTransport::kShm);
  auto bad = ParsePsTransport("tcp");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--ps_transport"), std::string::npos) << bad.status().ToString();

  // shm with a ps that is not on this host is an error naming the flag; auto takes gRPC for it.
  auto model = SmallModel();
  PsClientOptions options;
  options.ps_addresses = {"127.0.0.1:1", "198.18.0.3:2222"};
  options.transport = PsTransport::kShm;
  auto client = PsClient::Create(options, model->parameters());
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("--ps_transport=shm"), std::string::npos) << client.status().ToString();
  EXPECT_NE(client.status().message().find("198.18.0.3:2222"), std::string::npos) << client.status().ToString();
  options.transport = PsTransport::kAuto;
  EXPECT_TRUE(PsClient::Create(options, model->parameters()).ok());
}

// The same pushes through shared memory and through gRPC end in the same parameters.
TEST(PsShmTest, RoundTripsEqualGrpc) {
  for (bool sync : {false, true}) {
    SCOPED_TRACE(sync ? "sync" : "async");
    std::vector<std::vector<float>> results;
    for (PsTransport transport : {PsTransport::kShm, PsTransport::kGrpc}) {
      Cluster cluster(2);
      auto chief_model = SmallModel();
      auto worker_model = SmallModel();
      auto chief = cluster.Client(*chief_model, 0, transport);
      auto worker = cluster.Client(*worker_model, 1, transport);
      PsTrainingConfig config;
      config.train_steps = 100;
      config.sync_replicas = sync;
      config.replicas_to_aggregate = 2;
      config.num_replicas = 2;
      ASSERT_TRUE(chief->Init(config, 0, Flat(*chief_model), {}, {}).ok());
      ASSERT_TRUE(chief->Pull(chief_model->parameters()).ok());
      ASSERT_TRUE(worker->Pull(worker_model->parameters()).ok());
      for (int step = 0; step < 5; ++step) {
        FillGrads(*chief_model, 2 * step);
        FillGrads(*worker_model, 2 * step + 1);
        if (sync) {  // both pushes of a step wait for each other
          StatusOr<PsClient::StepResult> other = PsClient::StepResult{};
          std::thread t([&] { other = worker->PushPull(worker_model->parameters()); });
          auto r = chief->PushPull(chief_model->parameters());
          t.join();
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          ASSERT_TRUE(other.ok()) << other.status().ToString();
          EXPECT_TRUE(r->applied);
          EXPECT_EQ(r->global_step, step + 1);
        } else {
          auto r = chief->PushPull(chief_model->parameters());
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          EXPECT_EQ(r->global_step, 2 * step + 1);
          r = worker->PushPull(worker_model->parameters());
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          EXPECT_EQ(r->global_step, 2 * step + 2);
        }
      }
      // Shared memory was used exactly when asked for: a link per client and ps task.
      for (auto& ps : cluster.servers) EXPECT_EQ(ps->shm_links(), transport == PsTransport::kShm ? 2 : 0);
      if (sync) {  // a stale push (computed on step 0's variables) is dropped, as over gRPC
        auto stale = SmallModel();
        auto late = cluster.Client(*stale, 1, transport);
        FillGrads(*stale, 99);
        auto r = late->PushPull(stale->parameters());
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        EXPECT_FALSE(r->applied);
      }
      if (sync) {
        EXPECT_EQ(Flat(*chief_model), Flat(*worker_model));  // both saw the same step
      }
      results.push_back(Flat(*worker_model));
      ASSERT_TRUE(chief->Pull(chief_model->parameters()).ok());
      EXPECT_EQ(Flat(*chief_model), Flat(*worker_model));
    }
    EXPECT_EQ(results[0], results[1]);
  }
}

// FollowAffinityOf: a thread binds itself to the CPUs of a process bound to fewer CPUs than
// it may use (as the ps thread serving a worker does), and leaves itself alone otherwise.
TEST(PsShmTest, FollowAffinityOfABoundProcess) {
  cpu_set_t all;
  CPU_ZERO(&all);
  ASSERT_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &all)) first = c;
  ASSERT_GE(first, 0);
  // A child bound to one CPU, waiting to be killed.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) _exit(1);
    for (;;) pause();
  }
  ASSERT_TRUE(Eventually([&] {
    cpu_set_t now;
    CPU_ZERO(&now);
    return sched_getaffinity(child, sizeof(now), &now) == 0 && CPU_COUNT(&now) == 1;
  }));
  std::string followed, unbound;
  cpu_set_t after;
  CPU_ZERO(&after);
  std::thread t([&] {
    unbound = shm::FollowAffinityOf(getpid());  // this process: not narrower than the thread
    followed = shm::FollowAffinityOf(child);
    pthread_getaffinity_np(pthread_self(), sizeof(after), &after);
  });
  t.join();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(unbound, "");
  if (CPU_COUNT(&all) > 1) {  // bound to fewer CPUs than the thread had: followed
    EXPECT_EQ(followed, std::to_string(first));
    EXPECT_EQ(CPU_COUNT(&after), 1);
    EXPECT_TRUE(CPU_ISSET(first, &after));
  } else {  // one CPU only: nothing narrower to follow
    EXPECT_EQ(followed, "");
  }
  EXPECT_EQ(shm::FollowAffinityOf(child), "");  // gone: its affinity cannot be read
  cpu_set_t mine;
  CPU_ZERO(&mine);
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine), 0);
  EXPECT_EQ(CPU_COUNT(&mine), CPU_COUNT(&all));  // only the thread that followed was bound
}

// nn::Tensor::View (the zero copy's tensors): it does not free the memory, keeps its owner
// alive as long as it (or one moved from it) lives, and a copy of it owns its own copy.
TEST(PsShmTest, TensorViewKeepsItsOwner) {
  auto owner = std::make_shared<std::vector<float>>(6, 2.5f);
  {
    nn::Tensor view = nn::Tensor::View({2, 3}, owner->data(), owner);
    EXPECT_FALSE(view.owns_data());
    EXPECT_EQ(view.data(), owner->data());
    EXPECT_EQ(view.size(), 6);
    EXPECT_EQ(owner.use_count(), 2);
    view.data()[4] = 7;
    nn::Tensor copy = view;
    EXPECT_TRUE(copy.owns_data());
    EXPECT_NE(copy.data(), owner->data());
    EXPECT_EQ(copy, view);
    nn::Tensor moved = std::move(view);
    EXPECT_FALSE(moved.owns_data());
    EXPECT_EQ(owner.use_count(), 2);
    moved = copy;  // owns again: the view's hold on the owner ends
    EXPECT_EQ(owner.use_count(), 1);
  }
  EXPECT_EQ(owner.use_count(), 1);
  EXPECT_EQ((*owner)[4], 7.0f);
}

// One ps task through shared memory: after a step the parameters live in the segment (the
// worker copies nothing), the parameters end as with copies and as over gRPC, StartPushPull
// gives them their own memory back, and they stay valid after the client (and its segment's
// link) are gone.
TEST(PsShmTest, ZeroCopyTensorsLiveInTheSegment) {
  struct Run {
    PsTransport transport;
    bool zero_copy;
  };
  std::vector<std::vector<float>> results;
  for (Run run : {Run{PsTransport::kShm, true}, Run{PsTransport::kShm, false}, Run{PsTransport::kGrpc, true}}) {
    SCOPED_TRACE(std::string(run.transport == PsTransport::kShm ? "shm" : "grpc") + (run.zero_copy ? " zero copy" : ""));
    Cluster cluster(1);
    auto model = SmallModel();
    PsClientOptions options;
    options.ps_addresses = cluster.addresses;
    options.wait_secs = 20;
    options.transport = run.transport;
    options.zero_copy = run.zero_copy;
    auto client = PsClient::Create(options, model->parameters());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    PsTrainingConfig config;
    config.train_steps = 100;
    ASSERT_TRUE((*client)->Init(config, 0, Flat(*model), {}, {}).ok());
    ASSERT_TRUE((*client)->Pull(model->parameters()).ok());
    for (int step = 0; step < 4; ++step) {
      FillGrads(*model, step);
      auto r = (*client)->PushPull(model->parameters());
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->global_step, step + 1);
      // The first step attaches (and copies); from the second on the tensors are the segment.
      const bool in_segment = run.transport == PsTransport::kShm && run.zero_copy && step >= 1;
      for (const nn::Parameter& p : model->parameters()) {
        EXPECT_EQ(p.value.owns_data(), !in_segment) << p.name << " step " << step;
        EXPECT_EQ(p.grad.owns_data(), !in_segment) << p.name << " step " << step;
      }
    }
    std::vector<float> after_steps = Flat(*model);
    // Overlapped steps must not have the ps write into the tensors: they get memory of their own.
    FillGrads(*model, 4);
    ASSERT_TRUE((*client)->StartPushPull(model->parameters()).ok());
    for (const nn::Parameter& p : model->parameters()) EXPECT_TRUE(p.value.owns_data() && p.grad.owns_data()) << p.name;
    EXPECT_EQ(Flat(*model), after_steps);  // moved out, not changed
    auto r = (*client)->FinishPushPull(model->parameters());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    // Back to PushPull: into the segment again.
    FillGrads(*model, 5);
    ASSERT_TRUE((*client)->PushPull(model->parameters()).ok());
    ASSERT_TRUE((*client)->PushPull(model->parameters()).ok());
    if (run.transport == PsTransport::kShm && run.zero_copy) {
      for (const nn::Parameter& p : model->parameters()) EXPECT_FALSE(p.value.owns_data()) << p.name;
    }
    std::vector<float> before_gone = Flat(*model);
    client->reset();  // the link (and the ps's thread for it) end; the views keep the mapping
    EXPECT_TRUE(Eventually([&] { return cluster.servers[0]->shm_links() == 0; }));
    EXPECT_EQ(Flat(*model), before_gone);
    results.push_back(before_gone);
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

// A worker that leaves (its client destroyed) or is killed: the ps's thread for it ends.
TEST(PsShmTest, PsThreadEndsWithItsWorker) {
  Cluster cluster(1);
  auto model = SmallModel();
  {
    auto client = cluster.Client(*model, 0, PsTransport::kShm);
    PsTrainingConfig config;
    ASSERT_TRUE(client->Init(config, 0, Flat(*model), {}, {}).ok());
    FillGrads(*model, 1);
    ASSERT_TRUE(client->PushPull(model->parameters()).ok());
    EXPECT_EQ(cluster.servers[0]->shm_links(), 1);
  }
  EXPECT_TRUE(Eventually([&] { return cluster.servers[0]->shm_links() == 0; }));

  // A worker process that attaches and is killed with SIGKILL. The parent asks for the
  // segment on the child's behalf (AttachShm carries the worker's pid) and hands it over.
  auto stub = ps::ParameterServer::NewStub(grpc::CreateChannel(cluster.addresses[0], grpc::InsecureChannelCredentials()));
  struct Handover {
    char name[200];
    int64_t bytes;
    int64_t floats;
  } handover{};
  int to_child[2], from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // attaches, says so, and waits to be killed
    Handover h{};
    if (read(to_child[0], &h, sizeof(h)) != static_cast<ssize_t>(sizeof(h))) _exit(2);
    auto end = shm::ShmWorkerEnd::Open(h.name, static_cast<size_t>(h.bytes), h.floats);
    const char answer = end.ok() ? 'a' : 'x';
    if (write(from_child[1], &answer, 1) != 1) _exit(4);
    for (;;) pause();
  }
  ps::AttachShmRequest request;
  ps::AttachShmResponse response;
  request.set_layout(ParameterLayout(model->parameters()));
  request.set_replica(1);
  request.set_pid(child);
  grpc::ClientContext ctx;
  grpc::Status attached = stub->AttachShm(&ctx, request, &response);
  ASSERT_TRUE(attached.ok()) << attached.error_message();
  EXPECT_EQ(cluster.servers[0]->shm_links(), 1);
  std::snprintf(handover.name, sizeof(handover.name), "%s", response.name().c_str());
  handover.bytes = response.bytes();
  handover.floats = response.floats();
  ASSERT_EQ(write(to_child[1], &handover, sizeof(handover)), static_cast<ssize_t>(sizeof(handover)));
  char answer = 0;
  ASSERT_EQ(read(from_child[0], &answer, 1), 1);
  EXPECT_EQ(answer, 'a');
  EXPECT_FALSE(SegmentExists(response.name())) << "the worker unlinks the segment once mapped";
  EXPECT_EQ(cluster.servers[0]->shm_links(), 1);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(Eventually([&] { return cluster.servers[0]->shm_links() == 0; }));
  for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) close(fd);
}

// A segment nobody attaches to is unlinked by the ps after a few seconds.
TEST(PsShmTest, UnattachedSegmentIsUnlinked) {
  Cluster cluster(1);
  auto model = SmallModel();
  auto client = cluster.Client(*model, 0, PsTransport::kGrpc);
  const PsTrainingConfig config;
  ASSERT_TRUE(client->Init(config, 0, Flat(*model), {}, {}).ok());
  auto stub = ps::ParameterServer::NewStub(grpc::CreateChannel(cluster.addresses[0], grpc::InsecureChannelCredentials()));
  ps::AttachShmRequest request;
  ps::AttachShmResponse response;
  request.set_layout(ParameterLayout(model->parameters()));
  request.set_pid(getpid());
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->AttachShm(&ctx, request, &response).ok());
  EXPECT_TRUE(SegmentExists(response.name()));
  EXPECT_TRUE(Eventually([&] { return !SegmentExists(response.name()) && cluster.servers[0]->shm_links() == 0; }));

  // A layout that is not the ps's is refused, as PushPull refuses it.
  request.set_layout("w:1x1");
  grpc::ClientContext ctx2;
  grpc::Status s = stub->AttachShm(&ctx2, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("w:1x1"), std::string::npos) << s.error_message();
}

// A segment left by a ps process that is gone is removed; one of a live ps, and names that are
// not a ps's, stay.
TEST(PsShmTest, SegmentsOfDeadPsAreRemoved) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // `child` is now no process
  auto make = [](const std::string& name) {
    int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) close(fd);
    return fd >= 0;
  };
  const std::string dead = "/loom-ps-" + std::to_string(child) + "-00000000000000aa";
  const std::string live = "/loom-ps-" + std::to_string(getppid()) + "-00000000000000bb";
  const std::string other = "/loom-ps-" + std::to_string(child) + "-notasegment";
  ASSERT_TRUE(make(dead));
  ASSERT_TRUE(make(live));
  ASSERT_TRUE(make(other));
  EXPECT_GE(shm::RemoveSegmentsOfDeadPs(), 1);
  EXPECT_FALSE(SegmentExists(dead));
  EXPECT_TRUE(SegmentExists(live));
  EXPECT_TRUE(SegmentExists(other));
  shm_unlink(live.c_str());
  shm_unlink(other.c_str());
}

// A ps process killed while a worker waits for its answer: the wait ends with an error.
TEST(PsShmTest, WorkerWaitEndsWhenThePsDies) {
  constexpr int64_t kFloats = 1000;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t parent = getpid();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // a "ps" that makes a segment, names it, and never answers
    auto end = shm::ShmPsEnd::Create(kFloats, parent);
    if (!end.ok()) _exit(3);
    char name[128] = {};
    std::snprintf(name, sizeof(name), "%s", (*end)->name().c_str());
    if (write(pipe_fds[1], name, sizeof(name)) != static_cast<ssize_t>(sizeof(name))) _exit(4);
    for (;;) pause();
  }
  char name[128] = {};
  ASSERT_EQ(read(pipe_fds[0], name, sizeof(name)), static_cast<ssize_t>(sizeof(name)));
  auto end = shm::ShmWorkerEnd::Open(name, shm::SegmentBytes(kFloats), kFloats);
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ((*end)->ps_pid(), child);
  std::vector<float> grads(kFloats, 1.f), values(kFloats, 0.f);
  (*end)->Send(0, 0, {{reinterpret_cast<const char*>(grads.data()), grads.size() * sizeof(float)}});
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  auto reply = (*end)->Receive({{reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)}}, 600);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("gone"), std::string::npos) << reply.status().ToString();
  EXPECT_FALSE(SegmentExists(name));
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

// A ps restarted at the same address: the step that met the old one goes through gRPC (waiting
// for the new one and its re-initialization), and the next one attaches to the new ps.
TEST(PsShmTest, RestartedPsFallsBackThenReattaches) {
  auto model = SmallModel();
  auto first = ParameterServer::Create(ParameterServerOptions{});
  ASSERT_TRUE(first.ok());
  const std::string address = "127.0.0.1:" + std::to_string((*first)->port());
  PsClientOptions options;
  options.ps_addresses = {address};
  options.wait_secs = 20;
  options.transport = PsTransport::kShm;
  auto client = PsClient::Create(options, model->parameters());
  ASSERT_TRUE(client.ok());
  const std::vector<float> initial = Flat(*model);
  const PsTrainingConfig config;
  ASSERT_TRUE((*client)->Init(config, 0, initial, {}, {}).ok());
  FillGrads(*model, 3);
  auto r = (*client)->PushPull(model->parameters());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*first)->shm_links(), 1);
  first->reset();  // the ps goes away

  std::unique_ptr<ParameterServer> second;
  int reinits = 0;
  (*client)->set_reinit_handler([&](size_t shard) {
    ++reinits;
    return (*client)->InitShard(shard, PsTrainingConfig{}, 7, initial, {}, {});
  });
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ParameterServerOptions o;
    o.address = address;
    auto ps = ParameterServer::Create(o);
    ASSERT_TRUE(ps.ok()) << ps.status().ToString();
    second = std::move(*ps);
  });
  r = (*client)->PushPull(model->parameters());
  restart.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(reinits, 1);
  EXPECT_EQ(r->global_step, 8);  // the restored step 7, plus this push
  ASSERT_TRUE(second);
  r = (*client)->PushPull(model->parameters());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->global_step, 9);
  EXPECT_EQ(second->shm_links(), 1);
}

// A ps that is alive but does not answer: the wait ends with DeadlineExceeded (the push may
// still be applied, so PsClient does not send it again); a ps whose thread for this worker
// ended (Close): Unavailable; an answer: the variables copied out.
TEST(PsShmTest, SilentClosedAndAnsweringPs) {
  constexpr int64_t kFloats = 100;
  auto ps_end = shm::ShmPsEnd::Create(kFloats, getpid());
  ASSERT_TRUE(ps_end.ok()) << ps_end.status().ToString();
  auto worker = shm::ShmWorkerEnd::Open((*ps_end)->name(), (*ps_end)->bytes(), kFloats);
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  std::vector<float> grads(kFloats), values(kFloats, 0.f), fresh(kFloats);
  for (int64_t i = 0; i < kFloats; ++i) grads[i] = static_cast<float>(i), fresh[i] = static_cast<float>(-i);
  const std::vector<wire::Chunk> g = {{reinterpret_cast<const char*>(grads.data()), 40 * sizeof(float)},
                                      {reinterpret_cast<const char*>(grads.data() + 40), 60 * sizeof(float)}};
  const std::vector<wire::Chunk> v = {{reinterpret_cast<const char*>(values.data()), 70 * sizeof(float)},
                                      {reinterpret_cast<const char*>(values.data() + 70), 30 * sizeof(float)}};
  std::atomic<bool> stop{false};
  shm::Request request;

  uint32_t seq = (*worker)->Send(3, 41, g);
  ASSERT_EQ((*ps_end)->WaitRequest(stop, 5, &request), shm::ShmPsEnd::Event::kRequest);
  EXPECT_EQ(request.seq, seq);
  EXPECT_EQ(request.replica, 3);
  EXPECT_EQ(request.step, 41);
  EXPECT_EQ(std::vector<float>(request.gradients, request.gradients + kFloats), grads);
  auto silent = (*worker)->Receive(v, 0.3);
  ASSERT_FALSE(silent.ok());
  EXPECT_EQ(silent.status().code(), StatusCode::kDeadlineExceeded) << silent.status().ToString();

  // The late answer to that request arrives; the next request is answered at once.
  (*ps_end)->Reply(seq, shm::Reply{42, false, true}, fresh.data());
  seq = (*worker)->Send(3, 42, g);
  ASSERT_EQ((*ps_end)->WaitRequest(stop, 5, &request), shm::ShmPsEnd::Event::kRequest);
  (*ps_end)->Reply(request.seq, shm::Reply{43, true, false}, fresh.data());
  auto answered = (*worker)->Receive(v, 5);
  ASSERT_TRUE(answered.ok()) << answered.status().ToString();
  EXPECT_EQ(answered->global_step, 43);
  EXPECT_TRUE(answered->done);
  EXPECT_FALSE(answered->applied);
  EXPECT_EQ(values, fresh);

  // An error answer comes back as the ps's status.
  seq = (*worker)->Send(3, 43, g);
  ASSERT_EQ((*ps_end)->WaitRequest(stop, 5, &request), shm::ShmPsEnd::Event::kRequest);
  (*ps_end)->ReplyError(request.seq, FailedPrecondition("ps: not initialized yet"));
  auto refused = (*worker)->Receive(v, 5);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(), "ps: not initialized yet");

  (*worker)->Send(3, 44, g);
  (*ps_end)->Close();
  auto closed = (*worker)->Receive(v, 600);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.status().code(), StatusCode::kUnavailable) << closed.status().ToString();

  // The worker leaving ends the ps's wait.
  worker->reset();
  ASSERT_EQ((*ps_end)->WaitRequest(stop, 5, &request), shm::ShmPsEnd::Event::kRequest);  // the 44th
  EXPECT_EQ((*ps_end)->WaitRequest(stop, 5, &request), shm::ShmPsEnd::Event::kGone);
}

TEST(PsShmTest, BadSegmentNamesAndSizes) {
  auto bad = shm::ShmWorkerEnd::Open("no-slash", shm::SegmentBytes(10), 10);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no-slash"), std::string::npos) << bad.status().ToString();

  bad = shm::ShmWorkerEnd::Open("/loom-ps-no-such-segment", shm::SegmentBytes(10), 10);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("/loom-ps-no-such-segment"), std::string::npos) << bad.status().ToString();

  bad = shm::ShmWorkerEnd::Open("/x", shm::SegmentBytes(10) + 1, 10);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("is not the size"), std::string::npos) << bad.status().ToString();

  // A worker pid that names no live process (it died, or lives in another pid namespace).
  const pid_t gone = fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) _exit(0);
  int status = 0;
  waitpid(gone, &status, 0);
  auto dead = shm::ShmPsEnd::Create(10, gone);
  ASSERT_FALSE(dead.ok());
  EXPECT_EQ(dead.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(dead.status().message().find(std::to_string(gone)), std::string::npos) << dead.status().ToString();

  // A real segment of 10 floats opened as one of 2000: its size is not what was announced.
  auto ps_end = shm::ShmPsEnd::Create(10, getpid());
  ASSERT_TRUE(ps_end.ok()) << ps_end.status().ToString();
  EXPECT_TRUE(SegmentExists((*ps_end)->name()));
  bad = shm::ShmWorkerEnd::Open((*ps_end)->name(), shm::SegmentBytes(2000), 2000);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find((*ps_end)->name()), std::string::npos) << bad.status().ToString();
  EXPECT_FALSE(SegmentExists((*ps_end)->name()));
}

}  // namespace
}  // namespace loom::train
