// The hand-written wire format of PushPull (src/train/ps_wire.h) against protoc's generated code
// for the same messages (proto/ps/ps.proto), both ways, with the floats split over many slices
// at odd byte boundaries as gRPC may hand them over; malformed input is an error, not a crash.
#include <gtest/gtest.h>

#include <cstring>

#include "ps/ps.pb.h"
#include "train/ps_wire.h"

namespace loom::train::wire {
namespace {

std::vector<float> Floats(size_t n, float base) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = base + static_cast<float>(i) * 0.25f;
  return v;
}

std::string Join(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// `bytes` cut into slices of 1, 2, 3, ... bytes (floats straddle slice boundaries).
grpc::ByteBuffer Sliced(const std::string& bytes) {
  std::vector<grpc::Slice> slices;
  size_t at = 0;
  for (size_t len = 1; at < bytes.size(); ++len) {
    const size_t take = std::min(len, bytes.size() - at);
    slices.emplace_back(bytes.data() + at, take);
    at += take;
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

TEST(PsWireTest, PushRequestReadByProtobuf) {
  const std::vector<float> a = Floats(10, 1), b = Floats(7, -3);
  std::vector<Chunk> chunks = {{reinterpret_cast<const char*>(a.data()), a.size() * 4},
                               {reinterpret_cast<const char*>(b.data()), b.size() * 4}};
  ps::PushRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(Join(EncodePushRequest("w:2x5,b:7", 3, 1234567890123, chunks))));
  EXPECT_EQ(parsed.layout(), "w:2x5,b:7");
  EXPECT_EQ(parsed.replica(), 3);
  EXPECT_EQ(parsed.step(), 1234567890123);
  ASSERT_EQ(parsed.gradients().size(), 17u * 4);
  EXPECT_EQ(std::memcmp(parsed.gradients().data(), a.data(), 40), 0);
  EXPECT_EQ(std::memcmp(parsed.gradients().data() + 40, b.data(), 28), 0);
}

TEST(PsWireTest, PushRequestFromProtobuf) {
  const std::vector<float> g = Floats(33, 0.5f);
  ps::PushRequest request;
  request.set_layout("x:33");
  request.set_replica(-1);  // negative int32: ten varint bytes
  request.set_step(42);
  request.set_gradients(std::string(reinterpret_cast<const char*>(g.data()), g.size() * 4));
  PushRequestFields fields;
  std::vector<float> out;
  ASSERT_TRUE(DecodePushRequest(Sliced(request.SerializeAsString()), &fields, &out).ok());
  EXPECT_EQ(fields.layout, "x:33");
  EXPECT_EQ(fields.replica, -1);
  EXPECT_EQ(fields.step, 42);
  EXPECT_EQ(out, g);
}

TEST(PsWireTest, VariablesBothWays) {
  const std::vector<float> w = Floats(101, 2);
  ps::Variables parsed;
  ASSERT_TRUE(parsed.ParseFromString(Join(EncodeVariables(77, w.data(), w.size(), true, false))));
  EXPECT_EQ(parsed.global_step(), 77);
  EXPECT_TRUE(parsed.done());
  EXPECT_FALSE(parsed.applied());
  ASSERT_EQ(parsed.variables().size(), w.size() * 4);
  EXPECT_EQ(std::memcmp(parsed.variables().data(), w.data(), w.size() * 4), 0);

  parsed.set_applied(true);
  parsed.set_done(false);
  std::vector<float> out(w.size(), 0);
  VariablesFields fields;
  ASSERT_TRUE(DecodeVariables(Sliced(parsed.SerializeAsString()), &fields, [&](size_t at, const char* d, size_t n) {
                ASSERT_LE(at + n, out.size() * 4);
                std::memcpy(reinterpret_cast<char*>(out.data()) + at, d, n);
              }).ok());
  EXPECT_EQ(fields.global_step, 77);
  EXPECT_FALSE(fields.done);
  EXPECT_TRUE(fields.applied);
  EXPECT_EQ(fields.variable_bytes, w.size() * 4);
  EXPECT_EQ(out, w);
}

TEST(PsWireTest, MalformedIsAnError) {
  ps::PushRequest request;
  request.set_layout("x:3");
  request.set_gradients(std::string(12, '\1'));
  const std::string good = request.SerializeAsString();
  PushRequestFields fields;
  std::vector<float> out;
  for (size_t cut = 1; cut < good.size(); ++cut)  // every truncation inside a field
    if (cut != 5) {                                 // (5: between the two: a valid message)
      EXPECT_FALSE(DecodePushRequest(Sliced(good.substr(0, cut)), &fields, &out).ok()) << cut;
    }
  request.set_gradients(std::string(13, '\1'));
  Status odd = DecodePushRequest(Sliced(request.SerializeAsString()), &fields, &out);
  EXPECT_NE(odd.message().find("PushRequest.gradients: not a whole number of floats"), std::string::npos) << odd.ToString();
  VariablesFields vf;
  EXPECT_FALSE(DecodeVariables(Sliced(std::string("\x12\x7f", 2)), &vf, [](size_t, const char*, size_t) {}).ok());
}

}  // namespace
}  // namespace loom::train::wire
