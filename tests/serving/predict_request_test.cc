// Data-driven: every cases/<name>.json is a predict body, cases/<name>.expected what the parser
// must make of it for a signature taking 4 floats per example ("ok ..." or "error: <part>").
#include "serving/predict_request.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/file.h"
#include "test_util/test_env.h"

namespace loom::serving {
namespace {

std::string Describe(const PredictRequest& r) {
  std::string s = "ok n=" + std::to_string(r.num_examples) + " columnar=" + (r.columnar ? "1" : "0");
  if (!r.signature_name.empty()) s += " signature=" + r.signature_name;
  s += " values=";
  for (size_t i = 0; i < r.values.size(); ++i) {
    char buf[32];
    auto end = std::to_chars(buf, buf + sizeof(buf), r.values[i]).ptr;
    if (i) s += ',';
    s.append(buf, end);
  }
  return s;
}

TEST(PredictRequestTest, Cases) {
  Signature sig;
  sig.input_shape = {2, 2};
  sig.input_size = 4;
  sig.num_classes = 10;
  std::string dir = JoinPath(loom::testing::SourceDir(), "tests/serving/cases");
  auto names = ListDir(dir);
  ASSERT_TRUE(names.ok()) << names.status().message();
  int cases = 0;
  for (const std::string& name : *names) {
    if (name.size() < 5 || name.substr(name.size() - 5) != ".json") continue;
    std::string stem = name.substr(0, name.size() - 5);
    auto body = ReadFile(JoinPath(dir, name));
    auto expected = ReadFile(JoinPath(dir, stem + ".expected"));
    ASSERT_TRUE(body.ok() && expected.ok()) << stem;
    std::string want = *expected;
    while (!want.empty() && want.back() == '\n') want.pop_back();
    auto got = ParsePredictRequest(*body, sig);
    SCOPED_TRACE(stem);
    if (want.rfind("ok", 0) == 0) {
      ASSERT_TRUE(got.ok()) << got.status().message();
      EXPECT_EQ(Describe(*got), want);
    } else {
      ASSERT_FALSE(got.ok()) << Describe(*got);
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      std::string part = want.substr(want.find(": ") + 2);
      EXPECT_NE(got.status().message().find(part), std::string::npos)
          << "message: " << got.status().message() << "\nwant part: " << part;
    }
    ++cases;
  }
  EXPECT_GE(cases, 20);
}

// Every prefix of a valid body is an error, never a crash or an accepted request.
TEST(PredictRequestTest, EveryTruncationIsAnError) {
  Signature sig;
  sig.input_shape = {4};
  sig.input_size = 4;
  std::string body = R"({"signature_name": "s\"x", "instances": [{"images": [1.5e3, -2, 0.25, 7]}]})";
  ASSERT_TRUE(ParsePredictRequest(body, sig).ok());
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(ParsePredictRequest(body.substr(0, n), sig).ok()) << body.substr(0, n);
  }
}

// The fast float path agrees with the correctly rounded library conversion.
TEST(PredictRequestTest, FloatsAreCorrectlyRounded) {
  Signature sig;
  sig.input_shape = {1};
  sig.input_size = 1;
  uint64_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    int digits = static_cast<int>(state >> 60) % 9 + 1;
    uint64_t mantissa = (state >> 8) % 100000000;
    std::string text = std::to_string(mantissa);
    if (digits < static_cast<int>(text.size())) text.insert(text.size() - digits, ".");
    else text = "0." + std::string(digits - text.size(), '0') + text;
    float want = 0;
    std::from_chars(text.data(), text.data() + text.size(), want);
    auto got = ParsePredictRequest("{\"instances\": [[" + text + "]]}", sig);
    ASSERT_TRUE(got.ok()) << text << ": " << got.status().message();
    ASSERT_EQ(got->values[0], want) << text;
  }
}

