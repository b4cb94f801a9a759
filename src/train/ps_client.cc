#include "train/ps_client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "core/logging.h"
#include "ps/ps.grpc.pb.h"
#include "train/ps_shm.h"
#include "train/ps_wire.h"

namespace loom::train {
namespace {

using Clock = std::chrono::steady_clock;

// Calls fn(parameter, offset in the parameter, count, offset in the range) for each piece of
// the flat range [begin, begin + size) that lies in one parameter.
template <typename Fn>
void ForRange(std::vector<nn::Parameter>& params, int64_t begin, int64_t size, Fn fn) {
  int64_t offset = 0;  // of the current parameter in the flat vector
  const int64_t end = begin + size;
  for (nn::Parameter& p : params) {
    const int64_t n = p.value.size();
    const int64_t lo = std::max(begin, offset), hi = std::min(end, offset + n);
    if (lo < hi) fn(p, lo - offset, hi - lo, lo - begin);
    offset += n;
    if (offset >= end) break;
  }
}

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::FAILED_PRECONDITION;
}

}  // namespace

StatusOr<PsTransport> ParsePsTransport(const std::string& name) {
  if (name == "auto") return PsTransport::kAuto;
  if (name == "grpc") return PsTransport::kGrpc;
  if (name == "shm") return PsTransport::kShm;
  return InvalidArgument("--ps_transport: \"" + name + "\" is not auto, grpc or shm");
}

void KeepLargeBuffersInHeap() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

std::vector<ShardRange> PartitionEvenly(int64_t total, int num_shards) {
  std::vector<ShardRange> shards(static_cast<size_t>(num_shards));
  int64_t begin = 0;
  for (int i = 0; i < num_shards; ++i) {
    const int64_t size = total / num_shards + (i < total % num_shards ? 1 : 0);
    shards[static_cast<size_t>(i)] = {begin, size};
    begin += size;
  }
  return shards;
}

std::string ParameterLayout(const std::vector<nn::Parameter>& params) {
  std::string out;
  for (const nn::Parameter& p : params) {
    if (!out.empty()) out += ",";
    out += p.name + ":";
    for (size_t i = 0; i < p.value.shape().size(); ++i)
      out += (i ? "x" : "") + std::to_string(p.value.shape()[i]);
  }
  return out;
}

struct PsClient::Impl {
  PsClientOptions options;
  std::vector<std::unique_ptr<ps::ParameterServer::Stub>> stubs;
  // PushPull goes raw (ps_wire.h): gradients straight from the tensors, variables straight in.
  std::vector<std::unique_ptr<grpc::GenericStub>> raw_stubs;
  std::vector<ps::Variables> variables;  // Pull's answers
  std::vector<int64_t> steps;  // each ps task's global step of the variables last received
  // The shm data plane, per ps task: whether to use it, the attached segment, and whether the
  // ps could not give one (auto: gRPC from then on).
  std::vector<bool> want_shm, shm_off;
  std::vector<std::unique_ptr<shm::ShmWorkerEnd>> links;
  ReinitHandler reinit;
  bool in_reinit = false;

  // StartPushPull/FinishPushPull: the round trip runs on `helper` from flat copies of the
  // gradients (`sent`) into `received`, while the caller computes with the parameters.
  std::vector<float> sent, received;
  std::thread helper;
  std::mutex mu;
  std::condition_variable cv;
  bool posted = false, finished = true, quit = false;
  StatusOr<StepResult> outcome = StepResult{};

  bool Idle() {
    std::lock_guard<std::mutex> lock(mu);
    return finished;
  }

