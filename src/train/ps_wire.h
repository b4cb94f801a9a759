// The hot messages of the ps service (proto/ps/ps.proto's PushRequest and Variables), encoded
// and decoded by hand on gRPC's byte buffers, so a training step copies its floats as few times
// as it can: the gradients leave straight from the model's tensors (slices that point at them),
// arrive in one copy into the ps's buffer, and the variables go out in one copy from the shard
// and land in one copy in the model. The bytes are protobuf's wire format exactly: a client or
// server built from ps.proto by protoc talks to these (tests/train/ps_wire_test.cc checks both
// ways against the generated code).
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace loom::train::wire {

// A piece of memory that is part of a bytes field.
struct Chunk {
  const char* data = nullptr;
  size_t size = 0;
};

// A PushRequest. `gradients` are referenced, not copied: they must stay unchanged until the
// call that sends the buffer has completed.
grpc::ByteBuffer EncodePushRequest(const std::string& layout, int replica, int64_t step,
                                   const std::vector<Chunk>& gradients);

struct PushRequestFields {
  std::string layout;
  int replica = 0;
  int64_t step = 0;
};
// Decodes a PushRequest; its gradients go into `gradients` (resized to the whole floats they
// hold; a byte count that is not a multiple of 4 is an error).
Status DecodePushRequest(const grpc::ByteBuffer& buffer, PushRequestFields* fields, std::vector<float>* gradients);

// A Variables message holding `n` floats from `values` (copied once, into the buffer).
grpc::ByteBuffer EncodeVariables(int64_t global_step, const float* values, size_t n, bool done, bool applied);

struct VariablesFields {
  int64_t global_step = 0;
  bool done = false;
  bool applied = false;
  size_t variable_bytes = 0;  // the length of the variables field
};
// Decodes a Variables message; the variables' bytes are handed to `sink` piece by piece
// (offset in the field, data, size), as they lie in the buffer's slices.
using BytesSink = std::function<void(size_t offset, const char* data, size_t size)>;
Status DecodeVariables(const grpc::ByteBuffer& buffer, VariablesFields* fields, const BytesSink& sink);

}  // namespace loom::train::wire
