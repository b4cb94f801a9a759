// The conformance suite every ObjectStore passes: the same tests run against FileStore (unit) and
// S3Store on a real Swift server (integration). A test file instantiates it with
// INSTANTIATE_TEST_SUITE_P(Name, StoreConformanceTest, ::testing::Values(StoreFactory{...})).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <memory>
#include <random>
#include <string>

#include "core/file.h"
#include "storage/hash.h"
#include "storage/object_store.h"
#include "random_bytes.h"
#include "test_util/test_env.h"

namespace loom::storage::testing {

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<ObjectStore>()> make;
};

class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam().make();
    ASSERT_NE(store_, nullptr);
    // A fresh prefix per test, so runs against a shared server do not meet.
    prefix_ = "conf-" + std::to_string(std::random_device{}()) + "/";
  }
  // Puts `content` as prefix_+name through a local file, reads it back, checks sha256 both ways.
  void RoundTrip(const std::string& name, const std::string& content) {
    std::string src = scratch_.Join("src");
    ASSERT_TRUE(WriteFileAtomic(src, content).ok());
    auto put = store_->Put(prefix_ + name, src, {});
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_EQ(put->size, static_cast<int64_t>(content.size()));
    auto head = store_->Head(prefix_ + name);
    ASSERT_TRUE(head.ok()) << head.status().ToString();
    EXPECT_EQ(head->size, static_cast<int64_t>(content.size()));
    std::string dst = scratch_.Join("dst");
    auto got = store_->Get(prefix_ + name, dst, {});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    auto want_sha = Sha256Hex(content);
    auto got_sha = Sha256OfFile(dst);
    ASSERT_TRUE(got_sha.ok());
    EXPECT_EQ(*got_sha, want_sha) << name;
    auto listed = store_->ListAll(prefix_ + name);
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    bool found = false;
    for (const auto& o : *listed) found |= o.key == prefix_ + name && o.size == static_cast<int64_t>(content.size());
    EXPECT_TRUE(found) << name << " not listed";
  }

  loom::testing::ScratchDir scratch_;
  std::unique_ptr<ObjectStore> store_;
  std::string prefix_;
};

TEST_P(StoreConformanceTest, ZeroBytes) { RoundTrip("empty", ""); }
TEST_P(StoreConformanceTest, OneByte) { RoundTrip("one", "x"); }

TEST_P(StoreConformanceTest, FiveMiBPlusOne) {
  std::string content = RandomBytes((5 << 20) + 1, 5);
  RoundTrip("five", content);
  // A range across the 5 MiB boundary (a part boundary for S3's multipart).
  GetOptions range;
  range.offset = (5 << 20) - 10;
  range.length = 11;
  std::string dst = scratch_.Join("range");
  auto got = store_->Get(prefix_ + "five", dst, range);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  auto bytes = ReadFile(dst);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, content.substr((5 << 20) - 10, 11));
}

TEST_P(StoreConformanceTest, TwoHundredMiB) {
  std::string content = RandomBytes(200 << 20, 200);
  RoundTrip("big", content);
}

TEST_P(StoreConformanceTest, NamesWithSpacesAndUnicode) {
  RoundTrip("a dir/with space & plus+sign.txt", "spaces");
  RoundTrip("données/naïve ☃ 日本語.bin", "unicode");
  auto page = store_->List({prefix_, "/", 1000, ""});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->common_prefixes.size(), 2u);
  EXPECT_EQ(page->common_prefixes[0], prefix_ + "a dir/");
  EXPECT_EQ(page->common_prefixes[1], prefix_ + "données/");
}

// Keys with XML's special characters and non-ASCII: S3 answers listings in XML, where they
// arrive as entities (&amp; &lt; &gt; &quot; &apos;) or raw; a key must list as it was put, or
// sync and the dataset cache would ask for a key that does not exist.
TEST_P(StoreConformanceTest, NamesWithXmlSpecialCharacters) {
  const std::string special = "dir/a&b<c>\"q'.txt";
  const std::string prefixed = "x&y<z>\"'/ü€😀 key.bin";
  RoundTrip(special, "special");
  RoundTrip(prefixed, "prefixed");
  auto all = store_->ListAll(prefix_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::vector<std::string> keys;
  for (const auto& o : *all) keys.push_back(o.key);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{prefix_ + special, prefix_ + prefixed}));
  auto page = store_->List({prefix_, "/", 1000, ""});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{prefix_ + "dir/", prefix_ + "x&y<z>\"'/"}));
  // Each listed key reads back and deletes as itself.
  for (const std::string& key : keys) {
    auto head = store_->Head(key);
    EXPECT_TRUE(head.ok()) << key << ": " << head.status().ToString();
    EXPECT_TRUE(store_->Delete(key).ok()) << key;
    EXPECT_EQ(store_->Head(key).status().code(), StatusCode::kNotFound) << key;
  }
}

TEST_P(StoreConformanceTest, MissingKey) {
  std::string dst = scratch_.Join("missing");
  auto got = store_->Get(prefix_ + "nothing", dst, {});
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound) << got.status().ToString();
  EXPECT_FALSE(PathExists(dst));
  auto names = ListDir(scratch_.path());
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty()) << "a failed Get left " << (*names)[0];
  EXPECT_EQ(store_->Head(prefix_ + "nothing").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete(prefix_ + "nothing").ok());
}

TEST_P(StoreConformanceTest, DeleteRemoves) {
  RoundTrip("gone", "bye");
  ASSERT_TRUE(store_->Delete(prefix_ + "gone").ok());
  EXPECT_EQ(store_->Head(prefix_ + "gone").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, ListsTwoThousandFiveHundredInPages) {
  std::string src = scratch_.Join("small");
  ASSERT_TRUE(WriteFileAtomic(src, "k").ok());
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; ++i) {
    char name[32];
    snprintf(name, sizeof name, "many/%s/%05d", i % 2 ? "odd" : "even", i);
    keys.push_back(prefix_ + name);
  }
  // Four writers at once (stores are thread-safe), so a real server takes a quarter of the time.
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&] {
      for (int i; (i = next++) < static_cast<int>(keys.size());) failed += !store_->Put(keys[i], src, {}).ok();
    });
  for (auto& w : writers) w.join();
  ASSERT_EQ(failed, 0);
  std::sort(keys.begin(), keys.end());
  // Pages of 1000: 1000 + 1000 + 500, in order, no duplicates.
  ListOptions options;
  options.prefix = prefix_ + "many/";
  std::vector<std::string> seen;
  int pages = 0;
  do {
    auto page = store_->List(options);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ++pages;
    for (const auto& o : page->objects) seen.push_back(o.key);
    options.continuation_token = page->next_token;
  } while (!options.continuation_token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, keys);
  // With a delimiter: two common prefixes and no objects.
  auto rolled = store_->List({prefix_ + "many/", "/", 1000, ""});
  ASSERT_TRUE(rolled.ok());
  EXPECT_TRUE(rolled->objects.empty());
  EXPECT_EQ(rolled->common_prefixes, (std::vector<std::string>{prefix_ + "many/even/", prefix_ + "many/odd/"}));
  // max_keys 1 with a delimiter: one entry per page, prefixes count as entries.
  auto one = store_->List({prefix_ + "many/", "/", 1, ""});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->common_prefixes.size(), 1u);
  EXPECT_FALSE(one->next_token.empty());
  auto two = store_->List({prefix_ + "many/", "/", 1, one->next_token});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->common_prefixes, (std::vector<std::string>{prefix_ + "many/odd/"}));
}

}  // namespace loom::storage::testing
