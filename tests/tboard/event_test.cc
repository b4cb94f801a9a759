#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <thread>

#include "core/file.h"
#include "tboard/event_reader.h"
#include "tboard/event_writer.h"
#include "tboard/record_reader.h"
#include "tensorboard/event.pb.h"
#include "test_util/test_env.h"

namespace loom::tboard {
namespace {

EventWriterOptions Options(const std::string& dir) {
  EventWriterOptions options;
  options.dir = dir;
  options.host = "testhost";
  options.flush_interval_seconds = 0;  // tests flush explicitly
  return options;
}

std::unique_ptr<EventWriter> MakeWriter(const EventWriterOptions& options) {
  auto writer = EventWriter::Create(options);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  return writer.ok() ? std::move(writer).value() : nullptr;
}

TEST(EventWriterTest, FileNameAndDirectory) {
  testing::ScratchDir scratch;
  EventWriterOptions options = Options(scratch.Join("runs/a/train"));  // created
  options.filename_suffix = ".v2";
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(Dirname(writer->path()), options.dir);
  EXPECT_TRUE(std::regex_match(Basename(writer->path()),
                               std::regex(R"(events\.out\.tfevents\.\d{10}\.testhost\.v2)")))
      << writer->path();
  ASSERT_TRUE(writer->Close().ok());
}

TEST(EventWriterTest, DefaultHostIsThisMachine) {
  EventWriterOptions options;
  EXPECT_EQ(options.host, LocalHostName());
  EXPECT_FALSE(options.host.empty());
}

TEST(EventWriterTest, FirstEventIsFileVersionAndVisibleAtOnce) {
  testing::ScratchDir scratch;
  double before = WallTimeNow();
  auto writer = MakeWriter(Options(scratch.path()));
  ASSERT_NE(writer, nullptr);
  // Without Flush(): the header is written by Create.
  auto reader = RecordReader::Open(writer->path());
  ASSERT_TRUE(reader.ok());
  std::string record;
  auto got = (*reader)->ReadRecord(&record);
  ASSERT_TRUE(got.ok() && *got) << got.status().ToString();
  tensorboard::Event event;
  ASSERT_TRUE(event.ParseFromString(record));
  EXPECT_EQ(event.file_version(), "brain.Event:2");
  EXPECT_GE(event.wall_time(), std::floor(before));
  EXPECT_LE(event.wall_time(), WallTimeNow());
  // The name's seconds are the header's wall time.
  std::string secs = std::to_string(static_cast<int64_t>(event.wall_time()));
  EXPECT_NE(Basename(writer->path()).find("tfevents." + secs + "."), std::string::npos);
}

TEST(EventWriterTest, RoundTrip) {
  testing::ScratchDir scratch;
  auto writer = MakeWriter(Options(scratch.path()));
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->WriteScalar("loss", 2.5, 0, 1000.25).ok());
  ASSERT_TRUE(writer->WriteScalar("loss", 0.1, 100, 1001.5).ok());
  ASSERT_TRUE(writer->WriteScalars({{"eval/accuracy", 0.97}, {"eval/loss", 0.09}}, 100, 1002).ok());
  ASSERT_TRUE(writer->WriteScalar("big_step", -1e30, int64_t{1} << 40, 1003).ok());
  std::string path = writer->path();
  ASSERT_TRUE(writer->Close().ok());

