// ps_roundtrip_bench: the communication of one training step alone, without the math: a ps task
// (src/train/parameter_server) and a PsClient in one process on 127.0.0.1, the seed's model
// (784-100-10, 79,510 floats: 318 KB each way), PushPull round trips back to back (Adam applied
// on the ps, as in training). Prints microseconds per round trip, wall and CPU (both ends: the
// process's user+system time), so the cost can be told apart from waiting on a loaded machine.
// Not a test; CI does not time things.
//
//   ps_roundtrip_bench [round_trips (default 3000)] [ps_tasks (default 1)]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "nn/model.h"
#include "train/parameter_server.h"
#include "train/ps_client.h"

namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

int Main(int argc, char** argv) {
  using namespace loom;
  const int round_trips = argc > 1 ? std::atoi(argv[1]) : 3000;
  const int num_ps = argc > 2 ? std::atoi(argv[2]) : 1;
  if (round_trips < 1 || num_ps < 1) {
    std::fprintf(stderr, "usage: ps_roundtrip_bench [round_trips >= 1] [ps_tasks >= 1]\n");
    return 2;
  }
  if (std::getenv("LOOM_BENCH_MMAP") == nullptr) train::KeepLargeBuffersInHeap();  // as loom train does
  auto model = nn::Model::Create(nn::ModelSpec::Mlp(100), nn::ModelOptions{});
  if (!model.ok()) return std::fprintf(stderr, "%s\n", model.status().ToString().c_str()), 1;
  (*model)->InitParameters(1);
  std::vector<nn::Parameter>& params = (*model)->parameters();
  std::vector<std::unique_ptr<train::ParameterServer>> servers;
  train::PsClientOptions client_options;
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
  std::printf("ps_roundtrip_bench: %d PushPull round trips of %zu floats over %d ps task(s): "
              "%.0f us wall, %.0f us CPU (both ends) per round trip\n",
              round_trips, flat.size(), num_ps, wall * 1e6 / round_trips, cpu * 1e6 / round_trips);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
