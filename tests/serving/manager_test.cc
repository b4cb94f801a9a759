#include "serving/manager.h"

#include <gtest/gtest.h>

#include "core/file.h"
#include "serving/source.h"
#include "test_util/fake_clock.h"
#include "test_util/fake_loader.h"
#include "test_util/test_env.h"

namespace loom::serving {
namespace {

using testing::FakeClock;
using testing::FakeLoader;

std::vector<AspiredVersion> Versions(std::initializer_list<int64_t> vs, const std::string& base) {
  std::vector<AspiredVersion> out;
  for (int64_t v : vs) out.push_back({v, JoinPath(base, std::to_string(v))});
  return out;
}

ServableRequest Req(std::string model, std::optional<int64_t> version = std::nullopt,
                    std::string label = "") {
  return ServableRequest{std::move(model), version, std::move(label)};
}

VersionState StateOf(const ServableManager& m, const std::string& model, int64_t v) {
  auto st = m.GetStatus(model);
  if (!st.ok()) return VersionState::kStart;
  for (const auto& s : *st)
    if (s.version == v) return s.state;
  return VersionState::kStart;
}

TEST(ManagerTest, LoadsServesLatestAndUnloadsOld) {
  loom::testing::ScratchDir dir;
  FakeLoader loader;
  ServableManager manager(&loader);
  manager.SetAspiredVersions("m", Versions({1}, dir.path()));
  auto h = manager.Get(Req("m"));
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->version, 1);
  manager.SetAspiredVersions("m", Versions({2}, dir.path()));
  EXPECT_EQ(manager.Get(Req("m"))->version, 2);
  // Version 1 is unloaded but the handle keeps it alive: UNLOADING, then END once released.
  EXPECT_EQ(StateOf(manager, "m", 1), VersionState::kUnloading);
  EXPECT_EQ(loader.live.load(), 2);
  float score = 0;
  ASSERT_TRUE(h->servable->Predict(nullptr, 1, &score).ok());
  EXPECT_EQ(score, 1.0f);  // the in-flight request finishes on its version
  h = manager.Get(Req("m"));  // drops the last reference to version 1
  EXPECT_EQ(StateOf(manager, "m", 1), VersionState::kEnd);
  EXPECT_EQ(loader.live.load(), 1);
  EXPECT_FALSE(manager.Get(Req("m", 1)).ok());
  EXPECT_EQ(loader.loads.load(), 2);
  // Polling the same versions again loads nothing.
  manager.SetAspiredVersions("m", Versions({2}, dir.path()));
  EXPECT_EQ(loader.loads.load(), 2);
}

TEST(ManagerTest, CorruptVersionIsEndWithErrorAndPreviousKeepsServing) {
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(MakeDirs(dir.Join("2")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("2/corrupt"), "x").ok());
  FakeLoader loader;
  ServableManager manager(&loader);
  manager.SetAspiredVersions("m", Versions({1}, dir.path()));
  manager.SetAspiredVersions("m", Versions({2}, dir.path()));
  EXPECT_EQ(manager.Get(Req("m"))->version, 1);
  auto status = manager.GetStatus("m");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 2u);
  EXPECT_EQ((*status)[0].state, VersionState::kAvailable);
  EXPECT_EQ((*status)[1].state, VersionState::kEnd);
  EXPECT_EQ((*status)[1].status.code(), StatusCode::kDataLoss);
  EXPECT_NE((*status)[1].status.message().find("corrupt"), std::string::npos);
  auto get2 = manager.Get(Req("m", 2));
  EXPECT_EQ(get2.status().code(), StatusCode::kNotFound);
  // A failed version is not retried on every poll.
  int loads = loader.loads.load();
  manager.SetAspiredVersions("m", Versions({2}, dir.path()));
  EXPECT_EQ(loader.loads.load(), loads);
  // A good version 3 replaces version 1.
  manager.SetAspiredVersions("m", Versions({3}, dir.path()));
  EXPECT_EQ(manager.Get(Req("m"))->version, 3);
  EXPECT_EQ(StateOf(manager, "m", 1), VersionState::kEnd);
}

