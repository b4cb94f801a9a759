// Cron schedules (src/workflow/cron.h): the cases of cron/next.txt (which cron/reference.py
// checks independently) and robfig's parse errors. No clock is read: every time is given.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <algorithm>
#include <map>

#include "core/json.h"
#include "core/time.h"
#include "core/yaml_lines.h"
#include "test_util/test_env.h"
#include "workflow/cron.h"
#include "workflow/cron_workflow.h"
#include "workflow/store.h"

namespace loom::workflow {
namespace {

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  const size_t b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

int64_t At(const std::string& rfc3339) { return static_cast<int64_t>(ParseRfc3339(rfc3339)); }

TEST(CronTest, NextTimesOfTheCases) {
  const char* source = std::getenv("LOOM_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "LOOM_SOURCE_DIR";
  std::ifstream in(std::string(source) + "/tests/workflow/cron/next.txt");
  ASSERT_TRUE(in) << "cron/next.txt";
  int cases = 0, line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (Trim(line).empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '|');) cols.push_back(Trim(col));
    ASSERT_EQ(cols.size(), 4u) << "next.txt:" << line_no;
    auto schedule = CronSchedule::Parse(cols[0], cols[1]);
    ASSERT_TRUE(schedule.ok()) << "next.txt:" << line_no << ": " << schedule.status().message();
    int64_t t = At(cols[2]);
    std::stringstream want(cols[3]);
    for (std::string expected; want >> expected;) {
      t = schedule->Next(t);
      if (expected == "-") {
        EXPECT_EQ(t, 0) << "next.txt:" << line_no << ": " << cols[0] << " fires at " << Rfc3339(t);
        break;
      }
      EXPECT_EQ(Rfc3339(static_cast<double>(t)), Rfc3339(At(expected))) << "next.txt:" << line_no << ": " << cols[0];
    }
    ++cases;
  }
  EXPECT_GE(cases, 25);
}

TEST(CronTest, ParseErrorsAreRobfigs) {
  const std::pair<const char*, const char*> cases[] = {
      {"* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
      {"0 0 * * * *", "expected exactly 5 fields, found 6: [0 0 * * * *]"},
      {"60 * * * *", "end of range (60) above maximum (59): 60"},
      {"0 24 * * *", "end of range (24) above maximum (23): 24"},
      {"0 0 0 * *", "beginning of range (0) below minimum (1): 0"},
      {"0 0 * 13 *", "end of range (13) above maximum (12): 13"},
      {"0 0 * * 7", "end of range (7) above maximum (6): 7"},
      {"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
      {"*/0 * * * *", "step of range should be a positive number: */0"},
      {"1-2-3 * * * *", "too many hyphens: 1-2-3"},
      {"*/2/3 * * * *", "too many slashes: */2/3"},
      {"x * * * *", "failed to parse int from x: invalid syntax"},
      {"0 0 * * fun", "failed to parse int from fun: invalid syntax"},
      {"@fortnightly", "unrecognized descriptor: @fortnightly"},
      {"@every 5x", "failed to parse duration 5x: time: invalid duration \"5x\""},
      {"", "empty spec string"},
      {"CRON_TZ=Mars/Olympus 0 0 * * *", "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"},
  };
  for (const auto& [text, message] : cases) {
    auto s = CronSchedule::Parse(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().message(), message) << text;
  }
  auto zone = CronSchedule::Parse("0 0 * * *", "../../etc/passwd");
  ASSERT_FALSE(zone.ok());
  EXPECT_EQ(zone.status().message(), "provided bad location ../../etc/passwd: unknown time zone ../../etc/passwd");
}

TEST(CronTest, OffsetsOfAZone) {
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok()) << ny.status().message();
  EXPECT_EQ(ny->OffsetAt(At("2026-01-15T12:00:00Z")), -5 * 3600);
  EXPECT_EQ(ny->OffsetAt(At("2026-07-15T12:00:00Z")), -4 * 3600);
  // 02:30 on the spring-forward day does not exist: Go's time.Date finds EST in force at the
  // wall time read as UTC, sees 07:30Z lies past that period's end, and takes the offset there
  // (EDT): 06:30Z, which is 01:30 EST.
  EXPECT_EQ(Rfc3339(static_cast<double>(ny->FromWall(At("2026-03-08T02:30:00Z")))), "2026-03-08T06:30:00Z");
  // 01:30 on the fall-back day happens twice: the first (EDT).
  EXPECT_EQ(Rfc3339(static_cast<double>(ny->FromWall(At("2026-11-01T01:30:00Z")))), "2026-11-01T05:30:00Z");
}

}  // namespace
}  // namespace loom::workflow