  ~Impl() {
    if (helper.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu);
        quit = true;
      }
      cv.notify_all();
      helper.join();
    }
  }

  // One PushPull to every ps task: shard i's gradients from grads[i], its variables into
  // values[i] (each a list of pieces covering the shard in order). Through shared memory where
  // a segment is attached (attaching it first when wanted), else, or when that fails, gRPC.
  StatusOr<StepResult> PushPull(const std::string& layout, const std::vector<ShardRange>& shards,
                                const std::vector<std::vector<wire::Chunk>>& grads,
                                const std::vector<std::vector<wire::Chunk>>& values);
  // PushPull over gRPC to the ps tasks marked in `which`; their results go into `result`.
  Status GrpcPushPull(const std::string& layout, const std::vector<ShardRange>& shards,
                      const std::vector<std::vector<wire::Chunk>>& grads,
                      const std::vector<std::vector<wire::Chunk>>& values, const std::vector<bool>& which,
                      StepResult* result);
  // Asks ps task i for a segment and maps it. A ps not reachable or initialized yet is no
  // error (the step goes through gRPC, which waits; the next one attaches); a ps that cannot
  // give one turns shared memory off for it (auto) or is an error (kShm).
  Status Attach(size_t i, const std::string& layout, const ShardRange& shard);
  void Merge(size_t i, int64_t global_step, bool done, bool applied, StepResult* result) {
    if (i == 0) result->global_step = global_step;
    steps[i] = global_step;
    result->done = result->done || done;
    result->applied = result->applied && applied;
  }

  std::string Name(size_t i) const {
    return "ps " + std::to_string(i) + " (" + options.ps_addresses[i] + ")";
  }

  // Starts start(i, context, done) for every ps task at once and waits for all; a task whose
  // call fails with a retryable code (unreachable, not initialized) is called again after a
  // backoff, until wait_secs pass without its success. `retry_uninitialized` false makes
  // FAILED_PRECONDITION final.
  using Start = std::function<void(size_t, grpc::ClientContext*, std::function<void(grpc::Status)>)>;
  Status CallAll(const char* what, const Start& start, bool retry_uninitialized = true) {
    const size_t n = stubs.size();
    std::vector<bool> pending(n, true);
    std::vector<grpc::Status> results(n);
    double backoff = 0.05;
    const auto give_up = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(options.wait_secs));
    bool logged = false;
    for (;;) {
      std::mutex mu;
      std::condition_variable cv;
      size_t outstanding = 0;
      std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
      for (size_t i = 0; i < n; ++i) {
        if (!pending[i]) continue;
        contexts[i] = std::make_unique<grpc::ClientContext>();
        ++outstanding;
      }
      for (size_t i = 0; i < n; ++i) {
        if (!pending[i]) continue;
        start(i, contexts[i].get(), [&, i](grpc::Status s) {
          std::lock_guard<std::mutex> lock(mu);
          results[i] = std::move(s);
          if (--outstanding == 0) cv.notify_all();
        });
      }
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return outstanding == 0; });
      }
      bool again = false;
      for (size_t i = 0; i < n; ++i) {
        if (!pending[i]) continue;
        const grpc::Status& s = results[i];
        if (s.ok()) {
          pending[i] = false;
          continue;
        }
        const bool uninitialized = s.error_code() == grpc::StatusCode::FAILED_PRECONDITION;
        const bool retry = s.error_code() == grpc::StatusCode::UNAVAILABLE || (retry_uninitialized && uninitialized);
        if (!retry) return Internal(Name(i) + ": " + what + ": " + s.error_message());
        if (uninitialized && reinit && !in_reinit) {
          LOOM_LOG(WARNING) << Name(i) << " is not initialized (restarted?); initializing it again";
          in_reinit = true;
          Status st = reinit(i);
          in_reinit = false;
          LOOM_RETURN_IF_ERROR(st.WithPrefix(Name(i) + ": re-initializing"));
          again = true;
          continue;
        }
        if (Clock::now() >= give_up)
          return Unavailable(Name(i) + ": " + what + ": no answer in " +
                             std::to_string(static_cast<int>(options.wait_secs)) + " s: " + s.error_message());
        if (!logged) {
          LOOM_LOG(INFO) << Name(i) << ": " << what << ": " << s.error_message() << "; retrying";
          logged = true;
        }
        again = true;
      }
      if (!again) return OkStatus();
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
      backoff = std::min(backoff * 2, options.max_backoff_secs);
    }
  }
};

