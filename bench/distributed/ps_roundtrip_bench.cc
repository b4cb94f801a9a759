// ps_roundtrip_bench: the communication of one training step alone, without the math: a ps task
// (src/train/parameter_server) and a PsClient in one process on 127.0.0.1, Kubeflow's example model
// (784-100-10, 79,510 floats: 318 KB each way), PushPull round trips back to back (Adam applied
// on the ps, as in training), over each transport: gRPC (loopback TCP) and shared memory
// (src/train/ps_shm.h). Prints microseconds per round trip, wall and CPU (both ends: the
// process's user+system time), so the cost can be told apart from waiting on a loaded machine,
// and the CPU of Adam alone on the same floats (a cost one process pays too).
// Not a test; CI does not time things.
//
//   ps_roundtrip_bench [round_trips (default 3000)] [ps_tasks (default 1)] [grpc|shm|both (default both)]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "nn/model.h"
#include "nn/optimizer.h"
#include "train/parameter_server.h"
#include "train/ps_client.h"

namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// Round trips over one transport; returns non-zero on failure.
int Measure(int round_trips, int num_ps, loom::train::PsTransport transport, const char* name) {
  using namespace loom;
  auto model = nn::Model::Create(nn::ModelSpec::Mlp(100), nn::ModelOptions{});
  if (!model.ok()) return std::fprintf(stderr, "%s\n", model.status().ToString().c_str()), 1;
  (*model)->InitParameters(1);
  std::vector<nn::Parameter>& params = (*model)->parameters();
  std::vector<std::unique_ptr<train::ParameterServer>> servers;
  train::PsClientOptions client_options;
  client_options.transport = transport;
  for (int i = 0; i < num_ps; ++i) {
    auto ps = train::ParameterServer::Create(train::ParameterServerOptions{});
    if (!ps.ok()) return std::fprintf(stderr, "%s\n", ps.status().ToString().c_str()), 1;
    client_options.ps_addresses.push_back("127.0.0.1:" + std::to_string((*ps)->port()));
    servers.push_back(std::move(*ps));
  }
  auto client = train::PsClient::Create(client_options, params);
  if (!client.ok()) return std::fprintf(stderr, "%s\n", client.status().ToString().c_str()), 1;
  std::vector<float> flat;
  for (const nn::Parameter& p : params) flat.insert(flat.end(), p.value.data(), p.value.data() + p.value.size());
  train::PsTrainingConfig config;
  config.train_steps = 0;  // never done
  if (Status s = (*client)->Init(config, 0, flat, {}, {}); !s.ok())
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  for (nn::Parameter& p : params)
    for (int64_t i = 0; i < p.grad.size(); ++i) p.grad.data()[i] = 1e-3f;
  auto step = [&] {
    auto r = (*client)->PushPull(params);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      std::exit(1);
    }
  };
  for (int i = 0; i < 200; ++i) step();  // connections up, buffers grown, flow-control windows open
  const double cpu0 = CpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < round_trips; ++i) step();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = CpuSeconds() - cpu0;
  std::printf("ps_roundtrip_bench: %-4s %d PushPull round trips of %zu floats over %d ps task(s): "
              "%.0f us wall, %.0f us CPU (both ends) per round trip\n",
              name, round_trips, flat.size(), num_ps, wall * 1e6 / round_trips, cpu * 1e6 / round_trips);
  std::fflush(stdout);
  return 0;
}

// Adam alone on the model's floats, as the ps applies it: the part of a round trip's CPU that
// one process spends too.
void MeasureAdam(int round_trips) {
  const size_t n = 79510;
  std::vector<float> w(n, 0.1f), g(n, 1e-3f), m(n, 0.f), v(n, 0.f);
  const double cpu0 = CpuSeconds();
  for (int i = 0; i < round_trips; ++i)
    loom::nn::AdamUpdate(w.data(), g.data(), m.data(), v.data(), static_cast<int64_t>(n),
                         loom::nn::AdamLearningRate(0.001, 0.9, 0.999, i + 1), 0.9f, 0.999f, 1e-8f);
  std::printf("ps_roundtrip_bench: Adam alone on %zu floats: %.0f us CPU per step\n", n,
              (CpuSeconds() - cpu0) * 1e6 / round_trips);
}

int Main(int argc, char** argv) {
  using loom::train::PsTransport;
  const int round_trips = argc > 1 ? std::atoi(argv[1]) : 3000;
  const int num_ps = argc > 2 ? std::atoi(argv[2]) : 1;
  const std::string which = argc > 3 ? argv[3] : "both";
  if (round_trips < 1 || num_ps < 1 || (which != "grpc" && which != "shm" && which != "both")) {
    std::fprintf(stderr, "usage: ps_roundtrip_bench [round_trips >= 1] [ps_tasks >= 1] [grpc|shm|both]\n");
    return 2;
  }
  if (std::getenv("LOOM_BENCH_MMAP") == nullptr) loom::train::KeepLargeBuffersInHeap();  // as loom train does
  if (which != "shm")
    if (int rc = Measure(round_trips, num_ps, PsTransport::kGrpc, "grpc"); rc != 0) return rc;
  if (which != "grpc")
    if (int rc = Measure(round_trips, num_ps, PsTransport::kShm, "shm"); rc != 0) return rc;
  MeasureAdam(round_trips);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