  auto contents = ReadEventFile(path);
  ASSERT_TRUE(contents.ok()) << contents.status().ToString();
  EXPECT_EQ(contents->file_version, "brain.Event:2");
  EXPECT_EQ(contents->events, 5u);  // header + 4 (WriteScalars is one event)
  EXPECT_FALSE(contents->truncated_at.has_value());
  std::vector<ScalarEvent> want = {
      {1000.25, 0, "loss", 2.5f},
      {1001.5, 100, "loss", 0.1f},
      {1002, 100, "eval/accuracy", 0.97f},
      {1002, 100, "eval/loss", 0.09f},
      {1003, int64_t{1} << 40, "big_step", -1e30f},
  };
  EXPECT_EQ(contents->scalars, want);
}

TEST(EventWriterTest, NonFiniteValuesSurvive) {
  testing::ScratchDir scratch;
  auto writer = MakeWriter(Options(scratch.path()));
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->WriteScalar("nan", std::nan(""), 1).ok());
  ASSERT_TRUE(writer->WriteScalar("inf", std::numeric_limits<double>::infinity(), 2).ok());
  ASSERT_TRUE(writer->Flush().ok());
  auto contents = ReadEventFile(writer->path());
  ASSERT_TRUE(contents.ok());
  ASSERT_EQ(contents->scalars.size(), 2u);
  EXPECT_TRUE(std::isnan(contents->scalars[0].value));
  EXPECT_TRUE(std::isinf(contents->scalars[1].value));
}

TEST(EventWriterTest, BufferedUntilFlush) {
  testing::ScratchDir scratch;
  auto writer = MakeWriter(Options(scratch.path()));
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->WriteScalar("loss", 1, 1).ok());
  auto contents = ReadEventFile(writer->path());
  ASSERT_TRUE(contents.ok());
  EXPECT_TRUE(contents->scalars.empty());  // buffered
  ASSERT_TRUE(writer->Flush().ok());
  contents = ReadEventFile(writer->path());
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->scalars.size(), 1u);
}

// The background flusher writes without any Flush() call. Polls (no timing assertion): the
// deadline only keeps a broken flusher from hanging the test.
TEST(EventWriterTest, PeriodicFlush) {
  testing::ScratchDir scratch;
  EventWriterOptions options = Options(scratch.path());
  options.flush_interval_seconds = 0.01;
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->WriteScalar("loss", 1, 1).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t seen = 0;
  while (seen == 0 && std::chrono::steady_clock::now() < deadline) {
    auto contents = ReadEventFile(writer->path());
    ASSERT_TRUE(contents.ok());
    seen = contents->scalars.size();
    if (seen == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(seen, 1u);
}

TEST(EventWriterTest, EachWriterGetsItsOwnFile) {
  testing::ScratchDir scratch;
  auto a = MakeWriter(Options(scratch.path()));
  auto b = MakeWriter(Options(scratch.path()));  // very likely the same second
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->path(), b->path());
  EXPECT_LT(Basename(a->path()), Basename(b->path()));  // names sort in creation order
  ASSERT_TRUE(a->WriteScalar("x", 1, 1).ok());
  ASSERT_TRUE(b->WriteScalar("x", 2, 1).ok());
  ASSERT_TRUE(a->Close().ok());
  ASSERT_TRUE(b->Close().ok());
  auto ca = ReadEventFile(a->path());
  auto cb = ReadEventFile(b->path());
  ASSERT_TRUE(ca.ok() && cb.ok());
  ASSERT_EQ(ca->scalars.size(), 1u);
  ASSERT_EQ(cb->scalars.size(), 1u);
  EXPECT_EQ(ca->scalars[0].value, 1.0f);
  EXPECT_EQ(cb->scalars[0].value, 2.0f);
}

TEST(EventWriterTest, ConcurrentWritersLoseNothing) {
  testing::ScratchDir scratch;
  EventWriterOptions options = Options(scratch.path());
  options.buffer_bytes = 512;  // many mid-write flushes
  options.flush_interval_seconds = 0.001;
  auto writer = MakeWriter(options);
  ASSERT_NE(writer, nullptr);
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string tag = "thread" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(writer->WriteScalars({{tag, i}, {tag + "/twice", 2.0 * i}}, i).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(writer->Close().ok());
  auto contents = ReadEventFile(writer->path());
  ASSERT_TRUE(contents.ok()) << contents.status().ToString();
  ASSERT_EQ(contents->scalars.size(), size_t{kThreads * kPerThread * 2});
  std::map<std::string, int> next;  // per tag, steps arrive in order
  for (size_t i = 0; i < contents->scalars.size(); i += 2) {
    const ScalarEvent& s = contents->scalars[i];
    ASSERT_EQ(contents->scalars[i + 1].tag, s.tag + "/twice");  // one event, both values
    EXPECT_EQ(s.step, next[s.tag]++);
    EXPECT_EQ(s.value, static_cast<float>(s.step));
    EXPECT_EQ(contents->scalars[i + 1].value, static_cast<float>(2 * s.step));
  }
}

TEST(EventWriterTest, WritesAfterCloseFail) {
  testing::ScratchDir scratch;
  auto writer = MakeWriter(Options(scratch.path()));
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Close().ok());
  Status s = writer->WriteScalar("loss", 1, 1);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find(writer->path()), std::string::npos);
  EXPECT_EQ(writer->Flush().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer->Close().code(), StatusCode::kFailedPrecondition);
}

