#include "serving/grpc_server.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <google/protobuf/arena.h>

namespace loom::serving {
namespace {

constexpr char kPrediction[] = "/tensorflow.serving.PredictionService/";
constexpr char kModel[] = "/tensorflow.serving.ModelService/";

// A call's request and response on a protobuf arena whose first block is the call's own, and
// calls reused: a thread keeps the ones it finished (the loop thread, or the batch thread that
// answered), so a predict's messages cost no allocation but their strings' buffers. (glibc's
// malloc was a tenth of the server's CPU per call under perf.)
template <typename Request, typename Response>
class ArenaCall {
 public:
  static std::shared_ptr<ArenaCall> Take() {
    auto& pool = Pool();
    ArenaCall* call;
    if (pool.empty()) {
      call = new ArenaCall;
    } else {
      call = pool.back().release();
      pool.pop_back();
    }
    return std::shared_ptr<ArenaCall>(call, [](ArenaCall* c) { c->Recycle(); });
  }
  Request& request() { return *request_; }
  Response& response() { return *response_; }

 private:
  static constexpr size_t kBlockBytes = 8192;  // a one-image predict's request and response fit
  static constexpr size_t kKept = 256;         // calls a thread keeps for reuse

  ArenaCall() : arena_(Options(block_)) { Make(); }
  static google::protobuf::ArenaOptions Options(char* block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = kBlockBytes;
    return o;
  }
  static std::vector<std::unique_ptr<ArenaCall>>& Pool() {
    thread_local std::vector<std::unique_ptr<ArenaCall>> pool;
    return pool;
  }
  void Make() {
    request_ = google::protobuf::Arena::CreateMessage<Request>(&arena_);
    response_ = google::protobuf::Arena::CreateMessage<Response>(&arena_);
  }
  void Recycle() {
    auto& pool = Pool();
    if (pool.size() >= kKept) {
      delete this;
      return;
    }
    arena_.Reset();  // keeps the first block
    Make();
    pool.emplace_back(this);
  }

  alignas(16) char block_[kBlockBytes];
  google::protobuf::Arena arena_;
  Request* request_ = nullptr;
  Response* response_ = nullptr;
};

// One unary method: parses its request, runs `run` (which calls done(status) once, now or
// later), and answers with the serialized response or the status.
template <typename Request, typename Response, typename Run>
void Serve(std::string_view message, const char* name, net::GrpcResponder responder, Run run) {
  auto call = ArenaCall<Request, Response>::Take();
  if (!call->request().ParseFromArray(message.data(), static_cast<int>(message.size())))
    return responder.Fail(net::GrpcCode::kInternal, std::string(name) + ": the request message cannot be parsed as " +
                                                        Request::descriptor()->full_name());
  run(call->request(), &call->response(), [call, responder](const Status& s) {
    if (s.ok()) return responder.Respond(call->response().SerializeAsString());
    responder.Fail(static_cast<net::GrpcCode>(ErrorCodeOf(s)), s.message());
  });
}

}  // namespace

void GrpcServer::Handle(const GrpcApi* api, net::GrpcCall call, net::GrpcResponder responder) {
  const std::string_view m = call.method;
  auto method_is = [&m](const char* service, const char* method) {
    const size_t n = strlen(service);
    return m.compare(0, n, service) == 0 && m.compare(n, std::string::npos, method) == 0;
  };
  if (method_is(kPrediction, "Predict")) {
    return Serve<tfs::PredictRequest, tfs::PredictResponse>(
        call.message, "Predict", std::move(responder),
        [api](const tfs::PredictRequest& r, tfs::PredictResponse* out, std::function<void(Status)> done) {
          api->Predict(r, out, std::move(done));
        });
  }
  if (method_is(kPrediction, "GetModelMetadata")) {
    return Serve<tfs::GetModelMetadataRequest, tfs::GetModelMetadataResponse>(
        call.message, "GetModelMetadata", std::move(responder),
        [api](const tfs::GetModelMetadataRequest& r, tfs::GetModelMetadataResponse* out,
              std::function<void(Status)> done) { done(api->GetModelMetadata(r, out)); });
  }
  if (method_is(kPrediction, "Classify")) {
    return Serve<tfs::ClassificationRequest, tfs::ClassificationResponse>(
        call.message, "Classify", std::move(responder),
        [api](const tfs::ClassificationRequest& r, tfs::ClassificationResponse*, std::function<void(Status)> done) {
          done(api->Classify(r));
        });
  }
  if (method_is(kPrediction, "Regress")) {
    return Serve<tfs::RegressionRequest, tfs::RegressionResponse>(
        call.message, "Regress", std::move(responder),
        [api](const tfs::RegressionRequest& r, tfs::RegressionResponse*, std::function<void(Status)> done) {
          done(api->Regress(r));
        });
  }
  if (method_is(kModel, "GetModelStatus")) {
    return Serve<tfs::GetModelStatusRequest, tfs::GetModelStatusResponse>(
        call.message, "GetModelStatus", std::move(responder),
        [api](const tfs::GetModelStatusRequest& r, tfs::GetModelStatusResponse* out,
              std::function<void(Status)> done) { done(api->GetModelStatus(r, out)); });
  }
  // As gRPC answers a method no service has (MultiInference, HandleReloadConfigRequest, ...).
  responder.Fail(net::GrpcCode::kUnimplemented, "Method not found: " + std::string(m));
}

StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options, const GrpcApi* api) {
  net::GrpcHttp2ServerOptions transport;
  transport.address = options.address;
  transport.port = options.port;
  transport.socket_path = options.socket_path;
  transport.max_message_bytes = options.max_message_bytes;
  transport.connection_timeout_seconds = options.connection_timeout_seconds;
  transport.num_threads = options.num_threads > 0 ? options.num_threads
                                                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::unique_ptr<GrpcServer> server(new GrpcServer);
  LOOM_ASSIGN_OR_RETURN(server->transport_,
                        net::GrpcHttp2Server::Start(transport, [api](net::GrpcCall call, net::GrpcResponder r) {
                          Handle(api, std::move(call), std::move(r));
                        }));
  return server;
}

bool GrpcServer::Drain(double timeout_seconds) {
  if (stopped_) return true;
  stopped_ = true;
  const bool drained = transport_->Drain(timeout_seconds);
  transport_->Stop();
  return drained;
}

GrpcServer::~GrpcServer() { Stop(); }

}  // namespace loom::serving
