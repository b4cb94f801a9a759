// The same-host data plane of the ps service: when a worker and a ps task are on one host (the
// ps address is a loopback address), a training step's gradients and variables travel through a
// shared memory segment instead of gRPC over loopback TCP, as NCCL's and MPI's shared-memory
// transports do between ranks on one node. gRPC stays the control plane: the AttachShm rpc
// (proto/ps/ps.proto) sets a segment up, and every other call (Init, Pull, Snapshot, Leave...)
// and every retry after a fault still go through gRPC.
//
// A segment, made by the ps for one worker: a header (sequence numbers, the request's and the
// reply's fields, both pids), then the worker's gradient region, then the shard's variable
// region (`floats` each, 64-byte aligned). A step: the worker copies its gradients in, bumps
// `request_seq` and wakes the ps (a futex on the shared word, not FUTEX_PRIVATE, so it works
// across processes); the ps's thread for that worker applies them in place (no copy), copies
// the variables in and bumps `reply_seq`, waking the worker, which copies them out. One memcpy
// each way on the worker's side (none when its tensors live in the segment: ps_client.cc's
// zero copy), one on the ps's.
//
// Lifetime: the ps creates the segment with a random name (O_EXCL, mode 0600); the worker opens
// and maps it and unlinks the name at once, so nothing stays in /dev/shm even after kill -9 of
// either (the ps unlinks it too when nobody attached within a few seconds). Each side checks
// the other is alive while it waits (its pid, through a pidfd when the kernel has them), so a
// dead peer ends the wait with an error rather than a hang.
//
// Thread-safety: a ShmWorkerEnd is used by one thread at a time; a ShmPsEnd's WaitRequest by
// one thread, while Reply/ReplyError may come from another (sync mode: whoever completes the
// step answers every waiting push).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "train/ps_wire.h"

namespace loom::train::shm {

// Whether host:port (or [v6]:port) names this host's loopback: 127.0.0.0/8, ::1, "localhost".
bool IsLoopbackAddress(const std::string& address);

// When process `pid` may run on fewer CPUs than the calling thread (it was bound: taskset in a
// replica's command, mpirun --bind-to core, a CPU manager), binds the calling thread to
// the same CPUs and returns them ("1", "0-1,3"); otherwise (or when its affinity cannot be
// read) changes nothing and returns "". The ps thread serving a worker calls it at attach, so
// the worker's update is made on the core whose next step reads it (in its caches), and the
// scheduler cannot queue it behind the other worker while this worker's core idles.
std::string FollowAffinityOf(pid_t pid);

// The fields of a push, as the worker wrote them in the segment.
struct Request {
  uint32_t seq = 0;
  int replica = 0;
  int64_t step = 0;
  const float* gradients = nullptr;  // in the segment: valid until this request is answered
};

// The answer to a push, as the worker reads it.
struct Reply {
  int64_t global_step = 0;
  bool done = false;
  bool applied = false;
};

struct Header;  // the segment's first bytes, in ps_shm.cc

// A mapped segment (either side).
class Segment {
 public:
  ~Segment();
  const std::string& name() const { return name_; }
  size_t bytes() const { return bytes_; }
  int64_t floats() const { return floats_; }
  Header* header() const { return header_; }
  float* gradients() const;
  float* variables() const;

 private:
  friend class ShmPsEnd;
  friend class ShmWorkerEnd;
  Segment() = default;
  std::string name_;
  size_t bytes_ = 0;
  int64_t floats_ = 0;
  void* base_ = nullptr;
  Header* header_ = nullptr;
};

// The segment's size for `floats` floats each way.
size_t SegmentBytes(int64_t floats);

// The ps's side of one worker's segment.
// Unlinks the segments of ps processes that are gone (/dev/shm/loom-ps-<pid>-<hex> with no
// process <pid>): a ps killed between making a segment and its worker mapping it (which unlinks
// the name) leaves one behind. ShmPsEnd::Create calls it once per process. A segment of a live
// ps, or of a pid that is in use again, stays. It reads pids in this pid namespace: a ps in
// another one with the same /dev/shm (none today) could lose a segment not yet attached, and its
// worker would fall back to gRPC. Returns how many it removed.
int RemoveSegmentsOfDeadPs();

class ShmPsEnd {
 public:
  // Creates a segment of `floats` floats each way for the worker process `worker_pid`.
  static StatusOr<std::shared_ptr<ShmPsEnd>> Create(int64_t floats, pid_t worker_pid);
  ~ShmPsEnd();