// Long mantissas (the eight-digits-at-a-time scan, the double fast path and its fallback),
// numbers exactly halfway between two floats, and numbers with too many digits to hold.
TEST(PredictRequestTest, LongAndHalfwayFloatsAreCorrectlyRounded) {
  Signature sig;
  sig.input_shape = {1};
  sig.input_size = 1;
  std::vector<std::string> texts = {
      "33554434", "33554438", "16777217", "16777219", "0.3294117647058824", "0.12345678901234567",
      "1.000000059604644775390625", "1.0000000596046448", "9007199254740993", "0.000000000000000000012345",
      "12345678901234567890123", "0.00000000000000000000000000001", "1234567.000000000000001",
      "0.99999999999999999999", "4294967296.5", "0.0000000000000000000000000000000000000000001",
      "0.0", "0.0e1", "0.0E+2", "0.00", "0.05", "0.0000001", "0", "0.0e-7"};
  uint64_t state = 777;
  for (int i = 0; i < 50000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    // A float's neighbours' midpoint, written with the shortest exact decimal or with 17 digits.
    if (i % 2 == 0) {
      uint32_t bits = static_cast<uint32_t>(state >> 33) % 0x7F000000u;
      float a;
      std::memcpy(&a, &bits, 4);
      double mid = (static_cast<double>(a) + static_cast<double>(std::nextafter(a, 1e30f))) / 2;
      char buf[64];
      std::snprintf(buf, sizeof buf, (i % 4 == 0) ? "%.17g" : "%.9g", mid);
      std::string t = buf;
      if (t.find_first_of("eE") == std::string::npos && t.find("inf") == std::string::npos) texts.push_back(t);
    } else {
      int digits = static_cast<int>(state >> 59) % 24 + 1;
      std::string text = std::to_string(state % 10000000000000000000ull);
      if (digits < static_cast<int>(text.size())) text.insert(text.size() - digits, ".");
      else text = "0." + std::string(digits - text.size(), '0') + text;
      texts.push_back(text);
    }
  }
  for (const std::string& text : texts) {
    float want = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), want);
    if (r.ec != std::errc()) continue;  // underflow: covered by the range tests
    auto got = ParsePredictRequest("{\"instances\": [[" + text + "]]}", sig);
    ASSERT_TRUE(got.ok()) << text << ": " << got.status().message();
    ASSERT_EQ(got->values[0], want) << text;
    auto negative = ParsePredictRequest("{\"instances\": [[-" + text + "]]}", sig);
    ASSERT_TRUE(negative.ok()) << text;
    ASSERT_EQ(negative->values[0], -want) << text;
  }
}

// The fast KServe v2 parse takes the usual body and gives up on anything else, so that the
// general path (kserve_api.cc) explains it.
TEST(PredictRequestTest, InferFastPathTakesTheUsualBodyOnly) {
  InferRequest req;
  ASSERT_TRUE(ParseInferRequestFast(
      R"({"id": {"n": [1]}, "inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 2, 2],
          "parameters": {"x": 1}, "data": [[0.5, -1e2], [0.0, 3]]}], "outputs": [{"name": "scores"}]})", &req));
  EXPECT_EQ(req.id_json, R"({"n": [1]})");
  EXPECT_EQ(req.name, "images");
  EXPECT_EQ(req.datatype, "FP32");
  EXPECT_EQ(req.shape, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(req.values, (std::vector<float>{0.5f, -100.0f, 0.0f, 3.0f}));
  InferRequest u8;
  ASSERT_TRUE(ParseInferRequestFast(
      R"({"inputs":[{"name":"images","shape":[1,3],"datatype":"UINT8","data":[0,255,51]}]})", &u8));
  EXPECT_EQ(u8.values, (std::vector<float>{0.0f, 1.0f, 51 / 255.0f}));
  EXPECT_TRUE(u8.id_json.empty());
  for (const char* body : {
           R"({"inputs": [{"name": "images", "shape": [1], "data": [1], "datatype": "FP32"}]})",  // data first
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": [1]}]})",
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "UINT8", "data": [256]}]})",
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "UINT8", "data": [1.0]}]})",
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "UINT8", "data": [01]}]})",
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "UINT8", "data": [-1]}]})",
           R"({"inputs": [{"name": "images", "shape": [1.0], "datatype": "FP32", "data": [1]}]})",
           R"({"inputs": [{"name": "images", "shape": [-1], "datatype": "FP32", "data": [1]}]})",
           R"({"inputs": [{"name": "images", "shape": [01], "datatype": "FP32", "data": [1]}]})",  // not JSON
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": [1e39]}]})",
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": ["1"]}]})",
           R"({"inputs": [{"name": "images", "name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})",
           R"({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}, {"name": "b"}]})",
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": [1]}]} x)",
           R"({"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": [1,]}]})",
           R"({"inputs": []})", R"({"id": "a"})", "[]", ""}) {
    InferRequest r;
    EXPECT_FALSE(ParseInferRequestFast(body, &r)) << body;
  }
  // Every prefix of a body it takes is refused.
  const std::string body = R"({"inputs":[{"name":"images","shape":[1,2],"datatype":"FP32","data":[1.5,2]}]})";
  for (size_t n = 0; n < body.size(); ++n) {
    InferRequest r;
    EXPECT_FALSE(ParseInferRequestFast(body.substr(0, n), &r)) << body.substr(0, n);
  }
}

}  // namespace
}  // namespace loom::serving
