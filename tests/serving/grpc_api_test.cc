// TF Serving's gRPC API over real gRPC on 127.0.0.1 (a free port), in process, with real Loom
// bundles, through the stubs generated from proto/tfserving: predict answers, metadata and
// status as TF Serving gives them, TF Serving's codes for bad requests, and batching, metrics,
// hot swap and drain as on REST. tests/serving/tfserving_client_test.py checks the same server
// with a client built from TF Serving's own .proto files.
#include "serving/grpc_api.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "core/file.h"
#include "serving/model_server.h"
#include "test_util/bundles.h"
#include "test_util/fake_clock.h"
#include "test_util/raw_http.h"
#include "test_util/test_server.h"
#include "test_util/test_env.h"
#include "tfserving/serving_apis.grpc.pb.h"

namespace loom::serving {
namespace {

using testing::TestImage;

tensorflow::TensorProto ImagesTensor(const std::vector<float>& images, bool content) {
  tensorflow::TensorProto t;
  t.set_dtype(tensorflow::DT_FLOAT);
  t.mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(images.size() / 784));
  t.mutable_tensor_shape()->add_dim()->set_size(784);
  if (content) {
    t.set_tensor_content(std::string(reinterpret_cast<const char*>(images.data()), images.size() * 4));
  } else {
    for (float v : images) t.add_float_val(v);
  }
  return t;
}

tfs::PredictRequest PredictRequestFor(const std::vector<float>& images, bool content = false) {
  tfs::PredictRequest request;
  request.mutable_model_spec()->set_name("mnist");
  (*request.mutable_inputs())["images"] = ImagesTensor(images, content);
  return request;
}

using testing::MetricValue;

// Batches of 8 that close only when full (their timeout is 10 minutes), one batch thread.
constexpr char kFullBatchesOf8[] =
    "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 600000000 }\nnum_batch_threads { value: 1 }\n";

class GrpcApiTest : public ::testing::Test {
 protected:
  void Start() {
    ModelServerOptions options =
        testing::TestServerOptions(dir_, base_, &clock_, kDefaultMetricsPath, batching_parameters_);
    auto server = ModelServer::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(*server);
    ASSERT_GT(server_->grpc_port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    prediction_ = tfs::PredictionService::NewStub(channel_);
    model_ = tfs::ModelService::NewStub(channel_);
  }
  grpc::Status Predict(const tfs::PredictRequest& request, tfs::PredictResponse* response) {
    grpc::ClientContext context;
    return prediction_->Predict(&context, request, response);
  }
  // Predicts TestImage(0..n-1), each from a thread of its own; join the threads to read the
  // answers and statuses.
  std::vector<std::thread> PredictConcurrently(int n, std::vector<tfs::PredictResponse>* answers,
                                               std::vector<grpc::Status>* statuses) {
    answers->resize(static_cast<size_t>(n));
    statuses->resize(static_cast<size_t>(n));
    std::vector<std::thread> clients;
    for (int c = 0; c < n; ++c)
      clients.emplace_back([this, c, answers, statuses] {
        (*statuses)[c] = Predict(PredictRequestFor(TestImage(c)), &(*answers)[c]);
      });
    return clients;
  }
  std::string Metrics() { return testing::Request(server_->port(), "GET", kDefaultMetricsPath).body; }
  // Scores and classes of a predict answer, checked for TF Serving's shapes and types.
  void ExpectAnswer(const tfs::PredictResponse& response, const std::vector<std::string>& bundles,
                    const std::vector<std::vector<float>>& images) {
    const int64_t n = static_cast<int64_t>(images.size());
    const tensorflow::TensorProto& scores = response.outputs().at("scores");
    const tensorflow::TensorProto& classes = response.outputs().at("classes");
    EXPECT_EQ(scores.dtype(), tensorflow::DT_FLOAT);
    ASSERT_EQ(scores.tensor_shape().dim_size(), 2);
    EXPECT_EQ(scores.tensor_shape().dim(0).size(), n);
    EXPECT_EQ(scores.tensor_shape().dim(1).size(), 10);
    ASSERT_EQ(scores.float_val_size(), n * 10);
    EXPECT_EQ(classes.dtype(), tensorflow::DT_INT64);
    ASSERT_EQ(classes.tensor_shape().dim_size(), 1);
    EXPECT_EQ(classes.tensor_shape().dim(0).size(), n);
    ASSERT_EQ(classes.int64_val_size(), n);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<float> direct = testing::DirectScores(bundles[static_cast<size_t>(i)], images[static_cast<size_t>(i)]);
      for (int j = 0; j < 10; ++j) EXPECT_NEAR(scores.float_val(static_cast<int>(i * 10 + j)), direct[j], 1e-6);
      EXPECT_EQ(classes.int64_val(static_cast<int>(i)), std::max_element(direct.begin(), direct.end()) - direct.begin());
    }
  }

