#include "train/parameter_server.h"
#include "train/libraries.h"

#include <google/protobuf/stubs/common.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <atomic>
#include <functional>
#include <list>
#include <set>
#include <thread>
#include <vector>

#include "core/logging.h"
#include "nn/kernels.h"
#include "nn/optimizer.h"
#include "ps/ps.grpc.pb.h"
#include "train/learning_rate.h"
#include "train/progress_format.h"
#include "train/ps_shm.h"
#include "train/ps_wire.h"

namespace loom::train {
namespace {

using Clock = std::chrono::steady_clock;

grpc::Status Error(grpc::StatusCode code, const std::string& message) { return {code, message}; }

// Checks that `bytes` holds exactly n floats; copies them into `out` when it is not null.
bool TakeFloats(const std::string& bytes, int64_t n, std::vector<float>* out) {
  if (bytes.size() != static_cast<size_t>(n) * sizeof(float)) return false;
  if (out) {
    out->resize(static_cast<size_t>(n));
    std::memcpy(out->data(), bytes.data(), bytes.size());
  }
  return true;
}

// gRPC logs a long error of its own when it cannot bind; try the address first, so a port in
// use or a host that is not this machine's gets one clear line.
Status CheckBindable(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return InvalidArgument(address + ": not host:port");
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int err = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found); err != 0)
    return Unavailable(address + ": cannot resolve: " + gai_strerror(err));
  Status status;
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  const int one = 1;
  if (fd < 0) {
    status = ErrnoStatus(address, "socket", errno);
  } else {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0)
      status = Unavailable(address + ": cannot serve the ps there: " + strerror(errno));
    close(fd);
  }
  freeaddrinfo(found);
  return status;
}

// The shm data plane's errors are loom Statuses (the worker's Receive returns them).
Status FromGrpc(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK: return OkStatus();
    case grpc::StatusCode::INVALID_ARGUMENT: return InvalidArgument(s.error_message());
    case grpc::StatusCode::FAILED_PRECONDITION: return FailedPrecondition(s.error_message());
    case grpc::StatusCode::UNAVAILABLE: return Unavailable(s.error_message());
    default: return Internal(s.error_message());
  }
}

void PutFloats(const std::vector<float>& values, std::string* bytes) {
  bytes->assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

}  // namespace