StatusOr<std::unique_ptr<PsClient>> PsClient::Create(const PsClientOptions& options,
                                                     const std::vector<nn::Parameter>& params) {
  if (options.ps_addresses.empty()) return InvalidArgument("ps client: no ps task addresses");
  for (size_t i = 0; i < options.ps_addresses.size(); ++i)
    if (options.transport == PsTransport::kShm && !shm::IsLoopbackAddress(options.ps_addresses[i]))
      return InvalidArgument("--ps_transport=shm: ps task " + std::to_string(i) + "'s address " +
                             options.ps_addresses[i] +
                             " is not a loopback address (127.0.0.0/8, ::1, localhost); shared memory is for a "
                             "ps on this host: use --ps_transport=auto or grpc");
  std::unique_ptr<PsClient> client(new PsClient());
  client->impl_ = std::make_unique<Impl>();
  client->impl_->options = options;
  for (const nn::Parameter& p : params) client->total_ += p.value.size();
  client->shards_ = PartitionEvenly(client->total_, static_cast<int>(options.ps_addresses.size()));
  client->layout_ = ParameterLayout(params);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(1 << 30);
  args.SetMaxSendMessageSize(1 << 30);
  // Reconnect quickly when a ps task comes (back) up: our own backoff paces the retries.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  for (const std::string& address : options.ps_addresses) {
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    client->impl_->stubs.push_back(ps::ParameterServer::NewStub(channel));
    client->impl_->raw_stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  }
  const size_t n = options.ps_addresses.size();
  client->impl_->variables.resize(n);
  client->impl_->steps.assign(n, 0);
  client->impl_->shm_off.assign(n, false);
  client->impl_->links.resize(n);
  for (const std::string& address : options.ps_addresses)
    client->impl_->want_shm.push_back(options.transport != PsTransport::kGrpc && shm::IsLoopbackAddress(address));
  return client;
}

// The helper thread uses shards_ and layout_: it is joined (impl_ first) before they go.
PsClient::~PsClient() { impl_.reset(); }

StatusOr<bool> PsClient::WaitReachable() {
  std::vector<ps::StateRequest> requests(shards_.size());
  std::vector<ps::StateResponse> responses(shards_.size());
  LOOM_RETURN_IF_ERROR(impl_->CallAll("GetState", [&](size_t i, grpc::ClientContext* ctx, auto done) {
    impl_->stubs[i]->async()->GetState(ctx, &requests[i], &responses[i], std::move(done));
  }));
  bool all = true;
  for (size_t i = 0; i < responses.size(); ++i) {
    if (!responses[i].initialized()) {
      all = false;
      continue;
    }
    if (responses[i].config().layout() != layout_)
      return FailedPrecondition(impl_->Name(i) + " holds a model with parameters " +
                                responses[i].config().layout() + ", this task's has " + layout_);
  }
  return all;
}

Status PsClient::Init(const PsTrainingConfig& config, int64_t global_step, const std::vector<float>& variables,
                      const std::vector<float>& slot0, const std::vector<float>& slot1) {
  for (size_t i = 0; i < shards_.size(); ++i)
    LOOM_RETURN_IF_ERROR(InitShard(i, config, global_step, variables, slot0, slot1));
  return OkStatus();
}

Status PsClient::InitShard(size_t shard, const PsTrainingConfig& config, int64_t global_step,
                           const std::vector<float>& variables, const std::vector<float>& slot0,
                           const std::vector<float>& slot1) {
  if (static_cast<int64_t>(variables.size()) != total_ ||
      (!slot0.empty() && static_cast<int64_t>(slot0.size()) != total_) ||
      (!slot1.empty() && static_cast<int64_t>(slot1.size()) != total_))
    return InvalidArgument("ps Init: buffers must hold " + std::to_string(total_) + " floats");
  const ShardRange range = shards_.at(shard);
  auto bytes = [&](const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data() + range.begin), static_cast<size_t>(range.size) * sizeof(float));
  };
  ps::InitRequest request;
  ps::InitResponse response;
  ps::ShardConfig* c = request.mutable_config();
  c->set_begin(range.begin);
  c->set_size(range.size);
  c->set_total(total_);
  c->set_layout(layout_);
  c->set_optimizer(config.optimizer.type);
  c->set_learning_rate(config.optimizer.learning_rate);
  c->set_beta1(config.optimizer.beta1);
  c->set_beta2(config.optimizer.beta2);
  c->set_epsilon(config.optimizer.epsilon);
  c->set_momentum(config.optimizer.momentum);
  c->set_learning_rate_decay(config.learning_rate_decay);
  c->set_train_steps(config.train_steps);
  c->set_sync_replicas(config.sync_replicas);
  c->set_replicas_to_aggregate(config.replicas_to_aggregate);
  c->set_num_replicas(config.num_replicas);
  request.set_global_step(global_step);
  request.set_variables(bytes(variables));
  if (!slot0.empty()) request.set_slot0(bytes(slot0));
  if (!slot1.empty()) request.set_slot1(bytes(slot1));
  return impl_->CallAll("Init", [&](size_t i, grpc::ClientContext* ctx, auto done) {
    if (i != shard) return done(grpc::Status::OK);
    impl_->stubs[i]->async()->Init(ctx, &request, &response, std::move(done));
  });
}

