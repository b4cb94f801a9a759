#include "data/idx.h"

#include <gtest/gtest.h>

#include "idx_writer.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

using ::loom::testing::Gzip;
using ::loom::testing::IdxFile;
using ::loom::testing::IdxHeader;
using ::loom::testing::ScratchDir;
using ::loom::testing::WriteOrDie;

std::vector<uint8_t> Iota(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

// Reads `bytes` written to a file named `name` and expects an error naming that file and
// containing `fragment`; returns the message.
std::string ExpectError(const std::string& bytes, StatusCode code, const std::string& fragment,
                        int expected_rank = 0) {
  ScratchDir dir;
  std::string path = dir.Join("train-images-idx3-ubyte");
  WriteOrDie(path, bytes);
  auto r = ReadIdx(path, expected_rank);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  const std::string msg = r.status().message();
  EXPECT_EQ(r.status().code(), code) << msg;
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;  // starts with the file's path
  EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  return msg;
}

TEST(IdxTest, ReadsRawFile) {
  ScratchDir dir;
  auto data = Iota(3 * 4 * 5);
  WriteOrDie(dir.Join("a"), IdxFile({3, 4, 5}, data));
  auto r = ReadIdx(dir.Join("a"), 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->dims, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(r->rank(), 3);
  EXPECT_EQ(r->data, data);
}

TEST(IdxTest, ReadsGzipFileByMagicNotName) {
  ScratchDir dir;
  auto data = Iota(1000);
  std::string gz = Gzip(IdxFile({1000}, data));
  WriteOrDie(dir.Join("labels"), gz);  // no .gz suffix
  WriteOrDie(dir.Join("labels.gz"), gz);
  for (const char* name : {"labels", "labels.gz"}) {
    auto r = ReadIdx(dir.Join(name), 1);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->dims, (std::vector<int64_t>{1000}));
    EXPECT_EQ(r->data, data);
  }
}

TEST(IdxTest, RawFileNamedGzIsReadAsRaw) {
  ScratchDir dir;
  auto data = Iota(6);
  WriteOrDie(dir.Join("x.gz"), IdxFile({2, 3}, data));
  auto r = ReadIdx(dir.Join("x.gz"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, data);
}

TEST(IdxTest, ReadsConcatenatedGzipMembers) {
  ScratchDir dir;
  auto data = Iota(4 * 300);
  std::string whole = IdxFile({4, 300}, data);
  WriteOrDie(dir.Join("a"), Gzip(whole.substr(0, 500)) + Gzip(whole.substr(500)));
  auto r = ReadIdx(dir.Join("a"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, data);
}

TEST(IdxTest, MissingFile) {
  ScratchDir dir;
  std::string path = dir.Join("t10k-labels-idx1-ubyte");
  auto r = ReadIdx(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
}

TEST(IdxTest, TruncatedPayload) {
  std::string file = IdxFile({3, 4}, Iota(12)).substr(0, 8 + 4 + 5);
  ExpectError(file, StatusCode::kDataLoss,
              "truncated: header says 3x4 (12 bytes), file has 5 after the 12-byte header");
  ExpectError(Gzip(file), StatusCode::kDataLoss,
              "truncated: header says 3x4 (12 bytes), file has 5 (decompressed)");
}

TEST(IdxTest, HeaderClaimingFarMoreThanTheFileIsTruncatedNotAllocated) {
  // 10^12 bytes claimed: caught from the file size before any allocation.
  std::string file = IdxHeader({1000000, 1000000}) + "abc";
  ExpectError(file, StatusCode::kDataLoss,
              "truncated: header says 1000000x1000000 (1000000000000 bytes), file has 3");
  ExpectError(Gzip(file), StatusCode::kDataLoss, "file has 3 (decompressed)");
}

TEST(IdxTest, TruncatedHeader) {
  ExpectError("", StatusCode::kDataLoss, "truncated: 0 bytes");
  ExpectError(std::string("\0\0\x08", 3), StatusCode::kDataLoss, "truncated: 3 bytes");
  ExpectError(IdxHeader({60000, 28, 28}).substr(0, 10), StatusCode::kDataLoss,
              "truncated: the header of rank 3 needs 16 bytes, file has 10");
}

TEST(IdxTest, TrailingBytes) {
  std::string file = IdxFile({2, 3}, Iota(6)) + "junk";
  ExpectError(file, StatusCode::kDataLoss,
              "trailing bytes: header says 2x3 (6 bytes), file has 10 after the 12-byte header");
  ExpectError(Gzip(file), StatusCode::kDataLoss, "trailing bytes: header says 2x3 (6 bytes)");
}

TEST(IdxTest, BadMagic) {
  ExpectError("PK\x03\x04 this is a zip", StatusCode::kInvalidArgument,
              "bad magic 0x50 0x4B 0x03 0x04: not an IDX file");
  ExpectError(Gzip("hello world, not an idx file"), StatusCode::kInvalidArgument, "bad magic");
}

TEST(IdxTest, UnsupportedElementType) {
  std::string file = IdxHeader({2}, 0x0D) + std::string(8, '\0');
  ExpectError(file, StatusCode::kInvalidArgument,
              "IDX element type 0x0D (float32) is not supported; only 0x08 (unsigned byte) is");
}

TEST(IdxTest, WrongRank) {
  ExpectError(IdxFile({10}, Iota(10)), StatusCode::kInvalidArgument,
              "IDX rank is 1, expected 3", /*expected_rank=*/3);
  ExpectError(IdxHeader({}), StatusCode::kInvalidArgument, "IDX rank is 0");
}

TEST(IdxTest, ZeroDimension) {
  ExpectError(IdxHeader({5, 0, 28}), StatusCode::kInvalidArgument,
              "dimension 1 of 5x0x28 is 0");
}

TEST(IdxTest, CorruptGzip) {
  std::vector<uint8_t> data(5000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>((i * i) % 251);
  std::string gz = Gzip(IdxFile({5000}, data));
  std::string flipped = gz;
  for (size_t i = 20; i < 60; ++i) flipped[i] = static_cast<char>(~flipped[i]);
  ExpectError(flipped, StatusCode::kDataLoss, "corrupt gzip data");
  // Cut short: the deflate stream never ends.
  ExpectError(gz.substr(0, gz.size() / 2), StatusCode::kDataLoss, "corrupt gzip data");
  // Intact deflate data, damaged CRC in the trailer.
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0x55;
  ExpectError(bad_crc, StatusCode::kDataLoss, "corrupt gzip data");
}

TEST(IdxTest, DirectoryIsAnError) {
  ScratchDir dir;
  auto r = ReadIdx(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir.path()), std::string::npos);
}

TEST(IdxTest, FormatDims) {
  EXPECT_EQ(FormatDims({60000, 28, 28}), "60000x28x28");
  EXPECT_EQ(FormatDims({7}), "7");
}

}  // namespace
}  // namespace loom
