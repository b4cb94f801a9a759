// libFuzzer target for what a gRPC client controls in `loom serve`: the bytes of a
// tensorflow.serving.PredictRequest, parsed as gRPC parses them and handed to GrpcApi::Predict
// (serving/grpc_api.h) as the server does, against a manager serving an MNIST-shaped model with
// two versions and labels. The sibling of predict_fuzzer.cc (the REST bodies).
//
// Input: the serialized message. Its seed corpus, tests/serving/fuzz_corpus_grpc/, holds real
// requests (protoc --encode of the *.txtpb beside them).
//
// Besides the sanitizers' findings, a crash is: done not called exactly once, a code outside
// those Predict answers (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION), an error without a
// message, or an OK answer whose tensors do not hold n x 10 scores and n classes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/logging.h"
#include "mnist_manager.h"
#include "serving/grpc_api.h"

namespace loom::serving {
namespace {

struct World {
  fuzzing::MnistManager models;
  ServingMetrics metrics;
  GrpcApi api{&models.manager, &metrics};
};

[[noreturn]] void Fail(const std::string& what, const tfs::PredictRequest& request) {
  std::fprintf(stderr, "grpc_predict_fuzzer: %s\nrequest: %s\n", what.c_str(),
               request.ShortDebugString().substr(0, 600).c_str());
  std::abort();
}

}  // namespace
}  // namespace loom::serving

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loom::serving;
  static World* world = [] {
    loom::SetMinLogSeverity(loom::LogSeverity::kError);
    return new World();
  }();
  tfs::PredictRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;  // gRPC refuses it before Loom
  tfs::PredictResponse response;
  int calls = 0;
  loom::Status status;
  world->api.Predict(request, &response, [&](loom::Status s) {
    ++calls;
    status = std::move(s);
  });
  if (calls != 1) Fail("done called " + std::to_string(calls) + " times", request);
  switch (status.code()) {
    case loom::StatusCode::kOk: case loom::StatusCode::kInvalidArgument: case loom::StatusCode::kNotFound:
    case loom::StatusCode::kFailedPrecondition: break;
    default: Fail("unexpected status " + status.ToString(), request);
  }
  if (!status.ok() && status.message().empty()) Fail("an error without a message", request);
  if (status.ok()) {
    auto scores = response.outputs().find("scores");
    auto classes = response.outputs().find("classes");
    if (scores == response.outputs().end() && classes == response.outputs().end()) Fail("no outputs", request);
    int64_t n = -1;
    if (scores != response.outputs().end()) {
      n = scores->second.tensor_shape().dim(0).size();
      if (scores->second.float_val_size() != n * 10) Fail("scores do not hold n x 10 floats", request);
    }
    if (classes != response.outputs().end()) {
      if (n >= 0 && classes->second.tensor_shape().dim(0).size() != n) Fail("classes and scores disagree on n", request);
      for (int64_t c : classes->second.int64_val())
        if (c < 0 || c >= 10) Fail("a class outside 0..9", request);
    }
  }
  return 0;
}
