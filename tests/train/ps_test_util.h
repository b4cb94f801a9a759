// What the ps tests share: a small model, deterministic gradients, the flat parameters, and
// ps tasks in this process on 127.0.0.1 with clients for them.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "nn/model.h"
#include "train/parameter_server.h"
#include "train/ps_client.h"

namespace loom::train::ps_testing {

inline std::unique_ptr<nn::Model> SmallModel(int hidden = 8) {
  auto model = nn::Model::Create(nn::ModelSpec::Mlp(hidden), nn::ModelOptions{});
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  (*model)->InitParameters(7);
  return std::move(*model);
}

// Deterministic gradients that differ per seed.
inline void FillGrads(nn::Model& model, int seed) {
  int k = seed;
  for (nn::Parameter& p : model.parameters())
    for (int64_t i = 0; i < p.grad.size(); ++i) p.grad.data()[i] = static_cast<float>(((k++ * 7919) % 2001) - 1000) * 1e-4f;
}

inline std::vector<float> Flat(const nn::Model& model) {
  std::vector<float> out;
  for (const nn::Parameter& p : model.parameters()) out.insert(out.end(), p.value.data(), p.value.data() + p.value.size());
  return out;
}

// `n` ps tasks; `grace` is their shutdown_grace_secs.
struct Cluster {
  std::vector<std::unique_ptr<ParameterServer>> servers;
  std::vector<std::string> addresses;
  explicit Cluster(int n, double grace = 10) {
    for (int i = 0; i < n; ++i) {
      ParameterServerOptions options;
      options.shutdown_grace_secs = grace;
      auto ps = ParameterServer::Create(options);
      EXPECT_TRUE(ps.ok()) << ps.status().ToString();
      addresses.push_back("127.0.0.1:" + std::to_string((*ps)->port()));
      servers.push_back(std::move(*ps));
    }
  }
  std::unique_ptr<PsClient> Client(const nn::Model& model, int replica = 0,
                                   PsTransport transport = PsTransport::kAuto, double wait_secs = 20) {
    PsClientOptions options;
    options.ps_addresses = addresses;
    options.replica = replica;
    options.wait_secs = wait_secs;
    options.transport = transport;
    auto client = PsClient::Create(options, model.parameters());
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(*client);
  }
};

}  // namespace loom::train::ps_testing
