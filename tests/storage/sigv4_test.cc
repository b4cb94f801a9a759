// SigV4 against AWS's published test suite: every case in sigv4_cases/ (see its README).
#include "storage/sigv4.h"

#include <gtest/gtest.h>

#include "core/file.h"
#include "storage/hash.h"
#include "test_util/test_env.h"

namespace loom::storage {
namespace {

std::string CasesDir() { return JoinPath(loom::testing::SourceDir(), "tests/storage/sigv4_cases"); }

// Parses a suite .req file: "METHOD PATH?QUERY HTTP/1.1", "Name:value" lines, a blank line, the body.
SigV4Request ParseReq(const std::string& text, std::string* body) {
  SigV4Request r;
  size_t eol = text.find('\n');
  std::string first = text.substr(0, eol);
  size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
  r.method = first.substr(0, sp1);
  std::string target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string query = target.substr(q + 1);
    size_t start = 0;
    while (start < query.size()) {
      size_t amp = query.find('&', start);
      if (amp == std::string::npos) amp = query.size();
      std::string kv = query.substr(start, amp - start);
      size_t eq = kv.find('=');
      r.query.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
      start = amp + 1;
    }
  }
  size_t pos = eol == std::string::npos ? text.size() : eol + 1;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) {
      *body = pos < text.size() ? text.substr(pos) : "";
      break;
    }
    size_t colon = line.find(':');
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  r.payload_sha256 = Sha256Hex(*body);
  return r;
}

TEST(SigV4Test, AwsTestSuite) {
  auto names = ListDir(CasesDir());
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  int cases = 0;
  for (const std::string& name : *names) {
    if (name.size() < 4 || name.substr(name.size() - 4) != ".req") continue;
    std::string stem = JoinPath(CasesDir(), name.substr(0, name.size() - 4));
    auto req = ReadFile(stem + ".req");
    auto creq = ReadFile(stem + ".creq");
    auto sts = ReadFile(stem + ".sts");
    auto authz = ReadFile(stem + ".authz");
    ASSERT_TRUE(req.ok() && creq.ok() && sts.ok() && authz.ok()) << stem;
    std::string body;
    SigV4Request request = ParseReq(*req, &body);
    SigV4Signature sig = SignV4(request, {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, "us-east-1",
                                "service", "20150830T123600Z");
    EXPECT_EQ(sig.canonical_request, *creq) << name;
    EXPECT_EQ(sig.string_to_sign, *sts) << name;
    EXPECT_EQ(sig.authorization, *authz) << name;
    ++cases;
  }
  EXPECT_GE(cases, 4);
}

TEST(SigV4Test, AccessKeyWithColonIsKeptWhole) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/b/k";
  r.headers = {{"host", "127.0.0.1:8080"}, {"x-amz-date", "20260101T000000Z"}};
  r.payload_sha256 = Sha256Hex("");
  auto sig = SignV4(r, {"test:tester", "testing"}, "us-east-1", "s3", "20260101T000000Z");
  EXPECT_EQ(sig.authorization.find("Credential=test:tester/20260101/us-east-1/s3/aws4_request"), 17u)
      << sig.authorization;
  EXPECT_EQ(sig.authorization.find("testing,"), std::string::npos);
}

TEST(SigV4Test, HeaderValuesTrimmedAndJoined) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/";
  r.headers = {{"Host", "h"}, {"My-Header1", "  a   b  "}, {"my-header1", "c"}, {"X-Amz-Date", "20150830T123600Z"}};
  r.payload_sha256 = "UNSIGNED-PAYLOAD";
  auto sig = SignV4(r, {"AK", "SK"}, "us-east-1", "s3", "20150830T123600Z");
  EXPECT_NE(sig.canonical_request.find("\nmy-header1:a b,c\n"), std::string::npos) << sig.canonical_request;
  EXPECT_EQ(sig.signed_headers, "host;my-header1;x-amz-date");
}

TEST(SigV4Test, QueryValuesEncoded) {
  EXPECT_EQ(CanonicalQueryString({{"prefix", "a b/ü"}, {"list-type", "2"}, {"uploads", ""}}),
            "list-type=2&prefix=a%20b%2F%C3%BC&uploads=");
}

}  // namespace
}  // namespace loom::storage