// ---- the controller, on a real store with fake workflow actions and an injected clock ----------

namespace loom::workflow {
namespace {

struct Fake {
  std::vector<Json> submitted;
  std::map<std::string, std::string> phases;  // workflow -> phase
  std::vector<std::string> terminated, removed;
  std::vector<Json> children;
  bool fail_submit = false;

  CronActions Actions() {
    CronActions a;
    a.submit = [this](const Json& wf) -> StatusOr<std::string> {
      if (fail_submit) return InvalidArgument("spec.templates: no room");
      submitted.push_back(wf);
      const std::string name = wf["metadata"].value("name", "");
      phases[name] = "Running";
      return name;
    };
    a.phase = [this](const std::string& name) -> StatusOr<std::string> {
      if (!phases.count(name)) return NotFound("workflow " + name);
      return phases[name];
    };
    a.terminate = [this](const std::string& name) {
      terminated.push_back(name);
      phases[name] = "Failed";
      return OkStatus();
    };
    a.remove = [this](const std::string& name) {
      removed.push_back(name);
      return OkStatus();
    };
    a.children = [this](const std::string&) -> StatusOr<std::vector<Json>> { return children; };
    return a;
  }
};

Json Cron(const Json& spec_extra) {
  Json spec = {{"schedule", "* * * * *"},
               {"workflowSpec", {{"entrypoint", "main"}, {"templates", {{{"name", "main"}, {"suspend", Json::object()}}}}}}};
  for (const auto& [k, v] : spec_extra.items()) spec[k] = v;
  return {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "CronWorkflow"},
          {"metadata", {{"name", "tick"}, {"creationTimestamp", "2026-03-01T09:00:00Z"}}}, {"spec", spec}};
}

class CronControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = Store::Open(dir_.Join("workflows.db"));
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
  }
  Json Status() { return store_->GetObject(kCronWorkflow, "tick")->value("status", Json::object()); }
  loom::testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  Fake fake_;
  const int64_t t0_ = At("2026-03-01T10:00:30Z");
};

TEST_F(CronControllerTest, SubmitsWhenDueAndSettlesFinishedChildren) {
  ASSERT_TRUE(store_->PutObject(Cron({})).ok());
  CronController c(store_.get(), fake_.Actions());
  c.Tick(t0_);       // the first look: nothing was due since
  c.Tick(t0_ + 20);  // 10:00:50
  EXPECT_TRUE(fake_.submitted.empty());
  c.Tick(t0_ + 31);  // 10:01:01: 10:01 came due
  ASSERT_EQ(fake_.submitted.size(), 1u);
  const Json& wf = fake_.submitted[0];
  const int64_t due = At("2026-03-01T10:01:00Z");
  EXPECT_EQ(wf["metadata"]["name"], "tick-" + std::to_string(due));
  EXPECT_EQ(wf["metadata"]["labels"]["workflows.argoproj.io/cron-workflow"], "tick");
  EXPECT_EQ(wf["metadata"]["annotations"]["workflows.argoproj.io/scheduled-time"], "2026-03-01T10:01:00Z");
  EXPECT_EQ(wf["spec"]["entrypoint"], "main");
  Json status = Status();
  EXPECT_EQ(status["lastScheduledTime"], "2026-03-01T10:01:00Z");
  EXPECT_EQ(status["phase"], "Active");
  ASSERT_EQ(status["active"].size(), 1u);
  EXPECT_EQ(status["active"][0]["name"], "tick-" + std::to_string(due));
  fake_.phases["tick-" + std::to_string(due)] = "Succeeded";
  c.Tick(t0_ + 40);
  status = Status();
  EXPECT_TRUE(status["active"].empty());
  EXPECT_EQ(status["succeeded"], 1);
  // Several minutes passed between two looks (the machine slept): one run, for the latest.
  c.Tick(t0_ + 40 + 300);
  ASSERT_EQ(fake_.submitted.size(), 2u);
  EXPECT_EQ(fake_.submitted[1]["metadata"]["name"], "tick-" + std::to_string(At("2026-03-01T10:06:00Z")));
}

