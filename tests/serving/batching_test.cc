#include "serving/batching.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
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

// Counts the answers PredictAsync gives and lets the test wait for them.
class Answers {
 public:
  std::function<void(Status)> Callback() {
    return [this](Status s) {
      std::lock_guard<std::mutex> lock(mu_);
      statuses_.push_back(std::move(s));
      cv_.notify_all();
    };
  }
  std::vector<Status> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return statuses_.size() >= n; });
    return statuses_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Status> statuses_;
};

TEST(BatchingTest, PredictAsyncQueuesWithoutBlockingTheCaller) {
  auto inner = std::make_shared<RecordingServable>();
  BatchingParameters params;
  params.max_batch_size = 8;
  params.batch_timeout_micros = 600'000'000;  // only a full batch closes it
  params.num_batch_threads = 1;
  ServingMetrics metrics;
  metrics.EnableBatching();
  BatchingServable batching(inner, params, &metrics);
  Answers answers;
  std::vector<std::array<float, 2>> in(16), out(16);
  // One thread hands over 15 requests: a blocking call would never get past the first.
  for (int c = 0; c < 15; ++c) {
    in[c] = {static_cast<float>(c), 100.0f};
    batching.PredictAsync(in[c].data(), 1, out[c].data(), answers.Callback());
  }
  answers.WaitFor(8);  // the first batch filled and ran; 7 wait for the next
  EXPECT_NE(metrics.PrometheusText().find(":loom:serving:batching:queued_examples 7\n"), std::string::npos)
      << metrics.PrometheusText();
  EXPECT_EQ(answers.count(), 8u);
  in[15] = {15.0f, 100.0f};
  batching.PredictAsync(in[15].data(), 1, out[15].data(), answers.Callback());
  for (const Status& s : answers.WaitFor(16)) EXPECT_TRUE(s.ok());
  EXPECT_EQ(inner->calls.load(), 2);
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(out[c][0], c + 100.0f);
    EXPECT_EQ(out[c][1], 8.0f);  // computed in a batch of 8
  }
  std::string text = metrics.PrometheusText();
  EXPECT_NE(text.find(":loom:serving:batching:processed_batch_size_bucket{le=\"4\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find(":loom:serving:batching:processed_batch_size_bucket{le=\"8\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find(":loom:serving:batching:processed_batch_size_sum 16\n"), std::string::npos) << text;
  EXPECT_NE(text.find(":loom:serving:batching:processed_batch_size_count 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find(":loom:serving:batching:queued_examples 0\n"), std::string::npos) << text;
}

TEST(BatchingTest, FlushRunsPartialBatchesAndAFullQueueIsUnavailable) {
  auto inner = std::make_shared<RecordingServable>();
  BatchingParameters params;
  params.max_batch_size = 4;
  params.batch_timeout_micros = 600'000'000;
  params.max_enqueued_batches = 1;
  params.num_batch_threads = 1;
  BatchingServable batching(inner, params);
  Answers queued, refused;
  float in[6] = {1, 2, 3, 4, 5, 6}, out[6];
  batching.PredictAsync(in, 1, out, queued.Callback());
  batching.PredictAsync(in + 2, 1, out + 2, queued.Callback());
  // 2 queued + 3 more exceed max_enqueued_batches * max_batch_size = 4: refused at once.
  float big_in[6] = {}, big_out[6];
  batching.PredictAsync(big_in, 3, big_out, refused.Callback());
  auto r = refused.WaitFor(1);
  EXPECT_EQ(r[0].code(), StatusCode::kUnavailable);
  EXPECT_EQ(queued.count(), 0u);
  batching.Flush();  // the half-full batch runs without waiting out its timeout
  for (const Status& s : queued.WaitFor(2)) EXPECT_TRUE(s.ok());
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[2], 7.0f);
  EXPECT_EQ(out[1], 2.0f);  // one batch of 2
  // After Flush a lone request runs at once too.
  Answers later;
  batching.PredictAsync(in + 4, 1, out + 4, later.Callback());
  EXPECT_TRUE(later.WaitFor(1)[0].ok());
  EXPECT_EQ(out[4], 11.0f);
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
  // TensorFlow's batching-session knobs are refused by name, not accepted and ignored.
  ASSERT_TRUE(WriteFileAtomic(dir.Join("d.config"), "max_batch_size { value: 8 }\nallowed_batch_sizes: 8\n").ok());
  EXPECT_NE(ReadBatchingParameters(dir.Join("d.config")).status().message().find("d.config: allowed_batch_sizes: not supported"),
            std::string::npos);
  // A typo in the text format names the file, line and column.
  ASSERT_TRUE(WriteFileAtomic(dir.Join("e.config"), "max_batch_size { value: 8 }\nmax_batch_sise { value: 3 }\n").ok());
  EXPECT_NE(ReadBatchingParameters(dir.Join("e.config")).status().message().find(
                "e.config:2:16: Message type \"tensorflow.serving.BatchingParameters\" has no field named \"max_batch_sise\""),
            std::string::npos) << ReadBatchingParameters(dir.Join("e.config")).status().message();
  ASSERT_TRUE(WriteFileAtomic(dir.Join("b.yaml"), "max_batch_size: 0\n").ok());
  auto bad = ReadBatchingParameters(dir.Join("b.yaml"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("b.yaml: max_batch_size"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir.Join("c.yaml"), "max_batch_sise: 3\n").ok());
  EXPECT_NE(ReadBatchingParameters(dir.Join("c.yaml")).status().message().find("c.yaml: max_batch_sise: Cannot find field"),
            std::string::npos);
}

}  // namespace
}  // namespace loom::serving
