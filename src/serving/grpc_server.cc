#include "serving/grpc_server.h"

#include <algorithm>
#include <cstring>
#include <thread>

namespace loom::serving {
namespace {

constexpr char kPrediction[] = "/tensorflow.serving.PredictionService/";
constexpr char kModel[] = "/tensorflow.serving.ModelService/";

// One unary method: parses its request, runs `run` (which calls done(status) once, now or
// later), and answers with the serialized response or the status.
template <typename Request, typename Response, typename Run>
void Serve(std::string_view message, const char* name, net::GrpcResponder responder, Run run) {
  struct Call {
    Request request;
    Response response;
  };
  auto call = std::make_shared<Call>();
  if (!call->request.ParseFromArray(message.data(), static_cast<int>(message.size())))
    return responder.Fail(net::GrpcCode::kInternal, std::string(name) + ": the request message cannot be parsed as " +
                                                        Request::descriptor()->full_name());
  run(call->request, &call->response, [call, responder](const Status& s) {
    if (s.ok()) return responder.Respond(call->response.SerializeAsString());
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