TEST_F(CronControllerTest, EveryCountsFromTheLastRun) {
  ASSERT_TRUE(store_->PutObject(Cron({{"schedule", "@every 5s"}})).ok());
  CronController c(store_.get(), fake_.Actions());
  c.Tick(t0_);
  c.Tick(t0_ + 4);
  EXPECT_TRUE(fake_.submitted.empty());
  c.Tick(t0_ + 5);
  c.Tick(t0_ + 9);
  EXPECT_EQ(fake_.submitted.size(), 1u);
  c.Tick(t0_ + 10);
  ASSERT_EQ(fake_.submitted.size(), 2u);
  EXPECT_EQ(fake_.submitted[1]["metadata"]["name"], "tick-" + std::to_string(t0_ + 10));
}

TEST_F(CronControllerTest, ConcurrencyPolicies) {
  for (const char* policy : {"Allow", "Forbid", "Replace"}) {
    fake_ = Fake();
    ASSERT_TRUE(store_->PutObject(Cron({{"concurrencyPolicy", policy}})).ok());
    CronController c(store_.get(), fake_.Actions());
    c.Tick(t0_);
    c.Tick(t0_ + 60);   // 10:01 runs and stays Running
    c.Tick(t0_ + 120);  // 10:02 is due with one active
    const size_t expected = std::string(policy) == "Forbid" ? 1 : 2;
    EXPECT_EQ(fake_.submitted.size(), expected) << policy;
    EXPECT_EQ(fake_.terminated.size(), std::string(policy) == "Replace" ? 1u : 0u) << policy;
    ASSERT_TRUE(store_->DeleteObject(kCronWorkflow, "tick").ok());
  }
}

TEST_F(CronControllerTest, SuspendAndWhen) {
  ASSERT_TRUE(store_->PutObject(Cron({{"suspend", true}})).ok());
  CronController c(store_.get(), fake_.Actions());
  c.Tick(t0_);
  c.Tick(t0_ + 60);
  EXPECT_TRUE(fake_.submitted.empty());
  // Resumed: the next due time runs; `when` sees the counters.
  ASSERT_TRUE(store_->PutObject(Cron({{"when", "{{cronworkflow.succeeded}} < 1"}})).ok());
  c.Tick(t0_ + 120);
  ASSERT_EQ(fake_.submitted.size(), 1u);
  fake_.phases[fake_.submitted[0]["metadata"]["name"].get<std::string>()] = "Succeeded";
  c.Tick(t0_ + 180);  // succeeded is 1 now: when is false
  EXPECT_EQ(fake_.submitted.size(), 1u);
  EXPECT_EQ(Status()["succeeded"], 1);
}

TEST_F(CronControllerTest, AMissedRunIsRunOnStartOnlyWithinTheStartingDeadline) {
  Json cron = Cron({{"startingDeadlineSeconds", 300}});
  cron["status"] = {{"lastScheduledTime", "2026-03-01T09:55:00Z"}};
  ASSERT_TRUE(store_->PutObject(cron).ok());
  {
    CronController c(store_.get(), fake_.Actions());
    c.Tick(t0_);  // 10:00 was missed 30 s ago, within 300 s
    ASSERT_EQ(fake_.submitted.size(), 1u);
    EXPECT_EQ(fake_.submitted[0]["metadata"]["name"], "tick-" + std::to_string(At("2026-03-01T10:00:00Z")));
  }
  cron["spec"]["startingDeadlineSeconds"] = 10;
  ASSERT_TRUE(store_->PutObject(cron).ok());
  CronController late(store_.get(), fake_.Actions());
  late.Tick(t0_);  // 30 s after it was due: past the deadline
  EXPECT_EQ(fake_.submitted.size(), 1u);
  cron["spec"].erase("startingDeadlineSeconds");
  ASSERT_TRUE(store_->PutObject(cron).ok());
  CronController none(store_.get(), fake_.Actions());
  none.Tick(t0_);  // no deadline: a missed run is not run
  EXPECT_EQ(fake_.submitted.size(), 1u);
}