void PsClient::set_reinit_handler(ReinitHandler handler) { impl_->reinit = std::move(handler); }

namespace {

// Copies each shard's variables into the parameters and sums up the step results.
Status TakeVariables(std::vector<nn::Parameter>& params, const std::vector<ShardRange>& shards,
                     const std::vector<ps::Variables>& responses, std::vector<int64_t>* steps,
                     PsClient::StepResult* result) {
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string& bytes = responses[i].variables();
    if (bytes.size() != static_cast<size_t>(shards[i].size) * sizeof(float))
      return DataLoss("ps " + std::to_string(i) + ": sent " + std::to_string(bytes.size()) +
                      " bytes of variables, expected " + std::to_string(shards[i].size * 4));
    const float* src = reinterpret_cast<const float*>(bytes.data());
    ForRange(params, shards[i].begin, shards[i].size, [&](nn::Parameter& p, int64_t at, int64_t count, int64_t from) {
      std::memcpy(p.value.data() + at, src + from, static_cast<size_t>(count) * sizeof(float));
    });
    if (i == 0) result->global_step = responses[i].global_step();
    (*steps)[i] = responses[i].global_step();
    result->done = result->done || responses[i].done();
    result->applied = result->applied && responses[i].applied();
  }
  return OkStatus();
}

}  // namespace

StatusOr<PsClient::StepResult> PsClient::Pull(std::vector<nn::Parameter>& params) {
  const size_t n = shards_.size();
  std::vector<ps::PullRequest> requests(n);
  for (auto& r : requests) r.set_layout(layout_);
  LOOM_RETURN_IF_ERROR(impl_->CallAll("Pull", [&](size_t i, grpc::ClientContext* ctx, auto done) {
    impl_->stubs[i]->async()->Pull(ctx, &requests[i], &impl_->variables[i], std::move(done));
  }));
  StepResult result;
  LOOM_RETURN_IF_ERROR(TakeVariables(params, shards_, impl_->variables, &impl_->steps, &result));
  result.applied = false;
  return result;
}

