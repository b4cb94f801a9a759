#include "nn/compute_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "nn/model.h"

namespace loom::nn {
namespace {

TEST(ComputePoolTest, OnePoolPerThreadCount) {
  EXPECT_EQ(ComputePool::Get(2), ComputePool::Get(2));
  EXPECT_NE(ComputePool::Get(2), ComputePool::Get(3));
  EXPECT_EQ(ComputePool::Get(3)->size(), 3);
}

TEST(ComputePoolTest, CoversTheRangeAcrossSleeps) {
  ComputePool* pool = ComputePool::Get(2);
  for (int rep = 0; rep < 6; ++rep) {
    std::atomic<int64_t> sum{0};
    pool->ParallelFor(1000, [&](int, int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 999 * 1000 / 2);
    // Longer than the workers watch for work: the next call has to wake them from sleep.
    if (rep % 2) std::this_thread::sleep_for(std::chrono::microseconds(5 * ThreadPool::kSpinMicros));
  }
}

TEST(ComputePoolTest, BusyPoolRunsInlineOnTheCaller) {
  ComputePool* pool = ComputePool::Get(2);
  std::atomic<bool> inside{false}, release{false};
  std::thread holder([&] {
    pool->ParallelFor(2, [&](int, int64_t, int64_t) {
      inside = true;
      while (!release) std::this_thread::yield();
    });
  });
  while (!inside) std::this_thread::yield();
  int calls = 0;
  int64_t covered = 0;
  pool->ParallelFor(10, [&](int thread, int64_t b, int64_t e) {
    ++calls;  // not atomic: inline means one call on this thread
    EXPECT_EQ(thread, 0);
    covered += e - b;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(covered, 10);
  release = true;
  holder.join();
}

// Two 2-thread models trained from two threads at once share the pool (one of them runs
// inline when it finds it busy) and get exactly what each gets alone.
TEST(ComputePoolTest, TwoModelsAtOnceMatchAlone) {
  std::vector<float> images(100 * 784);
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(i % 251) / 251.0f;
  std::vector<int32_t> labels(100);
  for (int i = 0; i < 100; ++i) labels[i] = i % 10;
  ModelOptions options;
  options.num_threads = 2;
  auto run = [&](std::vector<float>* loss_out, Tensor* grad_out) {
    auto model = Model::Create(ModelSpec::Mlp(64), options);
    ASSERT_TRUE(model.ok());
    (*model)->InitParameters(4);
    for (int step = 0; step < 50; ++step)
      loss_out->push_back((*model)->ComputeGradients(images.data(), labels.data(), 100));
    *grad_out = (*model)->parameters()[0].grad;
  };
  std::vector<float> alone_loss, a_loss, b_loss;
  Tensor alone_grad, a_grad, b_grad;
  run(&alone_loss, &alone_grad);
  std::thread a([&] { run(&a_loss, &a_grad); });
  std::thread b([&] { run(&b_loss, &b_grad); });
  a.join();
  b.join();
  EXPECT_EQ(a_loss, alone_loss);
  EXPECT_EQ(b_loss, alone_loss);
  EXPECT_EQ(a_grad, alone_grad);
  EXPECT_EQ(b_grad, alone_grad);
}

}  // namespace
}  // namespace loom::nn
