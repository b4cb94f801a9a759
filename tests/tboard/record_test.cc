#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/file.h"
#include "tboard/crc32c.h"
#include "tboard/record_reader.h"
#include "tboard/record_writer.h"
#include "test_util/test_env.h"

namespace loom::tboard {
namespace {

std::vector<std::string> SampleRecords() {
  std::vector<std::string> out = {"", "a", "hello world", std::string(100000, 'x')};
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  out.push_back(binary);
  return out;
}

void WriteRecords(const std::string& path, const std::vector<std::string>& records) {
  auto writer = RecordWriter::Create(path);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  for (const auto& r : records) ASSERT_TRUE((*writer)->WriteRecord(r).ok());
  ASSERT_TRUE((*writer)->Close().ok());
}

// Reads until the end or an error; returns the records and the final status.
Status ReadAll(const std::string& path, std::vector<std::string>* out) {
  LOOM_ASSIGN_OR_RETURN(auto reader, RecordReader::Open(path));
  std::string record;
  for (;;) {
    LOOM_ASSIGN_OR_RETURN(bool got, reader->ReadRecord(&record));
    if (!got) return OkStatus();
    out->push_back(record);
  }
}

void PatchFile(const std::string& path, size_t offset, char xor_mask) {
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  ASSERT_LT(offset, bytes->size());
  (*bytes)[offset] ^= xor_mask;
  ASSERT_TRUE(WriteFileAtomic(path, *bytes).ok());
}

TEST(RecordTest, FramingIsTfRecord) {
  std::string framed;
  AppendRecord("abc", &framed);
  ASSERT_EQ(framed.size(), kRecordHeaderSize + 3 + kRecordFooterSize);
  EXPECT_EQ(framed.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  uint32_t length_crc = crc32c::Mask(crc32c::Value(framed.data(), 8));
  uint32_t data_crc = crc32c::Mask(crc32c::Value("abc"));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(static_cast<uint8_t>(framed[8 + i]), (length_crc >> (8 * i)) & 0xff);
    EXPECT_EQ(static_cast<uint8_t>(framed[15 + i]), (data_crc >> (8 * i)) & 0xff);
  }
  EXPECT_EQ(framed.substr(12, 3), "abc");
}

// Every TensorFlow event file starts with the 24-byte file_version record, whose first twelve
// bytes are always these.
TEST(RecordTest, MatchesTensorFlowFileHeader) {
  std::string framed;
  AppendRecord(std::string(24, 'x'), &framed);
  EXPECT_EQ(framed.substr(0, 12), std::string("\x18\0\0\0\0\0\0\0\xa3\x7f\x4b\x22", 12));
}

TEST(RecordTest, RoundTrip) {
  testing::ScratchDir dir;
  std::string path = dir.Join("r.tfrecord");
  auto records = SampleRecords();
  WriteRecords(path, records);
  std::vector<std::string> got;
  Status s = ReadAll(path, &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, records);
}

TEST(RecordTest, CreateRefusesExistingFile) {
  testing::ScratchDir dir;
  std::string path = dir.Join("r.tfrecord");
  WriteRecords(path, {"keep me"});
  auto again = RecordWriter::Create(path);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  std::vector<std::string> got;
  ASSERT_TRUE(ReadAll(path, &got).ok());
  EXPECT_EQ(got, std::vector<std::string>{"keep me"});
}

TEST(RecordTest, WriteAfterCloseFails) {
  testing::ScratchDir dir;
  auto writer = RecordWriter::Create(dir.Join("r"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ((*writer)->WriteRecord("x").code(), StatusCode::kFailedPrecondition);
}

TEST(RecordTest, FlippedDataByteNamesFileAndOffset) {
  testing::ScratchDir dir;
  std::string path = dir.Join("r.tfrecord");
  WriteRecords(path, {"first", "second", "third"});
  // Record 1 starts after record 0 (12 + 5 + 4 = 21 bytes); flip its 3rd data byte.
  const size_t second = kRecordHeaderSize + 5 + kRecordFooterSize;
  PatchFile(path, second + kRecordHeaderSize + 2, 0x01);
  std::vector<std::string> got;
  Status s = ReadAll(path, &got);
  ASSERT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("offset " + std::to_string(second)), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("data CRC"), std::string::npos) << s.message();
  EXPECT_EQ(got, std::vector<std::string>{"first"});
}

TEST(RecordTest, FlippedLengthByteIsCorrupt) {
  testing::ScratchDir dir;
  std::string path = dir.Join("r.tfrecord");
  WriteRecords(path, {"first", "second"});
  const size_t second = kRecordHeaderSize + 5 + kRecordFooterSize;
  PatchFile(path, second, 0x40);  // length 6 -> 70: would read past the end without the CRC
  std::vector<std::string> got;
  Status s = ReadAll(path, &got);
  ASSERT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find(path), std::string::npos);
  EXPECT_NE(s.message().find("offset " + std::to_string(second)), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("length CRC"), std::string::npos) << s.message();
}

TEST(RecordTest, FlippedCrcBytesAreCorrupt) {
  testing::ScratchDir dir;
  std::string path = dir.Join("r.tfrecord");
  for (size_t offset : {size_t{8}, size_t{11}, kRecordHeaderSize + 5, kRecordHeaderSize + 8}) {
    RemoveAll(path).ok();
    WriteRecords(path, {"first"});
    PatchFile(path, offset, 0x10);
    std::vector<std::string> got;
    Status s = ReadAll(path, &got);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "byte " << offset << ": " << s.ToString();
    EXPECT_NE(s.message().find("offset 0"), std::string::npos) << s.message();
  }
}

// Every cut inside the last record is "truncated" at that record's offset; a cut exactly
// between records is a clean end.
TEST(RecordTest, TruncationIsDistinguishedFromCleanEnd) {
  testing::ScratchDir dir;
  std::string path = dir.Join("r.tfrecord");
  WriteRecords(path, {"first", "second"});
  auto full = ReadFile(path);
  ASSERT_TRUE(full.ok());
  const size_t second = kRecordHeaderSize + 5 + kRecordFooterSize;
  for (size_t cut = second; cut < full->size(); ++cut) {
    ASSERT_TRUE(WriteFileAtomic(path, full->substr(0, cut)).ok());
    std::vector<std::string> got;
    Status s = ReadAll(path, &got);
    EXPECT_EQ(got, std::vector<std::string>{"first"}) << "cut " << cut;
    if (cut == second) {
      EXPECT_TRUE(s.ok()) << "cut " << cut << ": " << s.ToString();
    } else {
      ASSERT_EQ(s.code(), StatusCode::kOutOfRange) << "cut " << cut << ": " << s.ToString();
      EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
      EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
      EXPECT_NE(s.message().find("offset " + std::to_string(second)), std::string::npos)
          << s.message();
    }
  }
}

// A reader that met a torn tail reads the record once the writer has finished it.
TEST(RecordTest, ReaderFollowsAGrowingFile) {
  testing::ScratchDir dir;
  std::string path = dir.Join("r.tfrecord");
  std::string framed;
  AppendRecord("one", &framed);
  AppendRecord("two", &framed);
  const size_t first_end = kRecordHeaderSize + 3 + kRecordFooterSize;
  ASSERT_TRUE(WriteFileAtomic(path, framed.substr(0, first_end + 5)).ok());

  auto reader = RecordReader::Open(path);
  ASSERT_TRUE(reader.ok());
  std::string record;
  auto got = (*reader)->ReadRecord(&record);
  ASSERT_TRUE(got.ok() && *got);
  EXPECT_EQ(record, "one");
  got = (*reader)->ReadRecord(&record);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ((*reader)->offset(), first_end);

  // The writer appends the rest (same inode: the reader keeps its descriptor).
  FILE* f = std::fopen(path.c_str(), "ab");
  ASSERT_NE(f, nullptr);
  std::string rest = framed.substr(first_end + 5);
  ASSERT_EQ(std::fwrite(rest.data(), 1, rest.size(), f), rest.size());
  std::fclose(f);

  got = (*reader)->ReadRecord(&record);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(*got);
  EXPECT_EQ(record, "two");
  got = (*reader)->ReadRecord(&record);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got);
}

TEST(RecordTest, MissingFileIsNotFound) {
  auto reader = RecordReader::Open("/nonexistent/loom/events");
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
  EXPECT_NE(reader.status().message().find("/nonexistent/loom/events"), std::string::npos);
}

TEST(RecordTest, EmptyFileIsCleanEnd) {
  testing::ScratchDir dir;
  std::string path = dir.Join("empty");
  ASSERT_TRUE(WriteFileAtomic(path, "").ok());
  std::vector<std::string> got;
  EXPECT_TRUE(ReadAll(path, &got).ok());
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace loom::tboard
