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

// A KServe v2 (Open Inference Protocol) infer body with one input tensor.
struct InferRequest {
  std::string id_json;         // the "id" value as JSON text; empty when not given
  std::string name;            // inputs[0].name
  std::string datatype;        // inputs[0].datatype
  std::vector<int64_t> shape;  // inputs[0].shape
  std::vector<float> values;   // inputs[0].data flattened; UINT8 values divided by 255
};

// Reads the usual infer body quickly: "inputs" holding one object whose "name", "datatype"
// (FP32 or UINT8) and "shape" (plain integers) come before "data" (numbers in nested lists;
// for UINT8, integers up to 255), nothing repeated, exactly JSON. Returns false for anything
// else, valid or not: the caller reads that body with the general JSON parser, which also says
// what is wrong. Checks nothing against the model (the caller does).
bool ParseInferRequestFast(std::string_view body, InferRequest* out);

}  // namespace loom::serving