TEST(EventWriterTest, BadOptionsAndArguments) {
  EXPECT_EQ(EventWriter::Create(EventWriterOptions{}).status().code(),
            StatusCode::kInvalidArgument);
  testing::ScratchDir scratch;
  EventWriterOptions options = Options(scratch.path());
  options.host = "a/b";
  EXPECT_EQ(EventWriter::Create(options).status().code(), StatusCode::kInvalidArgument);
  // A file where the directory should be.
  ASSERT_TRUE(WriteFileAtomic(scratch.Join("file"), "x").ok());
  auto not_dir = EventWriter::Create(Options(scratch.Join("file")));
  ASSERT_FALSE(not_dir.ok());
  EXPECT_NE(not_dir.status().message().find(scratch.Join("file")), std::string::npos);

  auto writer = MakeWriter(Options(scratch.path()));
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(writer->WriteScalar("", 1, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(writer->WriteScalars({}, 1).code(), StatusCode::kInvalidArgument);
}

TEST(EventReaderTest, TornTailIsToleratedAndReported) {
  testing::ScratchDir scratch;
  auto writer = MakeWriter(Options(scratch.path()));
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->WriteScalar("loss", 1, 1).ok());
  ASSERT_TRUE(writer->Flush().ok());
  auto size_before = ReadFile(writer->path())->size();
  ASSERT_TRUE(writer->WriteScalar("loss", 2, 2).ok());
  std::string path = writer->path();
  ASSERT_TRUE(writer->Close().ok());
  auto full = ReadFile(path);
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(WriteFileAtomic(path, full->substr(0, full->size() - 3)).ok());

  auto contents = ReadEventFile(path);
  ASSERT_TRUE(contents.ok()) << contents.status().ToString();
  ASSERT_EQ(contents->scalars.size(), 1u);
  ASSERT_TRUE(contents->truncated_at.has_value());
  EXPECT_EQ(*contents->truncated_at, size_before);
}

TEST(EventReaderTest, CorruptRecordIsDataLoss) {
  testing::ScratchDir scratch;
  auto writer = MakeWriter(Options(scratch.path()));
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->WriteScalar("loss", 1, 1).ok());
  std::string path = writer->path();
  ASSERT_TRUE(writer->Close().ok());
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  (*bytes)[bytes->size() - 6] ^= 0x20;  // inside the last record's data
  ASSERT_TRUE(WriteFileAtomic(path, *bytes).ok());
  auto contents = ReadEventFile(path);
  ASSERT_FALSE(contents.ok());
  EXPECT_EQ(contents.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(contents.status().message().find(path), std::string::npos);
}

TEST(EventReaderTest, ValidRecordThatIsNotAnEvent) {
  testing::ScratchDir scratch;
  std::string path = scratch.Join("events.out.tfevents.bad");
  std::string framed;
  AppendRecord("\xff\xff\xff", &framed);  // a valid TFRecord, not a valid proto
  ASSERT_TRUE(WriteFileAtomic(path, framed).ok());
  auto contents = ReadEventFile(path);
  ASSERT_FALSE(contents.ok());
  EXPECT_EQ(contents.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(contents.status().message().find("offset 0"), std::string::npos)
      << contents.status().message();
}

}  // namespace
}  // namespace loom::tboard
