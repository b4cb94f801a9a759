// grpc_load: wrk's measurement for TF Serving's gRPC Predict (ghz is not packaged). Each of
// --connections channels (its own TCP connection) keeps one Predict in flight, as each of wrk's
// connections keeps one request, or --calls_per_connection of them (HTTP/2 streams sharing the
// connection, as a gRPC client's concurrent calls share its channel); --threads threads drive
// them on gRPC's async client, one completion queue each. The request is one image as a DT_FLOAT tensor_content (what
// TensorFlow's make_tensor_proto sends). Prints one line for run.sh:
//   requests_per_second p50_ms p99_ms non_ok_answers 0
//
//   grpc_load --target 127.0.0.1:8500 --model mnist --image image.txt
//             [--connections 32] [--calls_per_connection 1] [--threads 2] [--seconds 10]
//             [--write_request FILE]
// image.txt: the image's floats, separated by commas or white space. --write_request writes the
// request as it goes on the wire (gRPC's 5-byte frame and the message) after one call answered
// OK, and exits: the body for an HTTP/2 load generator that does not speak gRPC (h2load).
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tfserving/serving_apis.grpc.pb.h"

namespace {

namespace tfs = tensorflow::serving;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string target = "127.0.0.1:8500";
  std::string model = "mnist";
  std::string image;
  std::string write_request;
  int connections = 32;
  int calls_per_connection = 1;
  int threads = 2;
  double seconds = 10;
};

// One connection's call in flight.
struct Call {
  tfs::PredictionService::Stub* stub = nullptr;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientAsyncResponseReader<tfs::PredictResponse>> reader;
  tfs::PredictResponse response;
  grpc::Status status;
  Clock::time_point start;
};

struct ThreadResult {
  std::vector<double> latencies_ms;
  int64_t non_ok = 0;
};

void Drive(const std::vector<tfs::PredictionService::Stub*>& stubs, int calls_per_stub,
           const tfs::PredictRequest& request, Clock::time_point end, ThreadResult* result) {
  grpc::CompletionQueue cq;
  std::vector<Call> calls(stubs.size() * static_cast<size_t>(calls_per_stub));
  auto start_call = [&](Call* call) {
    call->context = std::make_unique<grpc::ClientContext>();
    call->response.Clear();
    call->start = Clock::now();
    call->reader = call->stub->AsyncPredict(call->context.get(), request, &cq);
    call->reader->Finish(&call->response, &call->status, call);
  };
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i].stub = stubs[i % stubs.size()];
    start_call(&calls[i]);
  }
  size_t in_flight = calls.size();
  void* tag = nullptr;
  bool ok = false;
  while (in_flight > 0 && cq.Next(&tag, &ok)) {
    Call* call = static_cast<Call*>(tag);
    const Clock::time_point now = Clock::now();
    result->latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - call->start).count());
    if (!ok || !call->status.ok() || call->response.outputs_size() == 0) ++result->non_ok;
    if (now < end) {
      start_call(call);
    } else {
      --in_flight;
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

int Usage(const char* what) {
  std::fprintf(stderr, "grpc_load: %s\nusage: grpc_load --target HOST:PORT --model NAME --image FILE "
               "[--connections 32] [--calls_per_connection 1] [--threads 2] [--seconds 10] "
               "[--write_request FILE]\n", what);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Usage(("flag " + flag + " needs a value").c_str());
    const std::string value = argv[i + 1];
    try {
      if (flag == "--target") options.target = value;
      else if (flag == "--model") options.model = value;
      else if (flag == "--image") options.image = value;
      else if (flag == "--write_request") options.write_request = value;
      else if (flag == "--connections") options.connections = std::stoi(value);
      else if (flag == "--calls_per_connection") options.calls_per_connection = std::stoi(value);
      else if (flag == "--threads") options.threads = std::stoi(value);
      else if (flag == "--seconds") options.seconds = std::stod(value);
      else return Usage(("unknown flag " + flag).c_str());
    } catch (const std::exception&) {
      return Usage((flag + ": \"" + value + "\" is not a number").c_str());
    }
  }
  if (options.image.empty()) return Usage("--image is required");
  if (options.connections < 1 || options.calls_per_connection < 1 || options.threads < 1 || options.seconds <= 0)
    return Usage("--connections, --calls_per_connection, --threads and --seconds must be positive");
  std::ifstream in(options.image);
  if (!in) return Usage(("cannot read " + options.image).c_str());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), ',', ' ');
  std::istringstream numbers(text);
  std::vector<float> image;
  for (float v; numbers >> v;) image.push_back(v);
  if (image.empty()) return Usage((options.image + ": no numbers").c_str());
  // Debian's Abseil checks every mutex acquisition for lock-order cycles (a debug aid, several
  // per gRPC call); the server turns it off too.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  tfs::PredictRequest request;
  request.mutable_model_spec()->set_name(options.model);
  tensorflow::TensorProto& tensor = (*request.mutable_inputs())["images"];
  tensor.set_dtype(tensorflow::DT_FLOAT);
  tensor.mutable_tensor_shape()->add_dim()->set_size(1);
  tensor.mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(image.size()));
  tensor.set_tensor_content(image.data(), image.size() * sizeof(float));

  // One channel per connection: a channel argument of its own keeps gRPC from sharing one TCP
  // connection between them.
  std::vector<std::unique_ptr<tfs::PredictionService::Stub>> stubs;
  for (int c = 0; c < options.connections; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("grpc_load.connection", c);
    auto channel = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "grpc_load: cannot connect to %s\n", options.target.c_str());
      return 1;
    }
    stubs.push_back(tfs::PredictionService::NewStub(channel));
  }
  // A first call shows a wrong model or image before any measuring.
  {
    grpc::ClientContext context;
    tfs::PredictResponse response;
    grpc::Status s = stubs[0]->Predict(&context, request, &response);
    if (!s.ok()) {
      std::fprintf(stderr, "grpc_load: %s: Predict: %s\n", options.target.c_str(), s.error_message().c_str());
      return 1;
    }
  }
  if (!options.write_request.empty()) {
    const std::string message = request.SerializeAsString();
    const uint32_t n = static_cast<uint32_t>(message.size());
    const char frame[5] = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                           static_cast<char>(n)};
    std::ofstream out(options.write_request, std::ios::binary);
    out.write(frame, 5).write(message.data(), static_cast<std::streamsize>(message.size()));
    if (!out.flush()) return Usage(("cannot write " + options.write_request).c_str());
    return 0;
  }
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::microseconds(static_cast<int64_t>(options.seconds * 1e6));
  std::vector<ThreadResult> results(static_cast<size_t>(options.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t) {
    std::vector<tfs::PredictionService::Stub*> mine;
    for (int c = t; c < options.connections; c += options.threads) mine.push_back(stubs[static_cast<size_t>(c)].get());
    threads.emplace_back(Drive, mine, options.calls_per_connection, std::cref(request), end,
                         &results[static_cast<size_t>(t)]);
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  int64_t non_ok = 0;
  for (const ThreadResult& r : results) {
    all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    non_ok += r.non_ok;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[static_cast<size_t>(p * static_cast<double>(all.size() - 1))]; };
  std::printf("%.0f %.3f %.3f %lld 0\n", static_cast<double>(all.size()) / elapsed, pct(0.50), pct(0.99),
              static_cast<long long>(non_ok));
  return 0;
}
