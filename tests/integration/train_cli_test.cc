// `loom train`, `loom export` and `loom eval` run as real processes on real MNIST:
// their output, their files, resuming, and one clear error line for each kind of bad input.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "nn/safetensors.h"
#include "tboard/event_reader.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"
#include "train/checkpoint.h"

namespace loom {
namespace {

using testing::ProcessResult;
using testing::ScratchDir;

class TrainCliTest : public ::testing::Test {
 protected:
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LoomBinary());
    return testing::Run(args, logs_.path());
  }
  // Lines of stderr, without empty ones.
  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      if (end > start) lines.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    return lines;
  }
  // A copy of MNIST in `dir` that tests may damage: symlinks to the real files.
  void LinkMnist(const std::string& dir) {
    ASSERT_TRUE(MakeDirs(dir).ok());
    for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
      std::string src = JoinPath(testing::MnistDir(), name);
      if (!PathExists(src)) src += ".gz";
      ASSERT_EQ(symlink(src.c_str(), JoinPath(dir, Basename(src)).c_str()), 0);
    }
  }
  // MNIST with one file replaced by `content`: training must fail with one line naming that
  // file and `what`, and write nothing.
  void ExpectDamageRejected(const std::string& name, const std::string& content, const std::string& what) {
    const std::string data = work_.Join("data"), train_dir = work_.Join("t");
    LinkMnist(data);
    const std::string damaged = JoinPath(data, name);
    (void)RemoveAll(damaged);
    (void)RemoveAll(damaged + ".gz");
    ASSERT_TRUE(WriteFileAtomic(damaged, content).ok());
    ProcessResult r = Loom({"train", "--data_dir", data, "--train_dir", train_dir});
    ExpectOneErrorLine(r, damaged);
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
    EXPECT_TRUE(NoOutputIn(train_dir));
  }
  // Asserts a failed command printed exactly one error line naming `needle`.
  void ExpectOneErrorLine(const ProcessResult& r, const std::string& needle) {
    EXPECT_NE(r.exit_code, 0);
    std::vector<std::string> lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines[0].rfind("loom ", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(needle), std::string::npos) << lines[0];
  }
  // True when `dir` is missing or holds no file (no checkpoint, no events, no temporaries).
  static bool NoOutputIn(const std::string& dir) {
    auto names = ListDir(dir);
    return !names.ok() || names->empty();
  }
  std::map<std::string, std::vector<float>> Tensors(const std::string& path) {
    std::map<std::string, std::vector<float>> out;
    auto file = nn::ReadSafetensors(path);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    if (!file.ok()) return out;
    for (const auto& t : file->tensors)
      out[t.name].assign(t.tensor.data(), t.tensor.data() + t.tensor.size());
    return out;
  }

  // The run's event file, read by the independent Python reader (every CRC checked) and by ours:
  // loss and global_step/sec every 50 steps, validation accuracy at each checkpoint and the end.
  void CheckEventFile(const std::string& train_dir) {
    auto names = ListDir(train_dir);
    ASSERT_TRUE(names.ok());
    std::string path;
    for (const auto& n : *names)
      if (n.rfind("events.out.tfevents.", 0) == 0) path = JoinPath(train_dir, n);
    ASSERT_FALSE(path.empty());
    ProcessResult py = testing::Run(
        {LOOM_PYTHON3, JoinPath(testing::SourceDir(), "tests/tboard/read_events.py"), "--proto_dir",
         JoinPath(testing::SourceDir(), "proto"), "--protoc", LOOM_PROTOC, path},
        logs_.path());
    ASSERT_EQ(py.exit_code, 0) << py.err;
    auto parsed = ParseJson(py.out, "read_events.py output");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ((*parsed)["file_version"], "brain.Event:2");
    std::map<std::string, std::vector<std::pair<int64_t, double>>> by_tag;
    for (const auto& s : (*parsed)["scalars"])
      by_tag[s["tag"].get<std::string>()].emplace_back(s["step"].get<int64_t>(), s["value"].get<double>());
    using Steps = std::vector<int64_t>;
    auto steps = [&](const std::string& tag) {
      Steps out;
      for (const auto& [step, value] : by_tag[tag]) out.push_back(step);
      return out;
    };
    EXPECT_EQ(steps("loss"), (Steps{50, 100, 150, 200, 250, 300}));
    EXPECT_EQ(steps("global_step/sec"), (Steps{50, 100, 150, 200, 250, 300}));
    EXPECT_EQ(steps("accuracy"), (Steps{100, 200, 300}));
    EXPECT_GT(by_tag["loss"].front().second, by_tag["loss"].back().second);  // it learns
    EXPECT_GT(by_tag["accuracy"].back().second, 0.9);
    for (const auto& [step, value] : by_tag["global_step/sec"]) EXPECT_GT(value, 0);
    // Our own reader sees the same values.
    auto ours = tboard::ReadEventFile(path);
    ASSERT_TRUE(ours.ok()) << ours.status().ToString();
    ASSERT_EQ(ours->scalars.size(), (*parsed)["scalars"].size());
    for (size_t i = 0; i < ours->scalars.size(); ++i) {
      EXPECT_EQ(ours->scalars[i].tag, (*parsed)["scalars"][i]["tag"]);
      EXPECT_EQ(ours->scalars[i].value, (*parsed)["scalars"][i]["value"].get<double>());
    }
  }

  ScratchDir logs_;
  ScratchDir work_;
};

