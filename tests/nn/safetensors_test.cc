#include "nn/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/file.h"
#include "test_util/test_env.h"

namespace loom::nn {
namespace {

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

std::string FloatBytes(std::initializer_list<float> values) {
  std::string s;
  for (float f : values) s.append(reinterpret_cast<const char*>(&f), 4);
  return s;
}

// A file as the Hugging Face library lays it out, byte by byte: header padded with spaces.
std::string HandBuilt(const std::string& header_json, const std::string& data) {
  std::string header = header_json;
  header.append((8 - header.size() % 8) % 8, ' ');
  return Le64(header.size()) + header + data;
}

Tensor Make(std::vector<int64_t> shape, std::initializer_list<float> values) {
  Tensor t(std::move(shape));
  int i = 0;
  for (float v : values) t[i++] = v;
  return t;
}

const char kHeader[] =
    R"({"__metadata__":{"format":"pt","step":"550"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
    R"("b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}})";

TEST(SafetensorsTest, WritesTheFormatByteForByte) {
  std::vector<NamedTensor> tensors = {{"a", Make({2}, {1.0f, -2.5f})}, {"b", Make({1, 1}, {3.0f})}};
  testing::ScratchDir dir;
  const std::string path = dir.Join("x.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}, {"step", "550"}}).ok());
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  const std::string expected = HandBuilt(kHeader, FloatBytes({1.0f, -2.5f, 3.0f}));
  EXPECT_EQ(*bytes, expected);
  EXPECT_EQ(bytes->size() % 4, 0u);
  // Nothing but the file is left in the directory (the write was atomic).
  EXPECT_EQ(*ListDir(dir.path()), std::vector<std::string>{"x.safetensors"});
}

TEST(SafetensorsTest, ReadsAHandBuiltFile) {
  testing::ScratchDir dir;
  const std::string path = dir.Join("hand.safetensors");
  ASSERT_TRUE(WriteFileAtomic(path, HandBuilt(kHeader, FloatBytes({1.0f, -2.5f, 3.0f}))).ok());
  auto file = ReadSafetensors(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->tensors.size(), 2u);
  EXPECT_EQ(file->tensors[0].name, "a");
  EXPECT_EQ(file->tensors[0].tensor, Make({2}, {1.0f, -2.5f}));
  EXPECT_EQ(file->tensors[1].name, "b");
  EXPECT_EQ(file->tensors[1].tensor, Make({1, 1}, {3.0f}));
  EXPECT_EQ(file->metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"step", "550"}}));
}