TEST_F(CronControllerTest, HistoryLimitsAndSubmissionErrors) {
  ASSERT_TRUE(store_->PutObject(Cron({{"successfulJobsHistoryLimit", 2}})).ok());
  for (int i = 0; i < 4; ++i) {
    fake_.children.push_back({{"name", "ok-" + std::to_string(i)}, {"phase", "Succeeded"},
                              {"finishedAt", "2026-03-01T09:0" + std::to_string(i) + ":00Z"}});
  }
  fake_.children.push_back({{"name", "bad-0"}, {"phase", "Failed"}, {"finishedAt", "2026-03-01T09:00:00Z"}});
  fake_.children.push_back({{"name", "bad-1"}, {"phase", "Error"}, {"finishedAt", "2026-03-01T09:01:00Z"}});
  fake_.fail_submit = true;
  CronController c(store_.get(), fake_.Actions());
  c.Tick(t0_);
  std::sort(fake_.removed.begin(), fake_.removed.end());
  EXPECT_EQ(fake_.removed, (std::vector<std::string>{"bad-0", "ok-0", "ok-1"}));
  c.Tick(t0_ + 60);
  const Json status = Status();
  ASSERT_EQ(status["conditions"].size(), 1u);
  EXPECT_EQ(status["conditions"][0]["type"], "SubmissionError");
  EXPECT_EQ(status["conditions"][0]["status"], "True");
  EXPECT_EQ(status["conditions"][0]["message"], "Failed to submit Workflow: spec.templates: no room");
  EXPECT_EQ(status["failed"], 1);
}

TEST(CronLintTest, FieldsActOrAreRefusedByLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"spec:\n  schedule: '* * * *'\n", "cron.yaml:6: spec.schedule: cron schedule * * * * is malformed: expected exactly 5 fields, found 4: [* * * *]"},
      {"spec:\n  schedules: ['0 * * * *', '61 * * * *']\n", "cron.yaml:6: spec.schedules[1]: cron schedule 61 * * * * is malformed: end of range (61) above maximum (59): 61"},
      {"spec:\n  schedule: '@daily'\n  timezone: Mars/Base\n", "cron.yaml:7: spec.timezone: unknown time zone Mars/Base"},
      {"spec:\n  schedule: '@daily'\n  concurrencyPolicy: Queue\n", "cron.yaml:7: spec.concurrencyPolicy: must be Allow, Forbid or Replace, not \"Queue\""},
      {"spec:\n  schedule: '@daily'\n  stopStrategy: {expression: 'true'}\n", "cron.yaml:7: spec.stopStrategy: not supported on one machine: Loom does not stop a CronWorkflow on a condition; `loom cron suspend` stops it"},
      {"spec:\n  schedule: '@daily'\n  workflowMetadata: {labelsFrom: {}}\n", "cron.yaml:7: spec.workflowMetadata.labelsFrom: not supported on one machine: only labels and annotations are copied to the workflow"},
      {"spec:\n  schedule: '@daily'\n  backoff: 1\n", "cron.yaml:7: spec.backoff: unknown field \"backoff\""},
      {"spec:\n  schedule: '@daily'\n  workflowSpec:\n    entrypoint: nope\n    templates: [{name: main, suspend: {}}]\n",
       "cron.yaml:8: spec.workflowSpec.entrypoint: no template named \"nope\""},
  };
  for (const auto& [body, message] : cases) {
    const std::string text = std::string("apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nmetadata:\n  name: c\n") + body;
    auto doc = ParseYaml(text, "cron.yaml");
    ASSERT_TRUE(doc.ok()) << body;
    auto lines = YamlFieldLines(text);
    ASSERT_TRUE(lines.ok());
    if (!(*doc)["spec"].contains("workflowSpec")) {
      (*doc)["spec"]["workflowSpec"] = {{"entrypoint", "main"}, {"templates", {{{"name", "main"}, {"suspend", Json::object()}}}}};
    }
    Status s = LintCronWorkflow(*doc, "cron.yaml", nullptr, &*lines);
    EXPECT_EQ(s.message(), message) << body;
  }
}

}  // namespace
}  // namespace loom::workflow
