#include "serving/grpc_server.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tfserving/serving_apis.grpc.pb.h"

namespace loom::serving {
namespace {

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(ErrorCodeOf(s)), s.message());
}

// A tag on a completion queue: a call that goes on when its last operation completed.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void Proceed(bool ok) = 0;
};

}  // namespace

// The services, their completion queues (one per thread) and the calls in flight.
struct GrpcServer::Impl {
  explicit Impl(const GrpcApi* api) : api(api) {}

  const GrpcApi* api;
  tfs::PredictionService::AsyncService prediction;
  tfs::ModelService::AsyncService model;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  std::vector<std::thread> threads;
  std::atomic<int64_t> active{0};  // calls taken and not yet finished
  // Held while a new call is asked for, so that no queue is shut down under it.
  std::mutex mu;
  bool stopping = false;
};

namespace {

// One unary call of a method: asked for on a queue, handled once it arrives (the answer may
// come later from another thread: a batched predict), then freed once the answer is sent. Each
// arrival asks for the next call of the same method on the same queue.
template <typename Service, typename Request, typename Response>
class UnaryCall : public Tag {
 public:
  using RequestMethod = void (Service::*)(grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
                                          grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  // Handles a request: fills *response and calls done(status) exactly once, now or later.
  using Handler = std::function<void(const Request&, Response*, std::function<void(Status)>)>;
  struct Method {
    Service* service;
    RequestMethod request;
    Handler handler;
  };

  // Asks for a call of `method` on cq (which must not be shut down yet).
  static void Ask(GrpcServer::Impl* impl, const Method* method, grpc::ServerCompletionQueue* cq) {
    auto* call = new UnaryCall(impl, method, cq);
    (method->service->*method->request)(&call->context_, &call->request_, &call->responder_, cq, cq, call);
  }

  void Proceed(bool ok) override {
    if (answered_ || !ok) {  // the answer went out, or the server is stopping
      if (answered_) impl_->active.fetch_sub(1);
      delete this;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      if (!impl_->stopping) Ask(impl_, method_, cq_);
    }
    impl_->active.fetch_add(1);
    answered_ = true;
    method_->handler(request_, &response_, [this](Status s) {
      if (s.ok()) {
        responder_.Finish(response_, grpc::Status::OK, this);
      } else {
        responder_.FinishWithError(ToGrpc(s), this);
      }
    });
  }

 private:
  UnaryCall(GrpcServer::Impl* impl, const Method* method, grpc::ServerCompletionQueue* cq)
      : impl_(impl), method_(method), cq_(cq), responder_(&context_) {}

  GrpcServer::Impl* impl_;
  const Method* method_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  Request request_;
  Response response_;
  grpc::ServerAsyncResponseWriter<Response> responder_;
  bool answered_ = false;  // the handler ran: the next completion is the answer's
};

using PredictCall = UnaryCall<tfs::PredictionService::AsyncService, tfs::PredictRequest, tfs::PredictResponse>;
using MetadataCall = UnaryCall<tfs::PredictionService::AsyncService, tfs::GetModelMetadataRequest,
                               tfs::GetModelMetadataResponse>;
using ClassifyCall = UnaryCall<tfs::PredictionService::AsyncService, tfs::ClassificationRequest,
                               tfs::ClassificationResponse>;
using RegressCall = UnaryCall<tfs::PredictionService::AsyncService, tfs::RegressionRequest, tfs::RegressionResponse>;
using StatusCall = UnaryCall<tfs::ModelService::AsyncService, tfs::GetModelStatusRequest, tfs::GetModelStatusResponse>;

// The methods, each with its handler on the GrpcApi.
struct Methods {
  explicit Methods(GrpcServer::Impl* impl) {
    const GrpcApi* api = impl->api;
    auto* prediction = &impl->prediction;
    predict = {prediction, &tfs::PredictionService::AsyncService::RequestPredict,
               [api](const tfs::PredictRequest& r, tfs::PredictResponse* out, std::function<void(Status)> done) {
                 api->Predict(r, out, std::move(done));
               }};
    metadata = {prediction, &tfs::PredictionService::AsyncService::RequestGetModelMetadata,
                [api](const tfs::GetModelMetadataRequest& r, tfs::GetModelMetadataResponse* out,
                      std::function<void(Status)> done) { done(api->GetModelMetadata(r, out)); }};
    classify = {prediction, &tfs::PredictionService::AsyncService::RequestClassify,
                [api](const tfs::ClassificationRequest& r, tfs::ClassificationResponse*,
                      std::function<void(Status)> done) { done(api->Classify(r)); }};
    regress = {prediction, &tfs::PredictionService::AsyncService::RequestRegress,
               [api](const tfs::RegressionRequest& r, tfs::RegressionResponse*, std::function<void(Status)> done) {
                 done(api->Regress(r));
               }};
    status = {&impl->model, &tfs::ModelService::AsyncService::RequestGetModelStatus,
              [api](const tfs::GetModelStatusRequest& r, tfs::GetModelStatusResponse* out,
                    std::function<void(Status)> done) { done(api->GetModelStatus(r, out)); }};
  }
  PredictCall::Method predict;
  MetadataCall::Method metadata;
  ClassifyCall::Method classify;
  RegressCall::Method regress;
  StatusCall::Method status;
};

}  // namespace

struct GrpcServer::Handlers : Methods {
  using Methods::Methods;
};

StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options, const GrpcApi* api) {
  if (options.port < 0 && options.socket_path.empty())
    return InvalidArgument("at least one of a gRPC port or a gRPC socket path must be set");
  // Debian's Abseil checks every mutex acquisition for lock-order cycles (a debug aid); gRPC
  // takes several mutexes per call, and the check cost 5% of the server's CPU under perf.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::unique_ptr<GrpcServer> server(new GrpcServer);
  server->impl_ = std::make_unique<Impl>(api);
  Impl* impl = server->impl_.get();
  grpc::ServerBuilder builder;
  const std::string address = (options.address.find(':') != std::string::npos ? "[" + options.address + "]"
                                                                                 : options.address) +
                              ":" + std::to_string(options.port);
  int bound = 0;
  if (options.port >= 0) builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound);
  if (!options.socket_path.empty())
    builder.AddListeningPort("unix:" + options.socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(&impl->prediction);
  builder.RegisterService(&impl->model);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(options.max_message_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(INT32_MAX);
  // Channelz (gRPC's introspection, which Loom does not serve) counts every call: 10% of the
  // server's CPU per predict here.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_CHANNELZ, 0);
  const int threads = options.num_threads > 0 ? options.num_threads
                                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int t = 0; t < threads; ++t) impl->cqs.push_back(builder.AddCompletionQueue());
  server->server_ = builder.BuildAndStart();
  const std::string where = options.port >= 0 ? address : "unix:" + options.socket_path;
  if (server->server_ == nullptr || (options.port >= 0 && bound == 0)) {
    for (auto& cq : impl->cqs) cq->Shutdown();
    void* tag;
    bool ok;
    for (auto& cq : impl->cqs) while (cq->Next(&tag, &ok)) {}
    return Unavailable("gRPC server: cannot listen on " + where +
                       (options.port >= 0 && !options.socket_path.empty() ? " and unix:" + options.socket_path : "") +
                       " (in use, or not an address of this machine)");
  }
  server->port_ = options.port >= 0 ? bound : -1;
  server->handlers_ = std::make_unique<Handlers>(impl);
  const Handlers* h = server->handlers_.get();
  for (auto& cq : impl->cqs) {
    // Several predicts asked for at once per queue: under load a call arriving finds one ready.
    for (int i = 0; i < 8; ++i) PredictCall::Ask(impl, &h->predict, cq.get());
    MetadataCall::Ask(impl, &h->metadata, cq.get());
    ClassifyCall::Ask(impl, &h->classify, cq.get());
    RegressCall::Ask(impl, &h->regress, cq.get());
    StatusCall::Ask(impl, &h->status, cq.get());
    impl->threads.emplace_back([queue = cq.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (queue->Next(&tag, &ok)) static_cast<Tag*>(tag)->Proceed(ok);
    });
  }
  return server;
}

bool GrpcServer::Drain(double timeout_seconds) {
  if (stopped_ || server_ == nullptr) return true;
  stopped_ = true;
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  // Refuses new calls at once; waits for those in flight up to the deadline, then cancels them.
  server_->Shutdown(deadline);
  const bool drained = std::chrono::system_clock::now() < deadline;
  // A cancelled call is still answered by its handler (a batch always runs): its answer's
  // completion must find the queue open.
  while (impl_->active.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& cq : impl_->cqs) cq->Shutdown();
  for (auto& t : impl_->threads) t.join();
  return drained;
}

GrpcServer::~GrpcServer() { Stop(); }

}  // namespace loom::serving