  const std::string& name() const { return segment_->name(); }
  size_t bytes() const { return segment_->bytes(); }
  int64_t floats() const { return segment_->floats(); }

  enum class Event { kRequest, kGone, kStopped };
  // Blocks until the worker's next request (kRequest, `*request` filled in), until the worker
  // detached or died or never attached within `attach_secs` (kGone), or until `stop` is set and
  // Wake() called (kStopped). The segment's name is unlinked once the worker attached or gave up.
  Event WaitRequest(const std::atomic<bool>& stop, double attach_secs, Request* request);
  // Answers request `seq`: the variables (`floats()` of them) are copied into the segment.
  void Reply(uint32_t seq, const Reply& reply, const float* variables);
  // Answers request `seq` with an error (the worker's Receive returns it).
  void ReplyError(uint32_t seq, const Status& status);
  // Wakes WaitRequest (after setting its `stop`).
  void Wake();
  // No more answers will come (the ps's thread for this worker ends): a worker waiting for one
  // gets an error at once.
  void Close();

 private:
  ShmPsEnd() = default;
  std::unique_ptr<Segment> segment_;
  pid_t worker_pid_ = 0;
  int worker_pidfd_ = -1;
  uint32_t last_seq_ = 0;
  bool unlinked_ = false;
};

// The worker's side: opens the segment the ps named, maps it, unlinks its name.
class ShmWorkerEnd {
 public:
  // Fails naming the segment when it does not exist, is not `bytes` long, or its header does
  // not describe `floats` floats each way (a ps of another version, a wrong answer).
  static StatusOr<std::unique_ptr<ShmWorkerEnd>> Open(const std::string& name, size_t bytes, int64_t floats);
  // Tells the ps's thread this worker is gone, so it ends.
  ~ShmWorkerEnd();

  int64_t floats() const { return segment_->floats(); }
  pid_t ps_pid() const { return ps_pid_; }

  // The segment's regions, for a caller that keeps its tensors in them (zero copy: Send and
  // Receive skip a piece that already is where it would be copied). Only between a Receive and
  // the next Send may the caller touch them: the ps reads the gradients and writes the
  // variables meanwhile. `mapping()` keeps the segment mapped (after this end is gone too).
  float* gradients() const { return segment_->gradients(); }
  float* variables() const { return segment_->variables(); }
  std::shared_ptr<void> mapping() const { return segment_; }

  // Copies the gradients (pieces covering floats() floats, in order) into the segment and wakes
  // the ps. Returns the request's sequence number.
  uint32_t Send(int replica, int64_t step, const std::vector<wire::Chunk>& gradients);
  // Waits for the answer to Send's request and copies the variables into `values` (pieces
  // covering floats() floats). Fails with Unavailable when the ps process is gone or stopped
  // serving the segment (the push can be sent again elsewhere), with DeadlineExceeded when the
  // ps is alive but did not answer in `timeout_secs` (it may still apply the push: sending it
  // again could count it twice), and with the ps's error when it answered one.
  StatusOr<Reply> Receive(const std::vector<wire::Chunk>& values, double timeout_secs);

 private:
  ShmWorkerEnd() = default;
  bool PsAlive() const;
  std::shared_ptr<Segment> segment_;
  pid_t ps_pid_ = 0;
  int ps_pidfd_ = -1;
  uint32_t seq_ = 0;
};

}  // namespace loom::train::shm