Status PsClient::Impl::Attach(size_t i, const std::string& layout, const ShardRange& shard) {
  ps::AttachShmRequest request;
  ps::AttachShmResponse response;
  request.set_layout(layout);
  request.set_replica(options.replica);
  request.set_pid(static_cast<int32_t>(getpid()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  const grpc::Status s = stubs[i]->AttachShm(&ctx, request, &response);
  Status failed;
  if (!s.ok()) {
    if (Retryable(s.error_code()) || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return OkStatus();
    failed = Internal(Name(i) + ": AttachShm: " + s.error_message());
  } else if (response.floats() != shard.size) {
    failed = DataLoss(Name(i) + ": AttachShm: a segment of " + std::to_string(response.floats()) +
                      " floats for a shard of " + std::to_string(shard.size));
  } else {
    StatusOr<std::unique_ptr<shm::ShmWorkerEnd>> link =
        shm::ShmWorkerEnd::Open(response.name(), static_cast<size_t>(response.bytes()), response.floats());
    if (link.ok()) {
      links[i] = std::move(*link);
      LOOM_LOG(INFO) << Name(i) << ": steps go through shared memory (ps pid " << links[i]->ps_pid() << ")";
      return OkStatus();
    }
    failed = link.status().WithPrefix(Name(i));
  }
  if (options.transport == PsTransport::kShm) return failed.WithPrefix("--ps_transport=shm");
  LOOM_LOG(WARNING) << failed.ToString() << "; this ps task's steps go through gRPC";
  shm_off[i] = true;
  return OkStatus();
}

StatusOr<PsClient::StepResult> PsClient::Impl::PushPull(const std::string& layout,
                                                        const std::vector<ShardRange>& shards,
                                                        const std::vector<std::vector<wire::Chunk>>& grads,
                                                        const std::vector<std::vector<wire::Chunk>>& values) {
  const size_t n = shards.size();
  std::vector<bool> grpc(n, false), fallback(n, false);  // grpc: not sent through shared memory
  for (size_t i = 0; i < n; ++i)
    if (want_shm[i] && !shm_off[i] && !links[i]) LOOM_RETURN_IF_ERROR(Attach(i, layout, shards[i]));
  for (size_t i = 0; i < n; ++i) {
    if (links[i]) {
      links[i]->Send(options.replica, steps[i], grads[i]);
    } else {
      grpc[i] = true;
    }
  }
  StepResult result;
  if (std::find(grpc.begin(), grpc.end(), true) != grpc.end())
    LOOM_RETURN_IF_ERROR(GrpcPushPull(layout, shards, grads, values, grpc, &result));
  bool any_fallback = false;
  for (size_t i = 0; i < n; ++i) {
    if (grpc[i]) continue;
    StatusOr<shm::Reply> reply = links[i]->Receive(values[i], options.wait_secs);
    if (!reply.ok() && reply.status().code() == StatusCode::kDeadlineExceeded)
      return reply.status().WithPrefix(Name(i));  // alive but silent: a second push could count twice
    if (!reply.ok()) {
      // The ps died or was restarted (or refused): this step through gRPC, whose retries wait
      // for it; the next step attaches to the new one.
      LOOM_LOG(WARNING) << Name(i) << ": shared memory: " << reply.status().ToString() << "; retrying through gRPC";
      links[i].reset();
      fallback[i] = any_fallback = true;
      continue;
    }
    Merge(i, reply->global_step, reply->done, reply->applied, &result);
  }
  if (any_fallback) LOOM_RETURN_IF_ERROR(GrpcPushPull(layout, shards, grads, values, fallback, &result));
  return result;
}

Status PsClient::Impl::GrpcPushPull(const std::string& layout, const std::vector<ShardRange>& shards,
                                    const std::vector<std::vector<wire::Chunk>>& grads,
                                    const std::vector<std::vector<wire::Chunk>>& values, const std::vector<bool>& which,
                                    StepResult* result) {
  const size_t n = shards.size();
  std::vector<grpc::ByteBuffer> requests(n), responses(n);
  LOOM_RETURN_IF_ERROR(CallAll("PushPull", [&](size_t i, grpc::ClientContext* ctx, auto done) {
    if (!which[i]) return done(grpc::Status::OK);
    requests[i] = wire::EncodePushRequest(layout, options.replica, steps[i], grads[i]);
    raw_stubs[i]->UnaryCall(ctx, "/loom.ps.ParameterServer/PushPull", grpc::StubOptions(), &requests[i],
                            &responses[i], std::move(done));
  }));
  for (size_t i = 0; i < n; ++i) {
    if (!which[i]) continue;
    const size_t expected = static_cast<size_t>(shards[i].size) * sizeof(float);
    // Copies the field's bytes into the pieces; never past the shard.
    size_t piece = 0, piece_start = 0;
    auto sink = [&](size_t offset, const char* data, size_t size) {
      while (size > 0 && offset < expected) {
        while (offset >= piece_start + values[i][piece].size) piece_start += values[i][piece++].size;
        const size_t within = offset - piece_start;
        const size_t take = std::min(size, values[i][piece].size - within);
        std::memcpy(const_cast<char*>(values[i][piece].data) + within, data, take);
        offset += take;
        data += take;
        size -= take;
      }
    };
    wire::VariablesFields fields;
    LOOM_RETURN_IF_ERROR(wire::DecodeVariables(responses[i], &fields, sink).WithPrefix(Name(i)));
    if (fields.variable_bytes != expected)
      return DataLoss(Name(i) + ": sent " + std::to_string(fields.variable_bytes) + " bytes of variables, expected " +
                      std::to_string(expected));
    Merge(i, fields.global_step, fields.done, fields.applied, result);
  }
  return OkStatus();
}

namespace {

// Zero copy: moves the parameters' values and gradients into the segment's variable and
// gradient regions (the shard is the whole model, in the same order), once per segment; a
// tensor replaced since (a restore) is moved again. The views keep the mapping alive, so a
// link dropped after a fault leaves them valid (gRPC then writes into them as into any tensor)
// until the next segment takes them.
void KeepInSegment(std::vector<nn::Parameter>& params, const shm::ShmWorkerEnd& link) {
  int64_t offset = 0;
  for (const nn::Parameter& p : params) offset += p.value.size();
  if (offset != link.floats()) return;  // not the whole model: copies as usual
  std::shared_ptr<void> mapping;
  // Moves `t` to `at` in the segment unless it lives there already.
  auto keep_at = [&](nn::Tensor& t, float* at) {
    if (t.data() == at) return;
    if (!mapping) mapping = link.mapping();
    std::memcpy(at, t.data(), static_cast<size_t>(t.size()) * sizeof(float));
    t = nn::Tensor::View(t.shape(), at, mapping);
  };
  offset = 0;
  for (nn::Parameter& p : params) {
    keep_at(p.value, link.variables() + offset);
    keep_at(p.grad, link.gradients() + offset);
    offset += p.value.size();
  }
}

// Gives every parameter its own memory again (a copy of the view's).
void KeepInHeap(std::vector<nn::Parameter>& params) {
  for (nn::Parameter& p : params) {
    if (!p.value.owns_data()) p.value = nn::Tensor(p.value);
    if (!p.grad.owns_data()) p.grad = nn::Tensor(p.grad);
  }
}

}  // namespace

StatusOr<PsClient::StepResult> PsClient::PushPull(std::vector<nn::Parameter>& params) {
  if (!impl_->Idle()) return FailedPrecondition("PushPull while a StartPushPull is not finished");
  // Safe here: the ps touches the segment only between Send and Receive, inside this call.
  if (impl_->options.zero_copy && shards_.size() == 1 && impl_->links[0]) KeepInSegment(params, *impl_->links[0]);
  // Per ps task: its gradients as pieces of the tensors, and where its variables go.
  const size_t n = shards_.size();
  std::vector<std::vector<wire::Chunk>> grads(n), values(n);
  for (size_t i = 0; i < n; ++i) {
    ForRange(params, shards_[i].begin, shards_[i].size, [&](nn::Parameter& p, int64_t at, int64_t count, int64_t) {
      const size_t bytes = static_cast<size_t>(count) * sizeof(float);
      grads[i].push_back({reinterpret_cast<const char*>(p.grad.data() + at), bytes});
      values[i].push_back({reinterpret_cast<const char*>(p.value.data() + at), bytes});
    });
  }
  return impl_->PushPull(layout_, shards_, grads, values);
}

Status PsClient::StartPushPull(std::vector<nn::Parameter>& params) {
  Impl& s = *impl_;
  if (!s.Idle()) return FailedPrecondition("StartPushPull while the previous one is not finished");
  // The round trip runs while the caller computes: the ps must not write into its tensors.
  KeepInHeap(params);
  s.sent.resize(static_cast<size_t>(total_));
  s.received.resize(static_cast<size_t>(total_));
  int64_t offset = 0;
  for (const nn::Parameter& p : params) {
    std::memcpy(s.sent.data() + offset, p.grad.data(), static_cast<size_t>(p.grad.size()) * sizeof(float));
    offset += p.grad.size();
  }
  if (!s.helper.joinable()) {
    s.helper = std::thread([this] {
      Impl& h = *impl_;
      const size_t n = shards_.size();
      std::vector<std::vector<wire::Chunk>> grads(n), values(n);
      for (size_t i = 0; i < n; ++i) {
        const size_t bytes = static_cast<size_t>(shards_[i].size) * sizeof(float);
        grads[i] = {{reinterpret_cast<const char*>(h.sent.data() + shards_[i].begin), bytes}};
        values[i] = {{reinterpret_cast<const char*>(h.received.data() + shards_[i].begin), bytes}};
      }
      std::unique_lock<std::mutex> lock(h.mu);
      for (;;) {
        h.cv.wait(lock, [&] { return h.posted || h.quit; });
        if (h.quit) return;
        h.posted = false;
        lock.unlock();
        StatusOr<StepResult> outcome = h.PushPull(layout_, shards_, grads, values);
        lock.lock();
        h.outcome = std::move(outcome);
        h.finished = true;
        h.cv.notify_all();
      }
    });
  }
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.finished = false;
    s.posted = true;
  }
  s.cv.notify_all();
  return OkStatus();
}

StatusOr<PsClient::StepResult> PsClient::FinishPushPull(std::vector<nn::Parameter>& params) {
  Impl& s = *impl_;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.cv.wait(lock, [&] { return s.finished; });
  }
  LOOM_RETURN_IF_ERROR(s.outcome.status());
  int64_t offset = 0;
  for (nn::Parameter& p : params) {
    std::memcpy(p.value.data(), s.received.data() + offset, static_cast<size_t>(p.value.size()) * sizeof(float));
    offset += p.value.size();
  }
  return *s.outcome;
}

StatusOr<PsSnapshot> PsClient::Snapshot() {
  const size_t n = shards_.size();
  std::vector<ps::SnapshotRequest> requests(n);
  std::vector<ps::SnapshotResponse> responses(n);
  LOOM_RETURN_IF_ERROR(impl_->CallAll("Snapshot", [&](size_t i, grpc::ClientContext* ctx, auto done) {
    impl_->stubs[i]->async()->Snapshot(ctx, &requests[i], &responses[i], std::move(done));
  }));
  PsSnapshot out;
  out.global_step = responses[0].global_step();
  out.optimizer_step = responses[0].optimizer_step();
  const bool has_slot1 = !responses[0].slot1().empty();
  out.variables.resize(static_cast<size_t>(total_));
  out.slot0.resize(static_cast<size_t>(total_));
  if (has_slot1) out.slot1.resize(static_cast<size_t>(total_));
  for (size_t i = 0; i < n; ++i) {
    const size_t bytes = static_cast<size_t>(shards_[i].size) * sizeof(float);
    const ps::SnapshotResponse& r = responses[i];
    if (r.variables().size() != bytes || r.slot0().size() != bytes || (has_slot1 && r.slot1().size() != bytes))
      return DataLoss(impl_->Name(i) + ": Snapshot: wrong number of bytes");
    std::memcpy(out.variables.data() + shards_[i].begin, r.variables().data(), bytes);
    std::memcpy(out.slot0.data() + shards_[i].begin, r.slot0().data(), bytes);
    if (has_slot1) std::memcpy(out.slot1.data() + shards_[i].begin, r.slot1().data(), bytes);
  }
  return out;
}

Status PsClient::Shutdown() {
  const size_t n = shards_.size();
  std::vector<ps::ShutdownRequest> requests(n);
  std::vector<ps::ShutdownResponse> responses(n);
  for (size_t i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s = impl_->stubs[i]->Shutdown(&ctx, requests[i], &responses[i]);
    if (!s.ok() && s.error_code() != grpc::StatusCode::UNAVAILABLE)
      return Internal(impl_->Name(i) + ": Shutdown: " + s.error_message());
  }
  return OkStatus();
}

Status PsClient::Leave() {
  for (size_t i = 0; i < shards_.size(); ++i) {
    ps::LeaveRequest request;
    ps::LeaveResponse response;
    request.set_replica(impl_->options.replica);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s = impl_->stubs[i]->Leave(&ctx, request, &response);
    if (!s.ok() && s.error_code() != grpc::StatusCode::UNAVAILABLE &&
        s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED)
      return Internal(impl_->Name(i) + ": Leave: " + s.error_message());
  }
  return OkStatus();
}

}  // namespace loom::train