  loom::testing::ScratchDir dir_;
  std::string base_ = dir_.Join("mnist");
  testing::FakeClock clock_;
  std::string batching_parameters_;  // TF Serving's text format; empty: no batching
  std::unique_ptr<ModelServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tfs::PredictionService::Stub> prediction_;
  std::unique_ptr<tfs::ModelService::Stub> model_;
};

TEST_F(GrpcApiTest, PredictMetadataAndStatusAsTfServing) {
  std::string v1 = testing::WriteTestBundle(base_, 1, 7);
  Start();
  std::vector<float> a = TestImage(1), b = TestImage(2), both = a;
  both.insert(both.end(), b.begin(), b.end());
  for (bool content : {false, true}) {
    SCOPED_TRACE(content ? "tensor_content" : "float_val");
    tfs::PredictResponse response;
    grpc::Status s = Predict(PredictRequestFor(both, content), &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.model_spec().name(), "mnist");
    EXPECT_EQ(response.model_spec().version().value(), 1);
    EXPECT_EQ(response.model_spec().signature_name(), "serving_default");
    ExpectAnswer(response, {v1, v1}, {a, b});
  }
  // Kubeflow's example's signature name, a version and an output filter.
  tfs::PredictRequest request = PredictRequestFor(a);
  request.mutable_model_spec()->set_signature_name("predict_images");
  request.mutable_model_spec()->mutable_version()->set_value(1);
  request.add_output_filter("classes");
  tfs::PredictResponse response;
  ASSERT_TRUE(Predict(request, &response).ok());
  EXPECT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs().at("classes").int64_val_size(), 1);
  EXPECT_EQ(response.model_spec().signature_name(), "predict_images");

  grpc::ClientContext metadata_context;
  tfs::GetModelMetadataRequest metadata_request;
  metadata_request.mutable_model_spec()->set_name("mnist");
  metadata_request.add_metadata_field("signature_def");
  tfs::GetModelMetadataResponse metadata;
  ASSERT_TRUE(prediction_->GetModelMetadata(&metadata_context, metadata_request, &metadata).ok());
  EXPECT_EQ(metadata.model_spec().version().value(), 1);
  EXPECT_EQ(metadata.metadata().at("signature_def").type_url(), "type.googleapis.com/tensorflow.serving.SignatureDefMap");
  tfs::SignatureDefMap map;
  ASSERT_TRUE(metadata.metadata().at("signature_def").UnpackTo(&map));
  const tensorflow::SignatureDef& def = map.signature_def().at("serving_default");
  EXPECT_EQ(def.method_name(), "tensorflow/serving/predict");
  EXPECT_EQ(def.inputs().at("images").dtype(), tensorflow::DT_FLOAT);
  EXPECT_EQ(def.inputs().at("images").tensor_shape().dim(0).size(), -1);
  EXPECT_EQ(def.inputs().at("images").tensor_shape().dim(1).size(), 784);
  EXPECT_EQ(def.outputs().at("scores").tensor_shape().dim(1).size(), 10);
  EXPECT_EQ(def.outputs().at("classes").dtype(), tensorflow::DT_INT64);
  EXPECT_TRUE(map.signature_def().contains("predict_images"));

  grpc::ClientContext status_context;
  tfs::GetModelStatusRequest status_request;
  status_request.mutable_model_spec()->set_name("mnist");
  tfs::GetModelStatusResponse status;
  ASSERT_TRUE(model_->GetModelStatus(&status_context, status_request, &status).ok());
  ASSERT_EQ(status.model_version_status_size(), 1);
  EXPECT_EQ(status.model_version_status(0).version(), 1);
  EXPECT_EQ(status.model_version_status(0).state(), tfs::ModelVersionStatus::AVAILABLE);
  EXPECT_EQ(status.model_version_status(0).status().error_code(), tensorflow::error::OK);

