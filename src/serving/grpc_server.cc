#include "serving/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <climits>

#include "tfserving/serving_apis.grpc.pb.h"

namespace loom::serving {
namespace {

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(ErrorCodeOf(s)), s.message());
}

}  // namespace

struct GrpcServer::Services {
  class Prediction final : public tfs::PredictionService::CallbackService {
   public:
    explicit Prediction(const GrpcApi* api) : api_(api) {}
    grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context, const tfs::PredictRequest* request,
                                      tfs::PredictResponse* response) override {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      api_->Predict(*request, response, [reactor](Status s) { reactor->Finish(ToGrpc(s)); });
      return reactor;
    }
    grpc::ServerUnaryReactor* GetModelMetadata(grpc::CallbackServerContext* context,
                                               const tfs::GetModelMetadataRequest* request,
                                               tfs::GetModelMetadataResponse* response) override {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      reactor->Finish(ToGrpc(api_->GetModelMetadata(*request, response)));
      return reactor;
    }
    grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context, const tfs::ClassificationRequest* request,
                                       tfs::ClassificationResponse*) override {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      reactor->Finish(ToGrpc(api_->Classify(*request)));
      return reactor;
    }
    grpc::ServerUnaryReactor* Regress(grpc::CallbackServerContext* context, const tfs::RegressionRequest* request,
                                      tfs::RegressionResponse*) override {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      reactor->Finish(ToGrpc(api_->Regress(*request)));
      return reactor;
    }

   private:
    const GrpcApi* api_;
  };
  class Model final : public tfs::ModelService::CallbackService {
   public:
    explicit Model(const GrpcApi* api) : api_(api) {}
    grpc::ServerUnaryReactor* GetModelStatus(grpc::CallbackServerContext* context,
                                             const tfs::GetModelStatusRequest* request,
                                             tfs::GetModelStatusResponse* response) override {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      reactor->Finish(ToGrpc(api_->GetModelStatus(*request, response)));
      return reactor;
    }

   private:
    const GrpcApi* api_;
  };
  explicit Services(const GrpcApi* api) : prediction(api), model(api) {}
  Prediction prediction;
  Model model;
};

StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options, const GrpcApi* api) {
  if (options.port < 0 && options.socket_path.empty())
    return InvalidArgument("at least one of a gRPC port or a gRPC socket path must be set");
  std::unique_ptr<GrpcServer> server(new GrpcServer);
  server->services_ = std::make_unique<Services>(api);
  grpc::ServerBuilder builder;
  const std::string address = (options.address.find(':') != std::string::npos ? "[" + options.address + "]"
                                                                                 : options.address) +
                              ":" + std::to_string(options.port);
  int bound = 0;
  if (options.port >= 0) builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound);
  if (!options.socket_path.empty())
    builder.AddListeningPort("unix:" + options.socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(&server->services_->prediction);
  builder.RegisterService(&server->services_->model);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(options.max_message_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(INT32_MAX);
  server->server_ = builder.BuildAndStart();
  const std::string where = options.port >= 0 ? address : "unix:" + options.socket_path;
  if (server->server_ == nullptr || (options.port >= 0 && bound == 0))
    return Unavailable("gRPC server: cannot listen on " + where +
                       (options.port >= 0 && !options.socket_path.empty() ? " and unix:" + options.socket_path : "") +
                       " (in use, or not an address of this machine)");
  server->port_ = options.port >= 0 ? bound : -1;
  return server;
}

bool GrpcServer::Drain(double timeout_seconds) {
  if (stopped_ || server_ == nullptr) return true;
  stopped_ = true;
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  // Refuses new calls at once; waits for those in flight up to the deadline, then cancels them.
  server_->Shutdown(deadline);
  server_->Wait();
  return std::chrono::system_clock::now() < deadline;
}

GrpcServer::~GrpcServer() { Stop(); }

}  // namespace loom::serving