TEST(SafetensorsTest, RoundTripsManyShapes) {
  std::vector<NamedTensor> tensors;
  tensors.push_back({"dense_0/kernel", Tensor({784, 100})});
  for (int64_t i = 0; i < tensors[0].tensor.size(); ++i) tensors[0].tensor[i] = 0.001f * static_cast<float>(i % 977) - 0.3f;
  tensors.push_back({"scalar", Make({}, {42.0f})});
  tensors.push_back({"empty", Tensor({0, 3})});
  tensors.push_back({"conv/kernel", Make({1, 1, 1, 2}, {5.0f, 6.0f})});
  testing::ScratchDir dir;
  const std::string path = dir.Join("m.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors, {}).ok());
  auto file = ReadSafetensors(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(file->tensors[i].name, tensors[i].name);
    EXPECT_EQ(file->tensors[i].tensor, tensors[i].tensor) << tensors[i].name;
  }
  EXPECT_TRUE(file->metadata.empty());
  // Overwriting replaces the file whole.
  ASSERT_TRUE(WriteSafetensors(path, {tensors[1]}, {{"k", "v"}}).ok());
  auto again = ReadSafetensors(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tensors.size(), 1u);
  EXPECT_EQ(again->metadata.at("k"), "v");
}

TEST(SafetensorsTest, RejectsBadNamesOnWrite) {
  testing::ScratchDir dir;
  const std::string path = dir.Join("w.safetensors");
  Status dup = WriteSafetensors(path, {{"a", Tensor({1})}, {"a", Tensor({1})}}, {});
  EXPECT_EQ(dup.message(), path + ": tensor a appears twice");
  EXPECT_FALSE(WriteSafetensors(path, {{"__metadata__", Tensor({1})}}, {}).ok());
  EXPECT_FALSE(PathExists(path));
}

struct Corruption {
  const char* what;
  std::string bytes;
  const char* error;  // after "<path>: "
};

TEST(SafetensorsTest, RejectsEveryCorruption) {
  const std::string data = FloatBytes({1.0f, 2.0f, 3.0f});
  auto header = [](const std::string& body) { return std::string("{") + body + "}"; };
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  std::string good = HandBuilt(kHeader, data);
  std::vector<Corruption> cases = {
      {"empty file", "", "not a safetensors file: 0 bytes, shorter than the 8-byte header length"},
      {"short file", "abc", "not a safetensors file: 3 bytes, shorter than the 8-byte header length"},
      {"header longer than file", Le64(1000) + "{}", "header length 1000 exceeds the file size 10"},
      {"huge header length", Le64(~uint64_t{0}) + "{}", "header length 18446744073709551615 exceeds the file size 10"},
      {"truncated data", good.substr(0, good.size() - 4), "tensor b: data_offsets [8,12] are beyond the 8 bytes of data"},
      {"not json", HandBuilt("{not json", data), ""},
      {"not an object", HandBuilt("[1,2]", ""), "header is not a JSON object"},
      {"f16", HandBuilt(header(R"("a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]})"), data.substr(0, 4)),
       "tensor a: dtype F16 is not supported (only F32)"},
      {"missing offsets", HandBuilt(header(R"("a":{"dtype":"F32","shape":[2]})"), ""),
       "tensor a: needs dtype, shape and data_offsets"},
      {"extra key", HandBuilt(header(R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1})"), data.substr(0, 4)),
       "tensor a: unknown key x"},
      {"negative dim", HandBuilt(header(R"("a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), data.substr(0, 4)),
       "tensor a: shape must be a list of non-negative integers, got [-1]"},
      {"offsets reversed", HandBuilt(header(R"("a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]})"), data),
       "tensor a: data_offsets [8,0] end before they begin"},
      {"out of bounds", HandBuilt(header(R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})"), data),
       "tensor a: data_offsets [0,16] are beyond the 12 bytes of data"},
      {"shape vs bytes", HandBuilt(header(R"("a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), data.substr(0, 8)),
       "tensor a: shape [3] needs 12 bytes, data_offsets give 8"},
      {"gap", HandBuilt(header(a + R"(,"b":{"dtype":"F32","shape":[],"data_offsets":[12,16]})"), data + data.substr(0, 4)),
       "tensor b: data_offsets begin at 12, leaving a gap (expected 8)"},
      {"overlap", HandBuilt(header(a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]})"), data),
       "tensor b: data_offsets begin at 4, overlapping the previous tensor (expected 8)"},
      {"trailing bytes", HandBuilt(header(a), data), "the tensors cover 8 of the 12 data bytes"},
      {"metadata not strings", HandBuilt(R"({"__metadata__":{"step":550}})", ""), "__metadata__.step must be a string, got 550"},
      {"metadata not object", HandBuilt(R"({"__metadata__":[1]})", ""), "__metadata__ must be an object of strings"},
  };
  testing::ScratchDir dir;
  for (const Corruption& c : cases) {
    const std::string path = dir.Join("bad.safetensors");
    ASSERT_TRUE(WriteFileAtomic(path, c.bytes).ok());
    auto file = ReadSafetensors(path);
    ASSERT_FALSE(file.ok()) << c.what;
    EXPECT_EQ(file.status().code(), StatusCode::kDataLoss) << c.what;
    EXPECT_EQ(file.status().message().rfind(path + ": ", 0), 0u) << c.what << ": " << file.status().message();
    if (*c.error) {
      EXPECT_EQ(file.status().message(), path + ": " + c.error) << c.what;
    }
  }
  auto missing = ReadSafetensors(dir.Join("nope.safetensors"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.safetensors"), std::string::npos);
}

// An independent reader: Python's struct and json read what we wrote.
TEST(SafetensorsTest, PythonReadsOurFile) {
  testing::ScratchDir dir;
  const std::string path = dir.Join("py.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"w", Make({2, 2}, {1, 2, 3, 4.5f})}, {"b", Make({1}, {-1})}}, {{"m", "x"}}).ok());
  const std::string script = dir.Join("read.py");
  ASSERT_TRUE(WriteFileAtomic(script, R"(import json, struct, sys
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
assert n % 8 == 0
h = json.loads(raw[8:8 + n])
data = raw[8 + n:]
out = []
for name in ('w', 'b'):
    t = h[name]
    b, e = t['data_offsets']
    vals = struct.unpack('<%df' % ((e - b) // 4), data[b:e])
    out.append('%s %s %s %s' % (name, t['dtype'], t['shape'], list(vals)))
out.append(h['__metadata__']['m'])
print(';'.join(out))
)").ok());
  const std::string out_path = dir.Join("out.txt");
  ASSERT_EQ(std::system(("python3 " + script + " " + path + " > " + out_path).c_str()), 0);
  EXPECT_EQ(*ReadFile(out_path), "w F32 [2, 2] [1.0, 2.0, 3.0, 4.5];b F32 [1] [-1.0];x\n");
}

}  // namespace
}  // namespace loom::nn