  std::string text = Metrics();
  EXPECT_EQ(MetricValue(text, ":tensorflow:serving:request_count{model_name=\"mnist\",API=\"predict\","
                              "entrypoint=\"GRPC\",status=\"OK\"}"), 3) << text;
}

TEST_F(GrpcApiTest, BadRequestsGetTfServingsCodesAndTheServerKeepsServing) {
  testing::WriteTestBundle(base_, 1, 7);
  Start();
  std::vector<float> image = TestImage(3);
  struct Case {
    std::string what;
    std::function<void(tfs::PredictRequest*)> edit;
    grpc::StatusCode code;
    std::string message;  // a part of it
  };
  std::vector<Case> cases = {
      {"unknown model", [](tfs::PredictRequest* r) { r->mutable_model_spec()->set_name("nope"); },
       grpc::StatusCode::NOT_FOUND, "Servable not found for request: Latest(nope)"},
      {"unknown version", [](tfs::PredictRequest* r) { r->mutable_model_spec()->mutable_version()->set_value(9); },
       grpc::StatusCode::NOT_FOUND, "Servable not found for request: Specific(mnist, 9)"},
      {"unknown label", [](tfs::PredictRequest* r) { r->mutable_model_spec()->set_version_label("canary"); },
       grpc::StatusCode::INVALID_ARGUMENT, "Unrecognized servable version label: canary"},
      {"no model_spec", [](tfs::PredictRequest* r) { r->clear_model_spec(); }, grpc::StatusCode::INVALID_ARGUMENT,
       "Missing ModelSpec"},
      {"unknown signature", [](tfs::PredictRequest* r) { r->mutable_model_spec()->set_signature_name("x"); },
       grpc::StatusCode::FAILED_PRECONDITION, "Serving signature key \"x\" not found."},
      {"wrong input name",
       [](tfs::PredictRequest* r) {
         (*r->mutable_inputs())["x"] = r->inputs().at("images");
         r->mutable_inputs()->erase("images");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "input tensor alias not found in signature: x. Inputs expected to be in the set {images}."},
      {"an extra input",
       [](tfs::PredictRequest* r) { (*r->mutable_inputs())["x"] = r->inputs().at("images"); },
       grpc::StatusCode::INVALID_ARGUMENT, "input size does not match signature: 2!=1 len({images,x}) != len({images}). Sent extra: {x}. Missing but required: {}."},
      {"bad shape",
       [](tfs::PredictRequest* r) { (*r->mutable_inputs())["images"].mutable_tensor_shape()->mutable_dim(1)->set_size(783); },
       grpc::StatusCode::INVALID_ARGUMENT, "shape [1,783] is not the signature's [-1,784]"},
      {"no examples",
       [](tfs::PredictRequest* r) { (*r->mutable_inputs())["images"].mutable_tensor_shape()->mutable_dim(0)->set_size(0); },
       grpc::StatusCode::INVALID_ARGUMENT, "with at least one example"},
      {"a huge shape filled from one float_val",
       [](tfs::PredictRequest* r) {
         auto& t = (*r->mutable_inputs())["images"];
         t.mutable_tensor_shape()->mutable_dim(0)->set_size(int64_t{1} << 30);
         t.clear_float_val();
         t.add_float_val(1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "the most Loom takes in one request"},
      {"too many values", [](tfs::PredictRequest* r) { (*r->mutable_inputs())["images"].add_float_val(1); },
       grpc::StatusCode::INVALID_ARGUMENT, "float_val holds 785 values, shape [1,784] has 784"},
      {"short tensor_content",
       [](tfs::PredictRequest* r) {
         auto& t = (*r->mutable_inputs())["images"];
         t.clear_float_val();
         t.set_tensor_content(std::string(100, '\0'));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "tensor_content holds 100 bytes"},
      {"wrong dtype", [](tfs::PredictRequest* r) { (*r->mutable_inputs())["images"].set_dtype(tensorflow::DT_DOUBLE); },
       grpc::StatusCode::INVALID_ARGUMENT, "dtype DT_DOUBLE is not the signature's DT_FLOAT"},
      {"values in another field", [](tfs::PredictRequest* r) { (*r->mutable_inputs())["images"].add_int_val(1); },
       grpc::StatusCode::INVALID_ARGUMENT, "holds its values in float_val or tensor_content"},
      {"unknown output", [](tfs::PredictRequest* r) { r->add_output_filter("logits"); },
       grpc::StatusCode::INVALID_ARGUMENT, "output tensor alias not found in signature: logits"},
      {"duplicate output",
       [](tfs::PredictRequest* r) {
         r->add_output_filter("scores");
         r->add_output_filter("scores");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "duplicate output tensor alias: scores"},
      {"a field Loom does not act on (client_id)",
       [](tfs::PredictRequest* r) { r->GetReflection()->MutableUnknownFields(r)->AddLengthDelimited(6, "me"); },
       grpc::StatusCode::INVALID_ARGUMENT, "PredictRequest: field 6 is not one Loom acts on"},
      {"a tensor field Loom does not act on (half_val)",
       [](tfs::PredictRequest* r) {
         auto& t = (*r->mutable_inputs())["images"];
         t.GetReflection()->MutableUnknownFields(&t)->AddVarint(13, 1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "PredictRequest.inputs[\"images\"]: field 13 is not one Loom acts on"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    tfs::PredictRequest request = PredictRequestFor(image);
    c.edit(&request);
    tfs::PredictResponse response;
    grpc::Status s = Predict(request, &response);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_NE(s.error_message().find(c.message), std::string::npos) << s.error_message();
  }
  // A short float_val is filled with its last value, as TensorFlow reads a TensorProto.
  tfs::PredictRequest request = PredictRequestFor(image);
  (*request.mutable_inputs())["images"].clear_float_val();
  (*request.mutable_inputs())["images"].add_float_val(0.5f);
  tfs::PredictResponse filled, full;
  ASSERT_TRUE(Predict(request, &filled).ok());
  ASSERT_TRUE(Predict(PredictRequestFor(std::vector<float>(784, 0.5f)), &full).ok());
  EXPECT_EQ(filled.outputs().at("scores").float_val(3), full.outputs().at("scores").float_val(3));

  // Classify and Regress: the model's signatures are predict ones.
  grpc::ClientContext classify_context;
  tfs::ClassificationRequest classify;
  classify.mutable_model_spec()->set_name("mnist");
  tfs::ClassificationResponse classified;
  grpc::Status s = prediction_->Classify(&classify_context, classify, &classified);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "Expected classification signature method_name to be tensorflow/serving/classify. "
                               "Was: tensorflow/serving/predict");
  grpc::ClientContext regress_context;
  tfs::RegressionRequest regress;
  regress.mutable_model_spec()->set_name("nope");
  tfs::RegressionResponse regressed;
  EXPECT_EQ(prediction_->Regress(&regress_context, regress, &regressed).error_code(), grpc::StatusCode::NOT_FOUND);

  // Metadata and status errors.
  grpc::ClientContext metadata_context;
  tfs::GetModelMetadataRequest metadata_request;
  metadata_request.mutable_model_spec()->set_name("mnist");
  metadata_request.add_metadata_field("graph");
  tfs::GetModelMetadataResponse metadata;
  s = prediction_->GetModelMetadata(&metadata_context, metadata_request, &metadata);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "Metadata field graph is not supported");
  grpc::ClientContext status_context;
  tfs::GetModelStatusRequest status_request;
  status_request.mutable_model_spec()->set_name("mnist");
  status_request.mutable_model_spec()->mutable_version()->set_value(4);
  tfs::GetModelStatusResponse status;
  s = model_->GetModelStatus(&status_context, status_request, &status);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "Could not find version 4 of model mnist");

  tfs::PredictResponse response;
  EXPECT_TRUE(Predict(PredictRequestFor(image), &response).ok());
  std::string text = Metrics();
  EXPECT_EQ(MetricValue(text, ":tensorflow:serving:request_count{model_name=\"\",API=\"predict\","
                              "entrypoint=\"GRPC\",status=\"NOT_FOUND\"}"), 1) << text;
}

// --enable_batching over gRPC: 24 calls at once from as many threads (a batch closes only when
// full, its timeout being 10 minutes, so nothing here depends on timing); every answer is the
// unbatched one, and they ran as three full batches.
TEST_F(GrpcApiTest, BatchingFormsFullBatches) {
  std::string v1 = testing::WriteTestBundle(base_, 1, 7);
  batching_parameters_ = kFullBatchesOf8;
  Start();
  constexpr int kClients = 24;
  std::vector<tfs::PredictResponse> answers;
  std::vector<grpc::Status> statuses;
  for (auto& t : PredictConcurrently(kClients, &answers, &statuses)) t.join();
  for (int c = 0; c < kClients; ++c) {
    ASSERT_TRUE(statuses[c].ok()) << statuses[c].error_message();
    ExpectAnswer(answers[c], {v1}, {TestImage(c)});
  }
  std::string text = Metrics();
  EXPECT_EQ(MetricValue(text, ":loom:serving:batching:processed_batch_size_count"), 3) << text;
  EXPECT_EQ(MetricValue(text, ":loom:serving:batching:processed_batch_size_sum"), kClients) << text;
}

// Drain: calls waiting for a batch that will not fill are answered (the queue is flushed), new
// calls are refused, and Shutdown reports everything answered.
TEST_F(GrpcApiTest, ShutdownAnswersCallsWaitingForABatch) {
  std::string v1 = testing::WriteTestBundle(base_, 1, 7);
  batching_parameters_ = kFullBatchesOf8;
  Start();
  constexpr int kWaiting = 3;
  std::vector<tfs::PredictResponse> answers;
  std::vector<grpc::Status> statuses;
  std::vector<std::thread> clients = PredictConcurrently(kWaiting, &answers, &statuses);
  while (MetricValue(Metrics(), ":loom:serving:batching:queued_examples") != kWaiting) std::this_thread::yield();
  EXPECT_TRUE(server_->Shutdown(60));
  for (auto& t : clients) t.join();
  for (int c = 0; c < kWaiting; ++c) {
    ASSERT_TRUE(statuses[c].ok()) << statuses[c].error_message();
    ExpectAnswer(answers[c], {v1}, {TestImage(c)});
  }
  tfs::PredictResponse response;
  EXPECT_EQ(Predict(PredictRequestFor(TestImage(9)), &response).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcApiTest, HotSwapAndCorruptVersion) {
  testing::WriteTestBundle(base_, 1, 7);
  Start();
  std::vector<float> image = TestImage(5);
  auto poll = [&] { clock_.RunOnePoll(1'000'000); };
  std::string v2 = testing::WriteTestBundle(base_, 2, 8);
  poll();
  tfs::PredictResponse response;
  ASSERT_TRUE(Predict(PredictRequestFor(image), &response).ok());
  EXPECT_EQ(response.model_spec().version().value(), 2);
  ExpectAnswer(response, {v2}, {image});

  testing::WriteCorruptBundle(base_, 3);
  poll();
  grpc::ClientContext context;
  tfs::GetModelStatusRequest request;
  request.mutable_model_spec()->set_name("mnist");
  tfs::GetModelStatusResponse status;
  ASSERT_TRUE(model_->GetModelStatus(&context, request, &status).ok());
  ASSERT_EQ(status.model_version_status_size(), 3) << status.DebugString();
  EXPECT_EQ(status.model_version_status(0).state(), tfs::ModelVersionStatus::END);
  EXPECT_EQ(status.model_version_status(1).state(), tfs::ModelVersionStatus::AVAILABLE);
  EXPECT_EQ(status.model_version_status(2).state(), tfs::ModelVersionStatus::END);
  EXPECT_NE(status.model_version_status(2).status().error_code(), tensorflow::error::OK);
  EXPECT_NE(status.model_version_status(2).status().error_message().find("model.json"), std::string::npos);
  // Version 2 keeps serving.
  response.Clear();
  ASSERT_TRUE(Predict(PredictRequestFor(image), &response).ok());
  ExpectAnswer(response, {v2}, {image});
}

}  // namespace
}  // namespace loom::serving
