// loom eval: an exported model's accuracy on the MNIST test set.
#include <cstdio>

#include "commands.h"
#include "data/mnist.h"
#include "export/bundle.h"
#include "nn/model.h"

namespace loom::cli {

int RunEval(const Args& args) {
  std::string model_path, data_dir = DefaultDataDir();
  int threads = 1;
  FlagSet flags("loom eval --model BASE[/VERSION] [--data_dir DIR]");
  flags.String("model", &model_path, "an export base path (its latest version) or a version directory");
  flags.String("data_dir", &data_dir,
               "directory with the MNIST IDX files (raw or .gz), or an s3:// or file:// URL of one (cached)");
  flags.Int("threads", &threads, "threads for the math");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "eval", &code)) return code;
  if (model_path.empty()) return Fail("eval", InvalidArgument("--model: must be set"));
  auto bundle = exporter::ReadBundle(model_path);
  if (!bundle.ok()) return Fail("eval", bundle.status());
  nn::ModelOptions model_options;
  model_options.num_threads = threads;
  auto model = nn::Model::Create(bundle->spec, model_options);
  if (!model.ok()) return Fail("eval", model.status());
  if (Status s = (*model)->LoadParameters(bundle->weights, bundle->path); !s.ok()) return Fail("eval", s);
  auto local_data_dir = ResolveDataDir(data_dir, "eval");  // a URL goes through the dataset cache
  if (!local_data_dir.ok()) return Fail("eval", local_data_dir.status());
  auto mnist = LoadMnist(*local_data_dir, MnistOptions{});
  if (!mnist.ok()) return Fail("eval", mnist.status());
  nn::EvalResult r = (*model)->Evaluate(mnist->test.images.data(), mnist->test.labels.data(), mnist->test.size);
  printf("Model %s (version %lld): test accuracy %.4f, cross entropy %.4f on %lld examples\n",
         bundle->path.c_str(), static_cast<long long>(bundle->version), r.accuracy, r.cross_entropy,
         static_cast<long long>(mnist->test.size));
  return 0;
}

}  // namespace loom::cli
