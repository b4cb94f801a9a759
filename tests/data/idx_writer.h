// Test helpers: build IDX files byte by byte and gzip them with zlib, so the tests can make
// good and deliberately broken files of any shape.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/file.h"

namespace loom::testing {

// An IDX header: 00 00 <type> <rank>, then each dimension as big-endian uint32.
inline std::string IdxHeader(const std::vector<uint32_t>& dims, uint8_t type = 0x08) {
  std::string s = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xff);
  }
  return s;
}

// A whole unsigned-byte IDX file.
inline std::string IdxFile(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  return IdxHeader(dims) + std::string(data.begin(), data.end());
}

// `bytes` as one gzip member.
inline std::string Gzip(const std::string& bytes, int level = Z_DEFAULT_COMPRESSION) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, bytes.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

inline void WriteOrDie(const std::string& path, const std::string& bytes) {
  Status s = WriteFileAtomic(path, bytes);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

}  // namespace loom::testing
