// Tensor: a dense float32 array with a shape, stored contiguously (row-major) in 64-byte-aligned
// memory so that AVX-512 loads never split a cache line at the start of a row block. Moves are
// cheap (a pointer swap); copies are deep. NamedTensor pairs one with the name a checkpoint or
// bundle stores it under. Not thread-safe beyond what a plain array is.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace loom::nn {

// Number of elements of a shape: the product of its dimensions (1 for the scalar shape []).
int64_t ShapeSize(const std::vector<int64_t>& shape);
// "[784,100]": how shapes appear in error messages and logs.
std::string ShapeString(const std::vector<int64_t>& shape);

class Tensor {
 public:
  Tensor() = default;
  // A zero-filled tensor. REQUIRES: every dimension >= 0.
  explicit Tensor(std::vector<int64_t> shape);
  Tensor(std::vector<int64_t> shape, float fill);
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&& other) noexcept = default;
  Tensor& operator=(Tensor&& other) noexcept = default;
  // A tensor over `data` (size of `shape` floats), which it does not own: `owner` keeps that
  // memory alive as long as the tensor (or one moved from it) lives. REQUIRES: owner != nullptr.
  // Used to put a model's parameters in a shared memory segment (train/ps_client.cc's zero
  // copy). A copy of it owns its copy.
  static Tensor View(std::vector<int64_t> shape, float* data, std::shared_ptr<void> owner);
  // Whether this tensor owns its memory (not a View).
  bool owns_data() const { return !data_.get_deleter().owner; }

  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t size() const { return size_; }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  std::span<float> span() { return {data_.get(), static_cast<size_t>(size_)}; }
  std::span<const float> span() const { return {data_.get(), static_cast<size_t>(size_)}; }
  float& operator[](int64_t i) { return data_[i]; }
  float operator[](int64_t i) const { return data_[i]; }

  void Fill(float value);
  // Same shape and bitwise-equal content.
  bool operator==(const Tensor& other) const;

 private:
  struct FreeDeleter {
    std::shared_ptr<void> owner;  // a View's: the memory is not ours to free
    void operator()(float* p) const {
      if (!owner) std::free(p);
    }
  };
  static std::unique_ptr<float[], FreeDeleter> Allocate(int64_t size);

  std::vector<int64_t> shape_;
  int64_t size_ = 0;
  std::unique_ptr<float[], FreeDeleter> data_;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// ---- implementation ----

inline int64_t ShapeSize(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

inline std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

inline std::unique_ptr<float[], Tensor::FreeDeleter> Tensor::Allocate(int64_t size) {
  // aligned_alloc wants a multiple of the alignment; round up (and never ask for 0 bytes).
  size_t bytes = (static_cast<size_t>(size) * sizeof(float) + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  return std::unique_ptr<float[], FreeDeleter>(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

inline Tensor::Tensor(std::vector<int64_t> shape, float fill)
    : shape_(std::move(shape)), size_(ShapeSize(shape_)), data_(Allocate(size_)) {
  Fill(fill);
}

inline Tensor::Tensor(std::vector<int64_t> shape) : Tensor(std::move(shape), 0.0f) {}

inline Tensor Tensor::View(std::vector<int64_t> shape, float* data, std::shared_ptr<void> owner) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.size_ = ShapeSize(t.shape_);
  t.data_ = std::unique_ptr<float[], FreeDeleter>(data, FreeDeleter{std::move(owner)});
  return t;
}

inline Tensor::Tensor(const Tensor& other)
    : shape_(other.shape_), size_(other.size_), data_(other.data_ ? Allocate(size_) : nullptr) {
  if (size_ > 0) std::memcpy(data_.get(), other.data_.get(), size_ * sizeof(float));
}

inline Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

inline void Tensor::Fill(float value) {
  for (int64_t i = 0; i < size_; ++i) data_[i] = value;
}

inline bool Tensor::operator==(const Tensor& other) const {
  return shape_ == other.shape_ &&
         (size_ == 0 || std::memcmp(data_.get(), other.data_.get(), size_ * sizeof(float)) == 0);
}

}  // namespace loom::nn
