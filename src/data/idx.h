// IDX files (the MNIST container format: magic 00 00 <type> <rank>, <rank> big-endian uint32
// dimensions, then the row-major payload), raw or gzip-compressed. Compression is detected by
// the gzip magic bytes (1f 8b), not by the file name, so `x` and `x.gz` read alike.
// Only element type 0x08 (unsigned byte) is supported: it is all MNIST uses.
//
// Reading is strict: the payload must be exactly the product of the dimensions, so a truncated
// download or a file with trailing bytes is an error, and every error names the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace loom {

// The contents of one IDX file of unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;   // e.g. {60000, 28, 28}; each > 0
  std::vector<uint8_t> data;   // row-major, product(dims) bytes

  int64_t rank() const { return static_cast<int64_t>(dims.size()); }
};

// Reads the IDX file at `path` (raw or gzip). If `expected_rank` > 0, a file of another rank
// is an error (checked before the payload is read). Errors (all naming `path`): NotFound for a
// missing file; InvalidArgument for a bad magic, an unsupported element type, a wrong rank or a
// zero dimension; DataLoss for a truncated file, trailing bytes or corrupt gzip data.
StatusOr<IdxArray> ReadIdx(const std::string& path, int expected_rank = 0);

// "60000x28x28": how errors and logs print a shape.
std::string FormatDims(const std::vector<int64_t>& dims);

}  // namespace loom
