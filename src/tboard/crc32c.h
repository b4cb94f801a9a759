// CRC-32C (Castagnoli, polynomial 0x1EDC6F41 / reflected 0x82F63B78): the checksum of TFRecord
// framing. Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run time) and
// slicing-by-8 tables otherwise; both give the same values. Thread-safe: no mutable state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace loom::tboard::crc32c {

// The CRC-32C of data[0, n) appended to a stream whose CRC so far is `crc` (0 for an empty
// stream): Extend(Value(a), b) == Value(a + b).
uint32_t Extend(uint32_t crc, const char* data, size_t n);

inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view data) { return Extend(0, data.data(), data.size()); }

// TFRecord stores CRCs masked, because a CRC computed over data that itself contains CRCs
// is weak: rotate right by 15 and add a constant.
constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

// True when Extend uses the SSE4.2 instruction on this machine.
bool HardwareAccelerated();

// The two implementations, exposed so that tests can check each against the other.
uint32_t ExtendPortable(uint32_t crc, const char* data, size_t n);
// REQUIRES: HardwareAccelerated().
uint32_t ExtendHardware(uint32_t crc, const char* data, size_t n);

}  // namespace loom::tboard::crc32c
