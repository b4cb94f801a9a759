#include "train/ps_wire.h"

#include <cstring>

namespace loom::train::wire {
namespace {

// Protobuf wire types.
constexpr int kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5;

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutTag(int field, int type, std::string* out) { PutVarint(static_cast<uint64_t>(field << 3 | type), out); }

// Reads protobuf wire format across the slices of a byte buffer without joining them.
class Reader {
 public:
  explicit Reader(const grpc::ByteBuffer& buffer) {
    if (!buffer.Dump(&slices_).ok()) slices_.clear();
  }
  bool AtEnd() {
    while (slice_ < slices_.size() && offset_ == slices_[slice_].size()) Next();
    return slice_ == slices_.size();
  }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (AtEnd()) return false;
      const uint8_t b = slices_[slice_].begin()[offset_++];
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Hands the next n bytes to fn(offset within the n, data, size) as they lie in the slices.
  template <typename Fn>
  bool Bytes(uint64_t n, Fn fn) {
    uint64_t done = 0;
    while (done < n) {
      if (AtEnd()) return false;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n - done, slices_[slice_].size() - offset_));
      fn(static_cast<size_t>(done), reinterpret_cast<const char*>(slices_[slice_].begin()) + offset_, take);
      offset_ += take;
      done += take;
    }
    return true;
  }
  bool Skip(int type) {
    uint64_t n = 0;
    switch (type) {
      case kVarint: return Varint(&n);
      case kFixed64: return Bytes(8, [](size_t, const char*, size_t) {});
      case kFixed32: return Bytes(4, [](size_t, const char*, size_t) {});
      case kLength: return Varint(&n) && Bytes(n, [](size_t, const char*, size_t) {});
      default: return false;
    }
  }

 private:
  void Next() {
    ++slice_;
    offset_ = 0;
  }
  std::vector<grpc::Slice> slices_;
  size_t slice_ = 0, offset_ = 0;
};

Status Malformed(const char* message) { return InvalidArgument(std::string(message) + ": malformed protobuf"); }

}  // namespace

grpc::ByteBuffer EncodePushRequest(const std::string& layout, int replica, int64_t step,
                                   const std::vector<Chunk>& gradients) {
  size_t bytes = 0;
  for (const Chunk& c : gradients) bytes += c.size;
  std::string head;
  PutTag(1, kLength, &head);
  PutVarint(layout.size(), &head);
  head += layout;
  if (replica != 0) {
    PutTag(2, kVarint, &head);
    PutVarint(static_cast<uint64_t>(static_cast<int64_t>(replica)), &head);
  }
  if (step != 0) {
    PutTag(3, kVarint, &head);
    PutVarint(static_cast<uint64_t>(step), &head);
  }
  PutTag(4, kLength, &head);
  PutVarint(bytes, &head);
  std::vector<grpc::Slice> slices;
  slices.reserve(gradients.size() + 1);
  slices.emplace_back(head);
  for (const Chunk& c : gradients)
    if (c.size > 0) slices.emplace_back(c.data, c.size, grpc::Slice::STATIC_SLICE);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

Status DecodePushRequest(const grpc::ByteBuffer& buffer, PushRequestFields* fields, std::vector<float>* gradients) {
  Reader in(buffer);
  gradients->clear();
  while (!in.AtEnd()) {
    uint64_t tag = 0, v = 0;
    if (!in.Varint(&tag)) return Malformed("PushRequest");
    const int field = static_cast<int>(tag >> 3), type = static_cast<int>(tag & 7);
    if (field == 1 && type == kLength) {
      if (!in.Varint(&v)) return Malformed("PushRequest.layout");
      fields->layout.clear();
      if (!in.Bytes(v, [&](size_t, const char* d, size_t n) { fields->layout.append(d, n); }))
        return Malformed("PushRequest.layout");
    } else if (field == 2 && type == kVarint) {
      if (!in.Varint(&v)) return Malformed("PushRequest.replica");
      fields->replica = static_cast<int>(static_cast<int64_t>(v));
    } else if (field == 3 && type == kVarint) {
      if (!in.Varint(&v)) return Malformed("PushRequest.step");
      fields->step = static_cast<int64_t>(v);
    } else if (field == 4 && type == kLength) {
      if (!in.Varint(&v)) return Malformed("PushRequest.gradients");
      if (v % sizeof(float) != 0) return InvalidArgument("PushRequest.gradients: not a whole number of floats");
      gradients->resize(static_cast<size_t>(v / sizeof(float)));
      char* dst = reinterpret_cast<char*>(gradients->data());
      if (!in.Bytes(v, [&](size_t at, const char* d, size_t n) { std::memcpy(dst + at, d, n); }))
        return Malformed("PushRequest.gradients");
    } else if (!in.Skip(type)) {
      return Malformed("PushRequest");
    }
  }
  return OkStatus();
}

grpc::ByteBuffer EncodeVariables(int64_t global_step, const float* values, size_t n, bool done, bool applied) {
  std::string head, tail;
  if (global_step != 0) {
    PutTag(1, kVarint, &head);
    PutVarint(static_cast<uint64_t>(global_step), &head);
  }
  PutTag(2, kLength, &head);
  PutVarint(n * sizeof(float), &head);
  if (done) {
    PutTag(3, kVarint, &tail);
    PutVarint(1, &tail);
  }
  if (applied) {
    PutTag(4, kVarint, &tail);
    PutVarint(1, &tail);
  }
  grpc::Slice slice(head.size() + n * sizeof(float) + tail.size());
  char* out = reinterpret_cast<char*>(const_cast<uint8_t*>(slice.begin()));
  std::memcpy(out, head.data(), head.size());
  std::memcpy(out + head.size(), values, n * sizeof(float));
  std::memcpy(out + head.size() + n * sizeof(float), tail.data(), tail.size());
  return grpc::ByteBuffer(&slice, 1);
}

Status DecodeVariables(const grpc::ByteBuffer& buffer, VariablesFields* fields, const BytesSink& sink) {
  Reader in(buffer);
  while (!in.AtEnd()) {
    uint64_t tag = 0, v = 0;
    if (!in.Varint(&tag)) return Malformed("Variables");
    const int field = static_cast<int>(tag >> 3), type = static_cast<int>(tag & 7);
    if (field == 1 && type == kVarint) {
      if (!in.Varint(&v)) return Malformed("Variables.global_step");
      fields->global_step = static_cast<int64_t>(v);
    } else if (field == 2 && type == kLength) {
      if (!in.Varint(&v) || !in.Bytes(v, sink)) return Malformed("Variables.variables");
      fields->variable_bytes = static_cast<size_t>(v);
    } else if (field == 3 && type == kVarint) {
      if (!in.Varint(&v)) return Malformed("Variables.done");
      fields->done = v != 0;
    } else if (field == 4 && type == kVarint) {
      if (!in.Varint(&v)) return Malformed("Variables.applied");
      fields->applied = v != 0;
    } else if (!in.Skip(type)) {
      return Malformed("Variables");
    }
  }
  return OkStatus();
}

}  // namespace loom::train::wire