TEST_F(TrainCliTest, TrainsExportsAndEvaluates) {
  const std::string train_dir = work_.Join("train"), base = work_.Join("models/mnist");
  ProcessResult r = Loom({"train", "--train_dir", train_dir, "--train_steps", "300",
                          "--save_checkpoint_steps", "100", "--save_summaries_steps", "50",
                          "--export_dir", base});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Training begins @ "), std::string::npos);
  EXPECT_NE(r.out.find(": Worker 0: training step 1 done (global step: 1)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(": Worker 0: training step 300 done (global step: 300)"), std::string::npos);
  EXPECT_NE(r.out.find("Training elapsed time: "), std::string::npos);
  EXPECT_NE(r.out.find("After 300 training step(s), validation cross entropy = "), std::string::npos);
  size_t acc = r.out.find("Test accuracy: ");
  ASSERT_NE(acc, std::string::npos);
  EXPECT_GT(std::stod(r.out.substr(acc + 15)), 0.9);  // 300 steps of Adam reach ~94%
  const std::string train_out = r.out;
  EXPECT_TRUE(PathExists(JoinPath(train_dir, "checkpoint")));
  EXPECT_TRUE(PathExists(JoinPath(train_dir, "model.ckpt-300.safetensors")));
  EXPECT_TRUE(PathExists(JoinPath(train_dir, "model.ckpt-200.safetensors")));
  auto names = ListDir(train_dir);
  ASSERT_TRUE(names.ok());
  int events = 0;
  for (const auto& n : *names) events += n.rfind("events.out.tfevents.", 0) == 0;
  EXPECT_EQ(events, 1);
  CheckEventFile(train_dir);

  // The export holds exactly the variables of the final checkpoint.
  ASSERT_TRUE(PathExists(JoinPath(base, "1/model.json")));
  auto exported = Tensors(JoinPath(base, "1/weights.safetensors"));
  auto ckpt = Tensors(JoinPath(train_dir, "model.ckpt-300.safetensors"));
  ASSERT_EQ(exported.size(), 4u);
  for (const auto& [name, values] : exported) EXPECT_EQ(values, ckpt[name]) << name;

  r = Loom({"export", "--checkpoint_dir", train_dir, "--export_dir", base});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(PathExists(JoinPath(base, "2/weights.safetensors")));
  r = Loom({"export", "--checkpoint_dir", train_dir, "--export_dir", base, "--version", "1"});
  ExpectOneErrorLine(r, "already exists");

  const std::string trained_accuracy = train_out.substr(acc + 15, 6);
  r = Loom({"eval", "--model", base});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Version 2 is the final checkpoint again: the accuracy the trainer printed, to four places.
  EXPECT_NE(r.out.find("(version 2): test accuracy " + trained_accuracy), std::string::npos)
      << r.out << " vs " << trained_accuracy;
}

TEST_F(TrainCliTest, StoppedAndResumedEqualsUninterrupted) {
  // Stop a long run with SIGTERM (as Kubernetes stops a pod): it checkpoints and exits 143.
  const std::string stopped = work_.Join("stopped"), straight = work_.Join("straight");
  testing::Process p({testing::LoomBinary(), "train", "--train_dir", stopped, "--train_steps",
                      "1000000", "--save_checkpoint_steps", "40"},
                     logs_.path());
  for (int i = 0; i < 600 && !PathExists(JoinPath(stopped, "model.ckpt-40.safetensors")); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  p.Signal(SIGTERM);
  ProcessResult r = p.Wait();
  ASSERT_EQ(r.exit_code, 143) << r.err;
  auto latest = train::LatestCheckpoint(stopped);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  auto ckpt = train::LoadCheckpoint(**latest);
  ASSERT_TRUE(ckpt.ok());
  const int64_t stop_step = ckpt->global_step;
  ASSERT_GE(stop_step, 40);
  const std::string target = std::to_string(stop_step + 37);

  r = Loom({"train", "--train_dir", stopped, "--train_steps", target});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Resuming from "), std::string::npos);
  EXPECT_NE(r.out.find("training step 37 done (global step: " + target + ")"), std::string::npos) << r.out;
  r = Loom({"train", "--train_dir", straight, "--train_steps", target});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto a = Tensors(JoinPath(stopped, "model.ckpt-" + target + ".safetensors"));
  auto b = Tensors(JoinPath(straight, "model.ckpt-" + target + ".safetensors"));
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, values] : a) EXPECT_TRUE(values == b[name]) << name << " differs";
}

TEST_F(TrainCliTest, MissingIdxFile) {
  ScratchDir data;
  const std::string train_dir = work_.Join("t");
  ProcessResult r = Loom({"train", "--data_dir", data.path(), "--train_dir", train_dir});
  ExpectOneErrorLine(r, "train-images-idx3-ubyte");
  EXPECT_TRUE(NoOutputIn(train_dir));
}

TEST_F(TrainCliTest, TruncatedIdxFile) {
  // The t10k header (10000x28x28 unsigned bytes) followed by 1000 of its 7,840,000 pixels.
  std::string idx = {0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28};
  idx.append(1000, '\x7f');
  ExpectDamageRejected("t10k-images-idx3-ubyte", idx, "truncated");
}

TEST_F(TrainCliTest, CorruptIdxFile) {
  ExpectDamageRejected("train-labels-idx1-ubyte",
                       std::string("\x12\x34\x56\x78garbage-not-an-idx-file", 27), "magic");
}

TEST_F(TrainCliTest, LabelCountMismatch) {
  std::string idx = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};  // 3 labels for 10000 images
  ExpectDamageRejected("t10k-labels-idx1-ubyte", idx, "t10k-images-idx3-ubyte");
}

