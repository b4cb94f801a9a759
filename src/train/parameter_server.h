// A ps task of distributed training: a gRPC server (proto/ps/ps.proto) holding one contiguous
// shard of the model's flat parameter vector and its optimizer slots, applying Adam (or SGD
// with momentum) itself to the gradients workers push. Async: each gradient is applied as it
// arrives. Sync (SyncReplicasOptimizer): replicas_to_aggregate gradients of the current global
// step are averaged into one update; a gradient computed on older variables is dropped.
// The chief's Shutdown ends it: every later push is answered "done", and Wait() returns once
// each worker has left (Leave, after it heard "done"; or after a grace period), so the ps
// exits by itself.
//
// Same host: a worker whose ps address is a loopback address may attach a shared memory
// segment (AttachShm; src/train/ps_shm.h) and push through it; a thread per attached worker
// runs those pushes through the same code as PushPull.
//
// Thread-safety: the RPC handlers run on gRPC's threads, the shm links on their own; one mutex
// guards the shard.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace loom::train {

struct ParameterServerOptions {
  std::string address = "127.0.0.1:0";  // host:port to serve on; port 0 picks a free port
  double shutdown_grace_secs = 10;      // after Shutdown: the longest wait for workers to leave
                                        // before exiting anyway
};

class ParameterServer {
 public:
  // Starts serving. Fails naming the address when it cannot be bound (e.g. in use).
  static StatusOr<std::unique_ptr<ParameterServer>> Create(const ParameterServerOptions& options);
  ~ParameterServer();

  // The port actually bound (the chosen one when the address said port 0).
  int port() const { return port_; }
  // Blocks until the chief's Shutdown has been heard by every replica (or the grace period passed),
  // or Stop() was called; then stops serving.
  void Wait();
  // Makes Wait() return at once (a signal, a test).
  void Stop();
  // Workers attached through shared memory (AttachShm, ps_shm.h) whose link's thread still
  // serves them: it ends when the worker detaches or dies.
  int shm_links() const;

  class Service;  // the gRPC service and the shard, in parameter_server.cc

 private:
  ParameterServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace loom::train