// PushPull, the call of every training step, is served raw (ps_wire.h: fewer copies of the
// floats); the rest through the generated protobuf code.
class ParameterServer::Service final
    : public ps::ParameterServer::WithRawCallbackMethod_PushPull<ps::ParameterServer::Service> {
 public:
  grpc::Status Init(grpc::ServerContext*, const ps::InitRequest* request, ps::InitResponse*) override {
    const ps::ShardConfig& c = request->config();
    if (c.size() < 0 || c.begin() < 0 || c.begin() + c.size() > c.total())
      return Error(grpc::StatusCode::INVALID_ARGUMENT, "Init: shard [begin, begin+size) is outside [0, total)");
    if (c.optimizer() != "adam" && c.optimizer() != "sgd")
      return Error(grpc::StatusCode::INVALID_ARGUMENT, "Init: optimizer \"" + c.optimizer() + "\" is not adam or sgd");
    if (c.sync_replicas() && c.replicas_to_aggregate() < 1)
      return Error(grpc::StatusCode::INVALID_ARGUMENT, "Init: replicas_to_aggregate must be at least 1");
    std::vector<float> w, m, v;
    if (!TakeFloats(request->variables(), c.size(), &w))
      return Error(grpc::StatusCode::INVALID_ARGUMENT, "Init: variables must hold size floats");
    if (request->slot0().empty()) m.assign(w.size(), 0.f);
    else if (!TakeFloats(request->slot0(), c.size(), &m))
      return Error(grpc::StatusCode::INVALID_ARGUMENT, "Init: slot0 must hold size floats or be empty");
    if (request->slot1().empty()) v.assign(w.size(), 0.f);
    else if (!TakeFloats(request->slot1(), c.size(), &v))
      return Error(grpc::StatusCode::INVALID_ARGUMENT, "Init: slot1 must hold size floats or be empty");
    std::lock_guard<std::mutex> lock(mu_);
    config_ = c;
    w_ = std::move(w);
    m_ = std::move(m);
    v_ = std::move(v);
    global_step_ = request->global_step();
    optimizer_step_ = request->global_step();
    accum_.assign(w_.size(), 0.f);
    accum_count_ = 0;
    initialized_ = true;
    LOOM_LOG(INFO) << "ps: initialized shard [" << c.begin() << ", " << c.begin() + c.size() << ") of "
                   << c.total() << " floats at global step " << global_step_
                   << (c.sync_replicas() ? ", sync" : ", async");
    changed_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status GetState(grpc::ServerContext*, const ps::StateRequest*, ps::StateResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    response->set_initialized(initialized_);
    if (initialized_) *response->mutable_config() = config_;
    response->set_global_step(global_step_);
    response->set_done(Done());
    return grpc::Status::OK;
  }

  grpc::Status Pull(grpc::ServerContext*, const ps::PullRequest* request, ps::Variables* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (grpc::Status s = CheckReady(request->layout()); !s.ok()) return s;
    response->set_global_step(global_step_);
    response->set_done(Done());
    PutFloats(w_, response->mutable_variables());
    return grpc::Status::OK;
  }

  grpc::ServerUnaryReactor* PushPull(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    thread_local std::vector<float> g;  // this gRPC thread's gradient buffer, reused
    wire::PushRequestFields fields;
    if (Status s = wire::DecodePushRequest(*request, &fields, &g); !s.ok()) {
      reactor->Finish(Error(grpc::StatusCode::INVALID_ARGUMENT, s.message()));
      return reactor;
    }
    std::unique_lock<std::mutex> lock(mu_);
    grpc::Status status = CheckReady(fields.layout);
    if (status.ok() && static_cast<int64_t>(g.size()) != config_.size())
      status = Error(grpc::StatusCode::INVALID_ARGUMENT,
                     "PushPull: gradients must hold " + std::to_string(config_.size()) + " floats");
    if (!status.ok()) {
      lock.unlock();
      reactor->Finish(status);
      return reactor;
    }
    std::vector<Waiter> answered =
        PushLocked(g.data(), fields.step,
                   Waiter{fields.step, [this, response](bool applied) { *response = Fill(applied); },
                          [reactor] { reactor->Finish(grpc::Status::OK); }});
    lock.unlock();
    Finish(answered);
    return reactor;
  }

  // Same host: a shared memory segment for this worker's steps (ps_shm.h), served by a thread
  // of its own that runs every push through PushLocked, as PushPull does.
  grpc::Status AttachShm(grpc::ServerContext*, const ps::AttachShmRequest* request,
                         ps::AttachShmResponse* response) override {
    int64_t floats = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (grpc::Status s = CheckReady(request->layout()); !s.ok()) return s;
      floats = config_.size();
    }
    StatusOr<std::shared_ptr<shm::ShmPsEnd>> end = shm::ShmPsEnd::Create(floats, request->pid());
    if (!end.ok()) return Error(grpc::StatusCode::INTERNAL, "AttachShm: " + end.status().ToString());
    std::lock_guard<std::mutex> lock(links_mu_);
    if (shm_stop_.load()) return Error(grpc::StatusCode::UNAVAILABLE, "ps: stopping");
    links_.remove_if([](const std::unique_ptr<ShmLink>& l) {
      if (!l->finished.load()) return false;
      l->thread.join();
      return true;
    });
    auto link = std::make_unique<ShmLink>();
    link->end = *end;
    ShmLink* raw = link.get();
    const std::string layout = request->layout();
    const int replica = request->replica();
    const pid_t worker_pid = static_cast<pid_t>(request->pid());
    link->thread = std::thread([this, raw, layout, replica, worker_pid] {
      if (const std::string cpus = shm::FollowAffinityOf(worker_pid); !cpus.empty())
        LOOM_LOG(INFO) << "ps: replica " << replica << "'s shared memory thread runs on its CPUs (" << cpus << ")";
      ServeShm(raw->end, layout, replica);
      raw->finished.store(true);
    });
    links_.push_back(std::move(link));
    response->set_name((*end)->name());
    response->set_bytes(static_cast<int64_t>((*end)->bytes()));
    response->set_floats((*end)->floats());
    LOOM_LOG(INFO) << "ps: replica " << replica << " (pid " << request->pid() << ") attached through shared memory";
    return grpc::Status::OK;
  }

  // The shared memory links' threads still serving a worker.
  int ShmLinks() {
    std::lock_guard<std::mutex> lock(links_mu_);
    int n = 0;
    for (const auto& l : links_) n += l->finished.load() ? 0 : 1;
    return n;
  }

  // Ends every shared memory link's thread. REQUIRES: mu_ not held (they take it).
  void StopShm() {
    std::lock_guard<std::mutex> lock(links_mu_);
    shm_stop_.store(true);
    for (auto& l : links_) l->end->Wake();
    for (auto& l : links_)
      if (l->thread.joinable()) l->thread.join();
    links_.clear();
  }

  grpc::Status Snapshot(grpc::ServerContext*, const ps::SnapshotRequest*, ps::SnapshotResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!initialized_) return Error(grpc::StatusCode::FAILED_PRECONDITION, "ps: not initialized yet");
    response->set_global_step(global_step_);
    response->set_optimizer_step(optimizer_step_);
    PutFloats(w_, response->mutable_variables());
    PutFloats(m_, response->mutable_slot0());
    if (config_.optimizer() == "adam") PutFloats(v_, response->mutable_slot1());
    return grpc::Status::OK;
  }

  grpc::Status Shutdown(grpc::ServerContext*, const ps::ShutdownRequest*, ps::ShutdownResponse*) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!shutdown_) {
      LOOM_LOG(INFO) << "ps: the chief said training is over at global step " << global_step_;
      shutdown_ = true;
      shutdown_at_ = Clock::now();
    }
    told_done_.insert(0);  // the chief (replica 0) is the caller
    std::vector<Waiter> answered = AnswerWaiting();
    changed_.notify_all();
    lock.unlock();
    Finish(answered);
    return grpc::Status::OK;
  }

  grpc::Status Leave(grpc::ServerContext*, const ps::LeaveRequest* request, ps::LeaveResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    Told(request->replica());
    return grpc::Status::OK;
  }

  // Blocks until Shutdown has reached every replica, the grace period has passed, or Stop().
  void WaitForEnd(double grace_secs) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (stopped_) return;
      if (shutdown_) {
        const int replicas = initialized_ ? config_.num_replicas() : 1;
        if (static_cast<int>(told_done_.size()) >= replicas) return;
        const auto deadline = shutdown_at_ + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(grace_secs));
        if (Clock::now() >= deadline) {
          LOOM_LOG(WARNING) << "ps: " << replicas - static_cast<int>(told_done_.size())
                            << " replica(s) did not leave after the chief's shutdown; exiting";
          return;
        }
        changed_.wait_until(lock, deadline);
      } else {
        changed_.wait(lock);
      }
    }
  }

  void Stop() {
    std::unique_lock<std::mutex> lock(mu_);
    stopped_ = true;
    std::vector<Waiter> answered = AnswerWaiting();
    changed_.notify_all();
    lock.unlock();
    Finish(answered);
    StopShm();
  }

 private:
  // REQUIRES: mu_ held.
  bool Done() const {
    return shutdown_ || (initialized_ && config_.train_steps() > 0 && global_step_ >= config_.train_steps());
  }

  grpc::Status CheckReady(const std::string& layout) const {
    if (!initialized_)
      return Error(grpc::StatusCode::FAILED_PRECONDITION, "ps: not initialized yet (the chief initializes it)");
    if (layout != config_.layout())
      return Error(grpc::StatusCode::INVALID_ARGUMENT,
                   "ps holds a model with parameters " + config_.layout() + ", the caller's has " + layout);
    return grpc::Status::OK;
  }

  // The shard's variables now, as PushPull's answer.
  grpc::ByteBuffer Fill(bool applied) const { return wire::EncodeVariables(global_step_, w_.data(), w_.size(), Done(), applied); }

  // The answer to one push: `fill` writes it (mu_ held; `applied`: its gradient went into an
  // update), `finish` (may be empty) sends it once mu_ is released. A sync push waits as one
  // for the rest of its step's gradients.
  struct Waiter {
    int64_t step;
    std::function<void(bool applied)> fill;
    std::function<void()> finish;
  };
  // Fills in every waiting push's answer (applied if its step was); the caller Finishes them
  // after releasing mu_. REQUIRES: mu_ held.
  std::vector<Waiter> AnswerWaiting() {
    std::vector<Waiter> out;
    out.swap(waiting_);
    for (Waiter& w : out) w.fill(global_step_ != w.step);
    return out;
  }
  static void Finish(std::vector<Waiter>& answered) {
    for (Waiter& w : answered)
      if (w.finish) w.finish();
  }

  // One pushed gradient `g` (config_.size() floats, computed on the variables of global step
  // `step`), for PushPull and the shm data plane alike: async, it is applied at once; sync
  // (SyncReplicasOptimizer), it is added to this step's aggregate and the last one applies the
  // mean and answers everyone waiting for this step; a gradient computed on older variables is
  // dropped; after the end, nothing is applied. Returns the answers to Finish once mu_ is
  // released (this push's among them, unless it waits for its step).
  // REQUIRES: mu_ held, CheckReady passed.
  std::vector<Waiter> PushLocked(const float* g, int64_t step, Waiter waiter) {
    bool applied = false;
    std::vector<Waiter> answered;
    if (!Done()) {
      if (!config_.sync_replicas()) {
        Apply(g);
        applied = true;
      } else if (step == global_step_) {
        for (size_t i = 0; i < accum_.size(); ++i) accum_[i] += g[i];
        if (++accum_count_ < config_.replicas_to_aggregate()) {
          waiting_.push_back(std::move(waiter));
          return answered;  // answered when the step is applied (or training ends)
        }
        const float scale = 1.0f / static_cast<float>(accum_count_);
        for (float& a : accum_) a *= scale;
        Apply(accum_.data());
        std::fill(accum_.begin(), accum_.end(), 0.f);
        accum_count_ = 0;
        applied = true;
        answered = AnswerWaiting();
      }
      // else: computed on older variables: dropped, as SyncReplicasOptimizer drops stale gradients.
    }
    waiter.fill(applied);
    answered.push_back(std::move(waiter));
    return answered;
  }

  // A shared memory link's thread: every request of the worker goes through PushLocked; the
  // answer (the shard's variables) is written into the segment. Ends when the worker detaches
  // or dies, or on StopShm.
  void ServeShm(std::shared_ptr<shm::ShmPsEnd> end, const std::string& layout, int replica) {
    shm::Request request;
    shm::ShmPsEnd::Event event;
    const double cpu_start = ThreadCpuSecs();
    int64_t requests = 0;
    while ((event = end->WaitRequest(shm_stop_, kShmAttachSecs, &request)) == shm::ShmPsEnd::Event::kRequest) {
      ++requests;
      std::unique_lock<std::mutex> lock(mu_);
      grpc::Status status = CheckReady(layout);
      if (status.ok() && end->floats() != config_.size())
        status = Error(grpc::StatusCode::FAILED_PRECONDITION,
                       "ps: the shard now holds " + std::to_string(config_.size()) + " floats, the segment " +
                           std::to_string(end->floats()) + " (attach again)");
      if (!status.ok()) {
        lock.unlock();
        end->ReplyError(request.seq, FromGrpc(status));
        continue;
      }
      const uint32_t seq = request.seq;
      std::vector<Waiter> answered = PushLocked(
          request.gradients, request.step, Waiter{request.step, [this, end, seq](bool applied) {
            end->Reply(seq, shm::Reply{global_step_, Done(), applied}, w_.data());
          }, nullptr});
      lock.unlock();
      Finish(answered);
    }
    end->Close();
    if (event == shm::ShmPsEnd::Event::kGone)
      LOOM_LOG(INFO) << "ps: replica " << replica << "'s shared memory link ended (it left, died or never attached)";
    if (requests > 0)  // what serving this worker cost the ps (bench/distributed/run.sh adds it up)
      LOOM_LOG(INFO) << "ps: replica " << replica << "'s shared memory link: " << requests << " requests, "
                     << static_cast<int64_t>((ThreadCpuSecs() - cpu_start) * 1e6) << " us CPU";
  }

  void Told(int replica) {
    told_done_.insert(replica);
    changed_.notify_all();
  }

  // One optimizer update of the shard with gradient g; increments the global step.
  void Apply(const float* g) {
    const double lr = ScheduledLearningRate(config_.learning_rate(), config_.learning_rate_decay(),
                                            global_step_, config_.train_steps());
    ++optimizer_step_;
    nn::kernels::ScopedFlushDenormal flush;
    const int64_t n = static_cast<int64_t>(w_.size());
    if (config_.optimizer() == "adam") {
      const float lr_t = nn::AdamLearningRate(lr, config_.beta1(), config_.beta2(), optimizer_step_);
      nn::AdamUpdate(w_.data(), g, m_.data(), v_.data(), n, lr_t, static_cast<float>(config_.beta1()),
                     static_cast<float>(config_.beta2()), static_cast<float>(config_.epsilon()));
    } else {
      nn::MomentumUpdate(w_.data(), g, m_.data(), n, static_cast<float>(lr), static_cast<float>(config_.momentum()));
    }
    ++global_step_;
  }

  std::mutex mu_;
  std::condition_variable changed_;
  bool initialized_ = false;
  ps::ShardConfig config_;
  std::vector<float> w_, m_, v_;    // variables and slots of the shard
  std::vector<float> accum_;        // sync: the sum of this step's gradients
  int accum_count_ = 0;
  int64_t global_step_ = 0;
  int64_t optimizer_step_ = 0;
  bool shutdown_ = false;
  Clock::time_point shutdown_at_;
  std::set<int> told_done_;
  bool stopped_ = false;
  std::vector<Waiter> waiting_;     // sync: pushes of the current step not yet answered

  // The shm data plane: one thread per attached worker.
  static constexpr double kShmAttachSecs = 5;  // unlink a segment nobody attached to by then
  struct ShmLink {
    std::shared_ptr<shm::ShmPsEnd> end;
    std::thread thread;
    std::atomic<bool> finished{false};
  };
  std::mutex links_mu_;  // guards links_; taken before mu_, never inside it
  std::list<std::unique_ptr<ShmLink>> links_;
  std::atomic<bool> shm_stop_{false};
};

