// One chief or worker task of parameter-server training (mnist_replica.py's between-graph
// replication): each step computes gradients on this replica's shard of the training set,
// pushes them to every ps task and gets the updated variables back in the same round trip. The chief also initialises the ps tasks (fresh, or from its latest checkpoint),
// writes checkpoints and TensorBoard scalars, evaluates at the end, and then tells every ps
// task to exit, so the whole job ends by itself. Output lines are mnist_replica's.
#pragma once

#include <memory>

#include "core/status.h"
#include "train/ps_client.h"
#include "train/tf_config.h"
#include "train/trainer.h"

namespace loom::train {

struct DistributedTrainerOptions {
  TrainerOptions trainer;          // data, model, steps, batch, optimizer, train_dir, output;
                                   // train_dir is written by the chief only
  ClusterSpec cluster;             // this task: the chief or a worker
  bool sync_replicas = false;      // SyncReplicasOptimizer: aggregate gradients per step
  int replicas_to_aggregate = 0;   // with sync_replicas; 0: every replica (chief and workers)
  double ps_wait_secs = 300;       // give up when a ps task is unreachable this long
  PsTransport ps_transport = PsTransport::kAuto;  // how a step's bytes reach the ps tasks:
                                   // shared memory on this host (auto: for loopback addresses)
  bool overlap = false;            // async: compute the next gradients while this step's travel
                                   // (faster; but on variables one step staler, which cost the
                                   // example job 0.5-1 point of accuracy at the same rate)
};

class DistributedTrainer {
 public:
  // Loads the data and builds the model; does not contact the ps tasks yet.
  static StatusOr<std::unique_ptr<DistributedTrainer>> Create(const DistributedTrainerOptions& options);
  ~DistributedTrainer();

  // Waits for the ps tasks (and, on a worker, for the chief's initialisation), trains until the
  // ps tasks say the global step reached train_steps, then (chief) checkpoints, evaluates and
  // shuts the ps tasks down.
  StatusOr<TrainResult> Run();

 private:
  explicit DistributedTrainer(const DistributedTrainerOptions& options);
  Status Init();
  // Chief: initialises every ps task from the latest checkpoint in train_dir, or fresh, and
  // re-initialises a ps task found empty later (restarted) the same way.
  Status InitParameterServers();
  // The variables and optimizer slots to start from: the latest checkpoint's, or initial
  // values from the random seed (slots then empty: zeros).
  struct StartState {
    int64_t global_step = 0;
    std::vector<float> variables, slot0, slot1;
    std::string source;  // the checkpoint's path, or "initial values"
    uint64_t seed = 1;   // the checkpoint's seed (batch order), or this run's
  };
  // Reads it through `model` (whose parameters it overwrites).
  StatusOr<StartState> LoadStartState(nn::Model& model);
  // Chief: the ps tasks' variables and slots as a checkpoint in train_dir; with
  // load_into_model, the local model takes those variables too (for the final evaluation).
  StatusOr<std::string> SaveFromParameterServers(bool load_into_model);
  void Print(const std::string& line);

  DistributedTrainerOptions options_;
  Mnist data_;
  std::unique_ptr<nn::Model> model_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<PsClient> client_;
  PsTrainingConfig config_;  // what the chief tells the ps tasks
  std::unique_ptr<tboard::EventWriter> events_;  // chief only
  int64_t target_step_ = 0;
  uint64_t seed_ = 1;
};

}  // namespace loom::train
