// loom predict: the mnist client. Sends MNIST test images to a model server (`loom serve` or
// TF Serving, over REST or gRPC) and prints "Inference error rate: X%" as Kubeflow's mnist_client.py did, plus
// the request latencies; or, given PNG files, prepares each as MNIST was (data/png.h) and
// prints the digit and the scores the server answers.
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "core/file.h"
#include "data/mnist.h"
#include "data/png.h"
#include "serving/predict_client.h"

namespace loom::cli {
namespace {

// `loom predict a.png b.png`: "a.png: digit 7, scores [...]" for each file.
int PredictPngs(const serving::PredictClientOptions& options, const std::vector<std::string>& files) {
  constexpr size_t kPerRequest = 100;
  for (size_t first = 0; first < files.size(); first += kPerRequest) {
    const size_t count = std::min(kPerRequest, files.size() - first);
    std::vector<float> images;
    for (size_t i = first; i < first + count; ++i) {
      auto png = ReadPng(files[i]);
      if (!png.ok()) return Fail("predict", png.status());
      auto mnist = MnistFromImage(*png, files[i]);
      if (!mnist.ok()) return Fail("predict", mnist.status());
      images.insert(images.end(), mnist->begin(), mnist->end());
    }
    auto predictions = serving::PredictImages(options, images.data(), static_cast<int64_t>(count), kMnistPixels);
    if (!predictions.ok()) return Fail("predict", predictions.status());
    for (size_t i = 0; i < count; ++i) {
      const serving::ImagePrediction& p = (*predictions)[i];
      printf("%s: digit %lld, scores [", files[first + i].c_str(), static_cast<long long>(p.digit));
      for (size_t k = 0; k < p.scores.size(); ++k) printf("%s%.6g", k ? ", " : "", p.scores[k]);
      printf("]\n");
    }
  }
  return 0;
}

}  // namespace

int RunPredict(const Args& args) {
  serving::PredictClientOptions options;
  std::string images, labels, data_dir = DefaultDataDir();
  int64_t num_tests = 1000;
  FlagSet flags(
      "loom predict --server HOST:PORT --model NAME [--num_tests N] [--concurrency C]\n"
      "       loom predict --server HOST:PORT --model NAME DIGIT.png...");
  // TF Serving's ports: gRPC on 8500, REST on 8501.
  options.server.clear();
  flags.String("server", &options.server,
               "the model server's address, host:port (default: 127.0.0.1:8500 for --protocol grpc, "
               "127.0.0.1:8501 otherwise)");
  flags.String("model", &options.model, "model name");
  flags.Int("version", &options.version, "model version (default: the latest)");
  flags.String("signature", &options.signature, "signature_name to send (e.g. predict_images)");
  flags.String("images", &images, "IDX images file (raw or .gz); default: the MNIST test set");
  flags.String("labels", &labels, "IDX labels file matching --images");
  flags.String("data_dir", &data_dir,
               "where the MNIST test files are when --images is not given (a directory, or an s3:// or file:// URL: cached)");
  flags.Int("num_tests", &num_tests, "how many images to send (0: all)");
  flags.Int("concurrency", &options.concurrency, "requests in flight at once");
  flags.String("protocol", &options.protocol,
               "rest (TF Serving's :predict), grpc (TF Serving's PredictionService.Predict) or v2 (KServe /infer)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "predict", &code)) return code;
  if (options.server.empty()) options.server = options.protocol == "grpc" ? "127.0.0.1:8500" : "127.0.0.1:8501";
  if (!positional.empty()) {
    if (!images.empty()) return Fail("predict", InvalidArgument("--images: give it or PNG files, not both"));
    return PredictPngs(options, positional);
  }
  if (images.empty() != labels.empty())
    return Fail("predict", InvalidArgument("--images and --labels: give both or neither"));
  if (images.empty()) {
    auto local_data_dir = ResolveDataDir(data_dir, "predict");  // a URL goes through the dataset cache
    if (!local_data_dir.ok()) return Fail("predict", local_data_dir.status());
    auto i = FindMnistFile(*local_data_dir, kMnistTestImages);
    if (!i.ok()) return Fail("predict", i.status());
    auto l = FindMnistFile(*local_data_dir, kMnistTestLabels);
    if (!l.ok()) return Fail("predict", l.status());
    images = *i;
    labels = *l;
  }
  auto data = LoadMnistFiles(images, labels);
  if (!data.ok()) return Fail("predict", data.status());
  auto report = serving::RunPredictions(options, *data, num_tests);
  if (!report.ok()) return Fail("predict", report.status());
  printf("Sent %lld images in %.2f s with %d connections: latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms\n",
         static_cast<long long>(report->count), report->seconds, options.concurrency, report->p50_ms,
         report->p90_ms, report->p99_ms);
  printf("\nInference error rate: %g%%\n", report->error_rate * 100);
  return 0;
}

}  // namespace loom::cli
