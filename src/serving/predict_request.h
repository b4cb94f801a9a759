// The body of a TF Serving REST predict request, parsed straight into one float tensor.
//
// Why not nlohmann::json (core/json.h) here: a single-image body is 784 numbers (~7 KB) and
// nlohmann took 240-340 us to parse it on this machine, against 31-47 us for std::from_chars
// alone (src/serving/README.md has the measurement), i.e. it alone would cap a core at ~4k
// requests/s. This parser reads only what a predict body is: an object with "instances" (row
// format) or "inputs" (columnar), "signature_name", and numbers in nested arrays. It accepts
// exactly JSON (RFC 8259) and rejects the rest with an error naming the field and offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "serving/servable.h"

namespace loom::serving {

struct PredictRequest {
  std::string signature_name;  // empty when not given
  bool columnar = false;       // "inputs" (answer with "outputs") rather than "instances"
  int64_t num_examples = 0;
  std::vector<float> values;   // [num_examples, signature.input_size], row-major
};

// INVALID_ARGUMENT for anything that is not a well-formed request for `signature`: malformed
// JSON, neither or both of instances/inputs, a wrong shape, a non-number, a number outside
// float's range.
StatusOr<PredictRequest> ParsePredictRequest(std::string_view body, const Signature& signature);

}  // namespace loom::serving
