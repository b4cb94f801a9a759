#include "core/flags.h"

#include <gtest/gtest.h>

namespace loom {
namespace {

struct Parsed {
  std::string data_dir = "/tmp/mnist-data";
  int64_t steps = 200;
  int batch = 100;
  double lr = 0.01;
  bool sync = false;
};

Status ParseInto(const std::vector<std::string>& args, Parsed* p, std::vector<std::string>* pos) {
  FlagSet f("test");
  f.String("data_dir", &p->data_dir, "data");
  f.Int("train_steps", &p->steps, "steps");
  f.Int("batch_size", &p->batch, "batch");
  f.Float("learning_rate", &p->lr, "lr");
  f.Bool("sync_replicas", &p->sync, "sync");
  return f.Parse(args, pos);
}

TEST(FlagsTest, DefaultsAndForms) {
  Parsed p;
  std::vector<std::string> pos;
  ASSERT_TRUE(ParseInto({"--data_dir=/d", "--train_steps", "5", "-batch_size=7", "--sync_replicas",
                         "file", "--learning_rate=0.5"},
                        &p, &pos)
                  .ok());
  EXPECT_EQ(p.data_dir, "/d");
  EXPECT_EQ(p.steps, 5);
  EXPECT_EQ(p.batch, 7);
  EXPECT_DOUBLE_EQ(p.lr, 0.5);
  EXPECT_TRUE(p.sync);
  EXPECT_EQ(pos, std::vector<std::string>{"file"});
  Parsed q;
  pos.clear();
  ASSERT_TRUE(ParseInto({"--nosync_replicas", "--", "--not_a_flag"}, &q, &pos).ok());
  EXPECT_FALSE(q.sync);
  EXPECT_EQ(q.steps, 200);
  EXPECT_EQ(pos, std::vector<std::string>{"--not_a_flag"});
}

TEST(FlagsTest, ErrorsNameTheFlag) {
  Parsed p;
  std::vector<std::string> pos;
  Status s = ParseInto({"--batch_size=abc"}, &p, &pos);
  EXPECT_EQ(s.message(), "--batch_size: \"abc\" is not an integer");
  s = ParseInto({"--learning_rate=nan"}, &p, &pos);
  EXPECT_EQ(s.message(), "--learning_rate: \"nan\" is not a number");
  s = ParseInto({"--bogus=1"}, &p, &pos);
  EXPECT_EQ(s.message(), "unknown flag --bogus (see --help)");
  s = ParseInto({"--train_steps"}, &p, &pos);
  EXPECT_EQ(s.message(), "--train_steps: missing value");
}

}  // namespace
}  // namespace loom
