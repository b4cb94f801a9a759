#include "serving/batching.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/file.h"
#include "serving/model_config.h"
#include "test_util/test_env.h"

namespace loom::serving {
namespace {

// Scores of an example: its two inputs summed, and the size of the batch it was computed in.
class RecordingServable : public Servable {
 public:
  RecordingServable() {
    sig_.input_shape = {2};
    sig_.input_size = 2;
    sig_.num_classes = 2;
  }
  const Signature& signature() const override { return sig_; }
  Status Predict(const float* in, int64_t n, float* scores) override {
    ++calls;
    for (int64_t i = 0; i < n; ++i) {
      scores[2 * i] = in[2 * i] + in[2 * i + 1];
      scores[2 * i + 1] = static_cast<float>(n);
    }
    return OkStatus();
  }
  std::atomic<int> calls{0};

 private:
  Signature sig_;
};

TEST(BatchingTest, ConcurrentRequestsRunAsOneBatchAndGetTheirOwnAnswers) {
  auto inner = std::make_shared<RecordingServable>();
  BatchingParameters params;
  params.max_batch_size = 8;
  params.batch_timeout_micros = 60'000'000;  // only a full batch closes it
  params.num_batch_threads = 1;
  BatchingServable batching(inner, params);
  std::vector<std::thread> clients;
  std::vector<std::array<float, 2>> answers(8);
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      float in[2] = {static_cast<float>(c), 100.0f};
      ASSERT_TRUE(batching.Predict(in, 1, answers[c].data()).ok());
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(inner->calls.load(), 1);
  for (int c = 0; c < 8; ++c) {
    EXPECT_EQ(answers[c][0], c + 100.0f);
    EXPECT_EQ(answers[c][1], 8.0f);
  }
  // A request as large as a batch goes straight through.
  std::vector<float> in(16, 1.0f), out(16);
  ASSERT_TRUE(batching.Predict(in.data(), 8, out.data()).ok());
  EXPECT_EQ(inner->calls.load(), 2);
}

TEST(BatchingTest, ZeroTimeoutRunsWhatIsQueued) {
  auto inner = std::make_shared<RecordingServable>();
  BatchingParameters params;
  params.max_batch_size = 4;
  params.batch_timeout_micros = 0;
  BatchingServable batching(inner, params);
  float in[2] = {1, 2}, out[2];
  ASSERT_TRUE(batching.Predict(in, 1, out).ok());
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[1], 1.0f);
}

TEST(BatchingTest, ParametersFileInTfServingTextFormat) {
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("batching.config"),
                              "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 500 }\n"
                              "max_enqueued_batches { value: 1000 }\nnum_batch_threads { value: 2 }\n")
                  .ok());
  auto p = ReadBatchingParameters(dir.Join("batching.config"));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->max_batch_size, 128);
  EXPECT_EQ(p->batch_timeout_micros, 500);
  EXPECT_EQ(p->max_enqueued_batches, 1000);
  EXPECT_EQ(p->num_batch_threads, 2);
  ASSERT_TRUE(WriteFileAtomic(dir.Join("b.yaml"), "max_batch_size: 0\n").ok());
  auto bad = ReadBatchingParameters(dir.Join("b.yaml"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("b.yaml: max_batch_size"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir.Join("c.yaml"), "max_batch_sise: 3\n").ok());
  EXPECT_NE(ReadBatchingParameters(dir.Join("c.yaml")).status().message().find("max_batch_sise: unknown"),
            std::string::npos);
}

}  // namespace
}  // namespace loom::serving
