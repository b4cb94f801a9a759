// libFuzzer target for what a client controls in `loom serve`: the predict request parser
// (serving/predict_request, TF Serving's instances/inputs bodies) and every JSON body path of the
// REST API (KServe v2 infer, status, metadata), through RestApi::Handle as the HTTP server calls
// it, against a manager serving an MNIST-shaped model.
//
// Input: "<METHOD> <PATH>\n<BODY>" (a first line without a space is the path of a POST). The
// seed corpus, tests/serving/fuzz_corpus/, holds real requests in that form.
//
// Besides the sanitizers' findings, a crash is: a status outside the codes the API answers, an
// error answer whose body is not {"error": "<string>"}, or a 200 predict whose body is not JSON
// (with TF Serving's NaN and Infinity for non-finite scores).
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/logging.h"
#include "mnist_manager.h"
#include "serving/rest_api.h"

namespace loom::serving {
namespace {

struct World {
  fuzzing::MnistManager models;
  RestApi api{&models.manager};
};

[[noreturn]] void Fail(const char* what, const net::HttpServerRequest& req, const net::HttpServerResponse& resp) {
  std::fprintf(stderr, "predict_fuzzer: %s: %s %s -> %d %s\n", what, req.method.c_str(), req.path.c_str(),
               resp.status, resp.body.substr(0, 300).c_str());
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
  std::string_view in(reinterpret_cast<const char*>(data), size);
  loom::net::HttpServerRequest req;
  const size_t eol = in.find('\n');
  std::string_view line = in.substr(0, eol);
  req.body = eol == std::string_view::npos ? "" : std::string(in.substr(eol + 1));
  const size_t space = line.find(' ');
  req.method = space == std::string_view::npos ? "POST" : std::string(line.substr(0, space));
  req.path = std::string(space == std::string_view::npos ? line : line.substr(space + 1));
  req.headers = {{"Content-Type", "application/json"}};
  loom::net::HttpServerResponse resp;
  world->api.Handle(req, &resp);

  switch (resp.status) {
    case 200: case 400: case 404: case 405: case 413: case 501: case 503: break;
    default: Fail("unexpected status", req, resp);
  }
  if (resp.content_type == "application/json") {
    // Scores may be NaN or +-Infinity, written as TF Serving writes them (bare words, which
    // Python's json reads but strict JSON does not): read those as null.
    std::string text = resp.body;
    for (const std::string word : {"-Infinity", "Infinity", "NaN"})
      for (size_t at; (at = text.find(word)) != std::string::npos;) text.replace(at, word.size(), "null");
    auto body = loom::ParseJson(text, "response");
    if (!body.ok()) Fail("answer is not JSON", req, resp);
    if (resp.status != 200 && !(body->is_object() && body->contains("error") && (*body)["error"].is_string()))
      Fail("error answer without {\"error\": string}", req, resp);
  }
  return 0;
}