TEST(ManagerTest, VersionsLabelsAndErrors) {
  loom::testing::ScratchDir dir;
  FakeLoader loader;
  ServableManager manager(&loader);
  manager.SetAspiredVersions("m", Versions({1, 2}, dir.path()));
  manager.SetLabels("m", {{"stable", 1}, {"canary", 2}, {"next", 3}});
  EXPECT_EQ(manager.Get(Req("m", 1))->version, 1);
  EXPECT_EQ(manager.Get(Req("m", std::nullopt, "canary"))->version, 2);
  auto next = manager.Get(Req("m", std::nullopt, "next"));
  EXPECT_EQ(next.status().code(), StatusCode::kNotFound);
  auto label = manager.Get(Req("m", std::nullopt, "nope"));
  EXPECT_EQ(label.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(label.status().message(), "Unrecognized servable version label: nope");
  auto model = manager.Get(Req("other"));
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(model.status().message(), "Servable not found for request: Latest(other)");
  auto version = manager.Get(Req("m", 9));
  EXPECT_EQ(version.status().message(), "Servable not found for request: Specific(m, 9)");
  EXPECT_EQ(manager.GetStatus("other").status().code(), StatusCode::kNotFound);
  // Nothing aspired (the directory emptied): everything is unloaded.
  manager.SetAspiredVersions("m", {});
  EXPECT_FALSE(manager.Get(Req("m")).ok());
  EXPECT_EQ(loader.live.load(), 0);
}

TEST(SourceTest, PollsWithTheClockAndAppliesThePolicy) {
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(MakeDirs(dir.Join("1")).ok());
  ASSERT_TRUE(MakeDirs(dir.Join("not_a_version")).ok());
  FakeClock clock;
  FakeLoader loader;
  ServableManager manager(&loader);
  FileSystemSourceOptions options;
  options.models.push_back({"m", "file://" + dir.path(), VersionPolicy{VersionPolicy::Kind::kLatest, 2, {}}});
  options.poll_wait_seconds = 1;
  options.clock = &clock;
  auto source = FileSystemSource::Create(
      options, [&](const std::string& name, std::vector<AspiredVersion> v) {
        manager.SetAspiredVersions(name, std::move(v));
      });
  ASSERT_TRUE(source.ok()) << source.status().message();
  (*source)->Start();  // the first poll happens before Start returns
  EXPECT_EQ(manager.Get(Req("m"))->version, 1);
  clock.WaitForSleepers(1);
  ASSERT_TRUE(MakeDirs(dir.Join("2")).ok());
  ASSERT_TRUE(MakeDirs(dir.Join("3")).ok());
  // Not yet: the poller sleeps until a second has passed on its clock.
  clock.AdvanceMicros(500'000);
  EXPECT_EQ((*source)->polls(), 1);
  int64_t sleeps = clock.total_sleeps();
  clock.AdvanceMicros(500'000);
  clock.WaitForTotalSleeps(sleeps + 1);
  EXPECT_EQ((*source)->polls(), 2);
  EXPECT_EQ(manager.Get(Req("m"))->version, 3);
  EXPECT_TRUE(manager.Get(Req("m", 2)).ok());  // latest 2
  EXPECT_FALSE(manager.Get(Req("m", 1)).ok());
  (*source)->Stop();
}

TEST(SourceTest, ConfigErrors) {
  auto cb = [](const std::string&, std::vector<AspiredVersion>) {};
  FileSystemSourceOptions options;
  options.models.push_back({"", "/x", {}});
  EXPECT_NE(FileSystemSource::Create(options, cb).status().message().find("models[0].name"),
            std::string::npos);
  options.models = {{"a", "/x", {}}, {"a", "/y", {}}};
  EXPECT_NE(FileSystemSource::Create(options, cb).status().message().find("configured twice"),
            std::string::npos);
  options.models = {{"a", "/does/not/exist", {}}};
  auto source = FileSystemSource::Create(options, cb);
  ASSERT_TRUE(source.ok());
  EXPECT_EQ((*source)->PollOnce().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace loom::serving