struct ParameterServer::Impl {
  ParameterServerOptions options;
  Service service;
  std::unique_ptr<grpc::Server> server;
};

StatusOr<std::unique_ptr<ParameterServer>> ParameterServer::Create(const ParameterServerOptions& options) {
  LOOM_RETURN_IF_ERROR(CheckBindable(options.address));
  std::unique_ptr<ParameterServer> ps(new ParameterServer());
  ps->impl_ = std::make_unique<Impl>();
  ps->impl_->options = options;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(), &ps->port_);
  builder.RegisterService(&ps->impl_->service);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a port in use is an error, not shared
  builder.SetMaxReceiveMessageSize(1 << 30);
  builder.SetMaxSendMessageSize(1 << 30);
  ps->impl_->server = builder.BuildAndStart();
  if (!ps->impl_->server || ps->port_ == 0)
    return Unavailable(options.address + ": cannot serve the ps there (address in use or not this host's)");
  return ps;
}

ParameterServer::~ParameterServer() {
  if (impl_ && impl_->server) {
    impl_->service.Stop();
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
}

void ParameterServer::Wait() {
  impl_->service.WaitForEnd(impl_->options.shutdown_grace_secs);
  // Sync pushes still waiting are woken by Stop(); give in-flight calls a moment to answer.
  impl_->service.Stop();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  // What the ps cost, start to end (bench/distributed/run.sh adds it to the workers' CPU).
  LOOM_LOG(INFO) << "ps: done; " << static_cast<int64_t>(ProcessCpuSecs() * 1e6) << " us CPU (this process)";
}

void ParameterServer::Stop() { impl_->service.Stop(); }

int ParameterServer::shm_links() const { return impl_->service.ShmLinks(); }

}  // namespace loom::train

namespace loom::train {

std::string RpcLibraryVersion() {
  return grpc::Version();
}

}  // namespace loom::train

namespace loom::train {

std::string ProtobufLibraryVersion() {
  return google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION);
}

}  // namespace loom::train
