// Cross-check against a reader we did not build on: tests/tboard/read_events.py parses the
// TFRecord framing by hand, checks every CRC with the crc32c package and decodes Events with
// classes protoc generates for Python. Events written here must come back identical; a file
// with one flipped byte must be rejected with the offset named.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/json.h"
#include "tboard/event_writer.h"
#include "tboard/record_writer.h"
#include "test_util/test_env.h"

namespace loom::tboard {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout, then stderr
};

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

RunResult RunScript(const std::vector<std::string>& args, const std::string& scratch) {
  std::string err_path = JoinPath(scratch, "stderr.txt");
  std::string cmd = Quote(LOOM_PYTHON3) + " " +
                    Quote(JoinPath(testing::SourceDir(), "tests/tboard/read_events.py")) +
                    " --protoc " + Quote(LOOM_PROTOC) + " --proto_dir " +
                    Quote(JoinPath(testing::SourceDir(), "proto"));
  for (const auto& a : args) {
    cmd += " ";
    cmd += Quote(a);
  }
  cmd += " 2>";
  cmd += Quote(err_path);
  RunResult result;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto err = ReadFile(err_path);
  if (err.ok()) result.output += *err;
  return result;
}

struct Written {
  std::string tag;
  int64_t step;
  double value;
  double wall_time;
};

// Values chosen to catch a wrong width or byte order: not exact in float32, denormal, huge,
// negative zero, and tags with slashes and non-ASCII text.
std::vector<Written> KnownValues() {
  return {
      {"loss", 0, 2.302585092994046, 1700000000.125},
      {"loss", 1, 0.1, 1700000001.5},
      {"accuracy", 1, 0.9123456789, 1700000001.5},
      {"eval/accuracy", 1000, 1.0 / 3.0, 1700000002.75},
      {"tiny", 7, 1.4e-45, 1700000003},
      {"huge", -5, -3.4e38, 1700000004},
      {"negzero", int64_t{1} << 40, -0.0, 1700000005},
      {"über/λ", 42, 123456.789, 1700000006.000001},
  };
}

TEST(PythonCrosscheckTest, IndependentReaderSeesWhatWeWrote) {
  testing::ScratchDir scratch;
  EventWriterOptions options;
  options.dir = scratch.Join("run");
  options.flush_interval_seconds = 0;
  auto writer = EventWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  std::vector<Written> values = KnownValues();
  // Two in one event (WriteScalars), the rest one per event.
  ASSERT_TRUE((*writer)->WriteScalar(values[0].tag, values[0].value, values[0].step,
                                     values[0].wall_time).ok());
  ASSERT_TRUE((*writer)->WriteScalars({{values[1].tag, values[1].value},
                                       {values[2].tag, values[2].value}},
                                      values[1].step, values[1].wall_time).ok());
  for (size_t i = 3; i < values.size(); ++i) {
    ASSERT_TRUE((*writer)->WriteScalar(values[i].tag, values[i].value, values[i].step,
                                       values[i].wall_time).ok());
  }
  std::string path = (*writer)->path();
  ASSERT_TRUE((*writer)->Close().ok());

  RunResult run = RunScript({path}, scratch.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto json = ParseJson(run.output, "read_events.py output");
  ASSERT_TRUE(json.ok()) << json.status().ToString() << "\n" << run.output;
  EXPECT_EQ((*json)["file_version"], "brain.Event:2");
  EXPECT_EQ((*json)["records"], values.size());  // header + 7 events for 8 values
  const Json& scalars = (*json)["scalars"];
  ASSERT_EQ(scalars.size(), values.size()) << run.output;
  for (size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE("scalar " + std::to_string(i) + " " + values[i].tag);
    EXPECT_EQ(scalars[i]["tag"].get<std::string>(), values[i].tag);
    EXPECT_EQ(scalars[i]["step"].get<int64_t>(), values[i].step);
    // Python widens the float32 to double and prints it exactly: compare bit for bit.
    double got = scalars[i]["value"].get<double>();
    float want = static_cast<float>(values[i].value);
    EXPECT_EQ(got, static_cast<double>(want));
    EXPECT_EQ(std::signbit(got), std::signbit(want));
    EXPECT_EQ(scalars[i]["wall_time"].get<double>(), values[i].wall_time);
  }

  // The script's own comparison mode agrees too.
  Json expected = Json::array();
  for (const auto& v : values) expected.push_back({{"step", v.step}, {"tag", v.tag}, {"value", v.value}});
  std::string expect_path = scratch.Join("expected.json");
  ASSERT_TRUE(WriteFileAtomic(expect_path, expected.dump()).ok());
  run = RunScript({"--expect", expect_path, path}, scratch.path());
  EXPECT_EQ(run.exit_code, 0) << run.output;
  // ...and it is not a yes-machine: one changed expected value fails.
  expected[3]["value"] = 0.3334;
  ASSERT_TRUE(WriteFileAtomic(expect_path, expected.dump()).ok());
  run = RunScript({"--expect", expect_path, path}, scratch.path());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("scalar 3"), std::string::npos) << run.output;
}

