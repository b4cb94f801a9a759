// The safetensors file format (as the Hugging Face library writes it), for checkpoints and
// exported weights: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}}
// padded with spaces to a multiple of 8, then the tensors' bytes back to back (offsets relative
// to the end of the header, in order, no gaps). Loom reads and writes F32 only.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "nn/tensor.h"

namespace loom::nn {

struct Safetensors {
  std::vector<NamedTensor> tensors;  // in file order (of their data)
  std::map<std::string, std::string> metadata;
};

// Writes tensors (in the given order) and metadata atomically: readers see the old file or the
// whole new one. Names must be unique and non-empty, and not "__metadata__".
Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                        const std::map<std::string, std::string>& metadata);

// The same bytes WriteSafetensors puts in a file.
StatusOr<std::string> EncodeSafetensors(const std::vector<NamedTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata,
                                        const std::string& source);

// Reads and validates a file: header length against the file size, the JSON, each entry's
// dtype, shape and offsets (in bounds, contiguous from 0, no overlap, byte length = shape
// product * 4, all the data used). Every error names the file.
StatusOr<Safetensors> ReadSafetensors(const std::string& path);
// The same on bytes in memory; errors are prefixed by `source`.
StatusOr<Safetensors> DecodeSafetensors(std::string_view bytes, const std::string& source);

}  // namespace loom::nn