TEST_F(TrainCliTest, UnknownLayerInSpec) {
  const std::string spec = work_.Join("bad.yaml"), train_dir = work_.Join("t");
  ASSERT_TRUE(WriteFileAtomic(spec, "input_shape: [784]\nlayers:\n  - {type: dense, units: 100}\n"
                                    "  - {type: dens, units: 10}\n").ok());
  ProcessResult r = Loom({"train", "--model", spec, "--train_dir", train_dir});
  ExpectOneErrorLine(r, spec);
  EXPECT_NE(r.err.find("layers[1].type"), std::string::npos) << r.err;
  EXPECT_TRUE(NoOutputIn(train_dir));
}

TEST_F(TrainCliTest, BadShapeInSpec) {
  const std::string spec = work_.Join("bad.yaml"), train_dir = work_.Join("t");
  ASSERT_TRUE(WriteFileAtomic(spec, "input_shape: [784]\nlayers:\n"
                                    "  - {type: conv2d, filters: 8, kernel_size: 3}\n"
                                    "  - {type: flatten}\n  - {type: dense, units: 10}\n").ok());
  ProcessResult r = Loom({"train", "--model", spec, "--train_dir", train_dir});
  ExpectOneErrorLine(r, "layers[0]");
  EXPECT_TRUE(NoOutputIn(train_dir));
}

TEST_F(TrainCliTest, CheckpointFromAnotherArchitecture) {
  const std::string train_dir = work_.Join("t");
  ProcessResult r = Loom({"train", "--train_dir", train_dir, "--train_steps", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto before = ListDir(train_dir);
  r = Loom({"train", "--train_dir", train_dir, "--train_steps", "10", "--hidden_units", "50"});
  ExpectOneErrorLine(r, "model.ckpt-5.safetensors");
  EXPECT_NE(r.err.find("dense_0/kernel"), std::string::npos) << r.err;
  EXPECT_EQ(ListDir(train_dir)->size(), before->size());  // nothing new written
}

TEST_F(TrainCliTest, UnwritableTrainDir) {
  const std::string file = work_.Join("plain-file");
  ASSERT_TRUE(WriteFileAtomic(file, "x").ok());
  ProcessResult r = Loom({"train", "--train_dir", file + "/sub", "--train_steps", "5"});
  ExpectOneErrorLine(r, "--train_dir");
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
}

TEST_F(TrainCliTest, ProgressBarOnRequest) {
  ProcessResult r = Loom({"train", "--train_dir", work_.Join("t"), "--train_steps", "20", "--progress"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\r\033[K[==="), std::string::npos);
  EXPECT_NE(r.out.find("] 20/20 steps"), std::string::npos) << r.out;
  r = Loom({"train", "--train_dir", work_.Join("u"), "--train_steps", "20"});  // not a terminal
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
}

TEST_F(TrainCliTest, BadFlags) {
  ProcessResult r = Loom({"train", "--batch_size=many"});
  EXPECT_EQ(r.exit_code, 2);
  ExpectOneErrorLine(r, "--batch_size: \"many\" is not an integer");
  r = Loom({"train", "--learning_rate_decay=linear"});
  ExpectOneErrorLine(r, "--learning_rate_decay: \"linear\" is not none or cosine");
  r = Loom({"train", "--no_such_flag=1"});
  ExpectOneErrorLine(r, "unknown flag --no_such_flag");
}

}  // namespace
}  // namespace loom