// Flip one byte in each record in turn, in the length, the length CRC, the data and the data
// CRC: the script must exit 1 and name the offset of that record.
TEST(PythonCrosscheckTest, IndependentReaderRejectsFlippedBytes) {
  testing::ScratchDir scratch;
  EventWriterOptions options;
  options.dir = scratch.Join("run");
  options.flush_interval_seconds = 0;
  auto writer = EventWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->WriteScalar("loss", 0.5, 1).ok());
  ASSERT_TRUE((*writer)->WriteScalar("loss", 0.25, 2).ok());
  std::string path = (*writer)->path();
  ASSERT_TRUE((*writer)->Close().ok());
  auto original = ReadFile(path);
  ASSERT_TRUE(original.ok());

  // Offsets of the three records (header event + 2 scalars), from the framing.
  std::vector<size_t> starts;
  for (size_t at = 0; at < original->size();) {
    starts.push_back(at);
    uint64_t length = 0;
    for (int i = 0; i < 8; ++i) length |= uint64_t{static_cast<uint8_t>((*original)[at + i])} << (8 * i);
    at += kRecordHeaderSize + length + kRecordFooterSize;
  }
  ASSERT_EQ(starts.size(), 3u);

  RunResult clean = RunScript({path}, scratch.path());
  ASSERT_EQ(clean.exit_code, 0) << clean.output;

  for (size_t r = 0; r < starts.size(); ++r) {
    size_t end = r + 1 < starts.size() ? starts[r + 1] : original->size();
    for (size_t flip : {starts[r] + 0, starts[r] + 9, starts[r] + kRecordHeaderSize + 1, end - 2}) {
      SCOPED_TRACE("record at " + std::to_string(starts[r]) + ", byte " + std::to_string(flip));
      std::string bytes = *original;
      bytes[flip] ^= 0x04;
      std::string bad = scratch.Join("bad.tfevents");
      ASSERT_TRUE(WriteFileAtomic(bad, bytes).ok());
      RunResult run = RunScript({bad}, scratch.path());
      EXPECT_EQ(run.exit_code, 1) << run.output;
      EXPECT_NE(run.output.find("offset " + std::to_string(starts[r])), std::string::npos)
          << run.output;
      EXPECT_NE(run.output.find("corrupt"), std::string::npos) << run.output;
    }
  }

  // A torn tail: "truncated" at the last record's offset.
  std::string torn = scratch.Join("torn.tfevents");
  ASSERT_TRUE(WriteFileAtomic(torn, original->substr(0, original->size() - 1)).ok());
  RunResult run = RunScript({torn}, scratch.path());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("truncated record at offset " + std::to_string(starts.back())),
            std::string::npos)
      << run.output;
}

}  // namespace
}  // namespace loom::tboard
