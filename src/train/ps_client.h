// The worker's and chief's side of the ps service: the model's parameters laid end to end as
// one flat float vector, split into one contiguous range per ps task (bytes balanced to one
// float), and the calls of a training step sent to every ps task at once. Values and gradients
// are copied straight between the model's tensors and the request/response bytes.
// Calls retry with backoff while a ps task is unreachable or not yet initialized, so start
// order does not matter; they give up after `wait_secs` without progress.
// A ps task on this host (a loopback address) gets PushPull's bytes through shared memory
// (ps_shm.h, set up by the AttachShm rpc) instead of TCP; when that fails (the ps died or
// was restarted) the step goes through gRPC with its retries, and the next step attaches anew.
//
// Thread-safety: one thread at a time (StartPushPull's round trip runs on a thread of its own,
// and the reinit handler may then be called there).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "nn/model.h"
#include "nn/optimizer.h"

namespace loom::train {

// Process-wide, for a ps task or a worker (call once from main): every step moves the model's
// variables and gradients through buffers of a few hundred KB (protobuf strings, gRPC slices);
// above glibc's mmap threshold each one would be mmapped and unmapped again, and the page
// faults were a fifth of a ps task's CPU (perf). This keeps them in the heap.
void KeepLargeBuffersInHeap();

// [begin, begin + size) of the flat vector.
struct ShardRange {
  int64_t begin = 0;
  int64_t size = 0;
};

// `total` floats split over `num_shards` tasks: sizes differ by at most one.
std::vector<ShardRange> PartitionEvenly(int64_t total, int num_shards);

// "name:784x100,name:100,..." of the parameters: ps and callers check they hold the same model.
std::string ParameterLayout(const std::vector<nn::Parameter>& params);

// How a step's gradients and variables (PushPull) travel to a ps task. Every other call goes
// through gRPC whatever this says.
enum class PsTransport {
  kAuto,  // shared memory for a ps at a loopback address (this host), gRPC for any other
  kGrpc,  // gRPC always (loopback TCP on this host)
  kShm,   // shared memory (ps_shm.h); a non-loopback ps address is an error
};
// "auto", "grpc" or "shm" (loom train --ps_transport).
StatusOr<PsTransport> ParsePsTransport(const std::string& name);

struct PsClientOptions {
  std::vector<std::string> ps_addresses;  // host:port of each ps task, in task order
  PsTransport transport = PsTransport::kAuto;
  int replica = 0;                        // this task's replica index (0 is the chief)
  double wait_secs = 300;                 // give up after this long without reaching a ps task
  double max_backoff_secs = 2;            // retry delays double from 50 ms up to this
  // With one ps task attached through shared memory, PushPull keeps the parameters' values and
  // gradients in the segment itself (the tensors become views of it): the worker copies
  // nothing, the ps reads the gradients and writes the variables where the model uses them.
  bool zero_copy = true;
};

// What the chief tells every ps task in Init.
struct PsTrainingConfig {
  nn::OptimizerOptions optimizer;
  std::string learning_rate_decay = "none";
  int64_t train_steps = 0;
  bool sync_replicas = false;
  int replicas_to_aggregate = 1;
  int num_replicas = 1;
};

// The variables and optimizer state of every shard, stitched together (the chief's checkpoints).
struct PsSnapshot {
  int64_t global_step = 0;
  int64_t optimizer_step = 0;
  std::vector<float> variables, slot0, slot1;  // flat; slot1 empty for sgd
};

class PsClient {
 public:
  // `params` fixes the layout (names, shapes); the model's tensors are read and written by the
  // calls that take them. Connects lazily: Create does not wait for the ps tasks.
  static StatusOr<std::unique_ptr<PsClient>> Create(const PsClientOptions& options,
                                                    const std::vector<nn::Parameter>& params);
  ~PsClient();

  const std::vector<ShardRange>& shards() const { return shards_; }
  int64_t total() const { return total_; }

  // Waits until every ps task answers; returns whether all of them are initialized.
  StatusOr<bool> WaitReachable();
  // Sets every shard (chief): variables from `variables` (flat), slots from `slot0`/`slot1`
  // (flat, or empty for zeros), at `global_step`.
  Status Init(const PsTrainingConfig& config, int64_t global_step, const std::vector<float>& variables,
              const std::vector<float>& slot0, const std::vector<float>& slot1);

  struct StepResult {
    int64_t global_step = 0;  // ps 0's global step after the call
    bool done = false;        // some ps task says training is over
    bool applied = true;      // every ps task applied the gradient
  };
  // Copies the current variables into the parameters' values, waiting for the chief's Init.
  StatusOr<StepResult> Pull(std::vector<nn::Parameter>& params);
  // Pushes the parameters' grads, computed on the variables last received from each ps task
  // (each push carries that task's global step, so sync mode can tell stale ones), and copies
  // the variables after the update into their values: one round trip to each ps task. With
  // zero_copy and one ps task attached through shared memory, the tensors are moved into the
  // segment (views that keep it mapped, so they stay valid whatever happens to the link) and
  // nothing is copied on this side.
  StatusOr<StepResult> PushPull(std::vector<nn::Parameter>& params);
  // PushPull in two halves, so the next gradients can be computed while this step's travel
  // (async training: they are then computed on variables one step older). Start copies the
  // parameters' grads and sends them from another thread; until Finish the caller may use the
  // parameters but no other call of this client. Finish waits for the round trip and copies
  // the variables into the parameters' values.
  Status StartPushPull(std::vector<nn::Parameter>& params);  // gives views (zero copy) their own memory back
  StatusOr<StepResult> FinishPushPull(std::vector<nn::Parameter>& params);
  // Every shard's variables and slots.
  StatusOr<PsSnapshot> Snapshot();
  // Tells every ps task that training is over (chief). A ps task already gone is fine.
  Status Shutdown();
  // Tells every ps task this worker heard that training is over and exits (a worker, after a
  // call answered done). A ps task already gone is fine.
  Status Leave();

  // Recovery (chief): called when ps task `shard` answers that it is not initialized, i.e. it
  // was restarted; it should InitShard it (e.g. from the latest checkpoint). The call that met
  // the restarted task is then retried. Without a handler, calls wait for someone else to.
  using ReinitHandler = std::function<Status(size_t shard)>;
  void set_reinit_handler(ReinitHandler handler);
  // Init of one shard, as Init does for all.
  Status InitShard(size_t shard, const PsTrainingConfig& config, int64_t global_step,
                   const std::vector<float>& variables, const std::vector<float>& slot0,
                   const std::vector<float>& slot1);

 private:
  PsClient() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<ShardRange> shards_;
  int64_t total_ = 0;
  std::string layout_;
};

}  // namespace loom::train
