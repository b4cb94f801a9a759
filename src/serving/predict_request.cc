#include "serving/predict_request.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace loom::serving {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const Signature& sig) : p_(text.data()), begin_(text.data()),
      end_(text.data() + text.size()), sig_(sig) {}

  StatusOr<PredictRequest> Parse() {
    PredictRequest req;
    SkipSpace();
    if (!Consume('{')) return Error("", "the body must be a JSON object");
    bool have_tensor = false;
    SkipSpace();
    if (!Consume('}')) {
      while (true) {
        SkipSpace();
        std::string key;
        LOOM_RETURN_IF_ERROR(ParseString(&key, ""));
        SkipSpace();
        if (!Consume(':')) return Error(key, "expected ':'");
        SkipSpace();
        if (key == "instances" || key == "inputs") {
          if (have_tensor) return Error(key, "only one of \"instances\" or \"inputs\" may be given");
          have_tensor = true;
          req.columnar = key == "inputs";
          LOOM_RETURN_IF_ERROR(ParseInputs(key, &req));
        } else if (key == "signature_name") {
          LOOM_RETURN_IF_ERROR(ParseString(&req.signature_name, key));
        } else {
          LOOM_RETURN_IF_ERROR(SkipValue(key, 0));
        }
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Error(key, "expected ',' or '}'");
      }
    }
    SkipSpace();
    if (p_ != end_) return Error("", "unexpected text after the JSON object");
    if (!have_tensor)
      return InvalidArgument("Missing 'inputs' or 'instances' key");
    return req;
  }

 private:
  Status Error(const std::string& field, const std::string& what) const {
    std::string where = "offset " + std::to_string(p_ - begin_);
    return InvalidArgument("JSON " + (field.empty() ? std::string("body") : field) + " (" + where +
                           "): " + what);
  }
  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Consume(char c) {
    if (p_ != end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  Status ParseString(std::string* out, const std::string& field) {
    if (!Consume('"')) return Error(field, "expected a string");
    out->clear();
    while (p_ != end_ && *p_ != '"') {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20) return Error(field, "control character in a string");
      if (c == '\\') {
        ++p_;
        if (p_ == end_) break;
        char e = *p_;
        switch (e) {
          case '"': case '\\': case '/': out->push_back(e); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            if (end_ - p_ < 5) return Error(field, "bad \\u escape");
            for (int i = 1; i <= 4; ++i)
              if (!std::isxdigit(static_cast<unsigned char>(p_[i]))) return Error(field, "bad \\u escape");
            out->append(p_ - 1, 6);  // kept escaped: keys we look for are ASCII
            p_ += 4;
            break;
          }
          default: return Error(field, "bad escape in a string");
        }
        ++p_;
        continue;
      }
      out->push_back(*p_++);
    }
    if (!Consume('"')) return Error(field, "unterminated string");
    return OkStatus();
  }

  // Any JSON value, checked and skipped.
  Status SkipValue(const std::string& field, int depth) {
    if (depth > 64) return Error(field, "nested too deeply");
    SkipSpace();
    if (p_ == end_) return Error(field, "unexpected end of the body");
    char c = *p_;
    if (c == '"') {
      std::string s;
      return ParseString(&s, field);
    }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++p_;
      SkipSpace();
      if (Consume(close)) return OkStatus();
      while (true) {
        SkipSpace();
        if (c == '{') {
          std::string key;
          LOOM_RETURN_IF_ERROR(ParseString(&key, field));
          SkipSpace();
          if (!Consume(':')) return Error(field, "expected ':'");
        }
        LOOM_RETURN_IF_ERROR(SkipValue(field, depth + 1));
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume(close)) return OkStatus();
        return Error(field, std::string("expected ',' or '") + close + "'");
      }
    }
    for (const char* word : {"true", "false", "null"}) {
      size_t n = std::strlen(word);
      if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, word, n) == 0) {
        p_ += n;
        return OkStatus();
      }
    }
    float ignored;
    return ParseNumber(field, &ignored);
  }

  // A JSON number as float. Rejects what JSON rejects (NaN, Infinity, leading '+', "01", ".5")
  // and numbers beyond float's range. Correctly rounded.
  Status ParseNumber(const std::string& field, float* out) {
    if (ParseSimpleNumber(out)) return OkStatus();
    return ParseAnyNumber(field, out);
  }

  // The common number, quickly and without building a Status: [-]digits[.digits] with at most
  // 19 significant digits whose value an exact computation can round (FastFloat). Returns false
  // with p_ unmoved for anything else, valid or not: ParseAnyNumber decides.
  bool ParseSimpleNumber(float* out) {
    // "0.0", how JSON writers spell a float zero (most of an MNIST image), at once.
    if (end_ - p_ > 3 && std::memcmp(p_, "0.0", 3) == 0 && !IsDigit(p_[3]) && (p_[3] | 0x20) != 'e') {
      *out = 0;
      p_ += 3;
      return true;
    }
    const char* q = p_;
    bool negative = q != end_ && *q == '-';
    if (negative) ++q;
    if (q == end_ || !IsDigit(*q)) return false;
    uint64_t mantissa = 0;  // the digits read so far, as one integer, times 10^exp10
    int digits = 0;         // at least the mantissa's length, so that it cannot overflow
    int exp10 = 0;
    if (*q == '0') {
      ++q;
    } else {
      for (; q != end_ && IsDigit(*q); ++q) {
        if (++digits > 19) return false;
        mantissa = mantissa * 10 + static_cast<uint64_t>(*q - '0');
      }
    }
    if (q != end_ && *q == '.') {
      ++q;
      if (q == end_ || !IsDigit(*q)) return false;
      // Eight digits at a time while they fit (most pixels have 16 or 17).
      for (; digits <= 11 && end_ - q >= 8 && EightDigits(q); q += 8) {
        mantissa = mantissa * 100000000 + ParseEightDigits(q);
        digits = mantissa == 0 ? 0 : digits + 8;
        exp10 -= 8;
      }
      for (; q != end_ && IsDigit(*q); ++q) {
        if (digits >= 19) return false;
        mantissa = mantissa * 10 + static_cast<uint64_t>(*q - '0');
        if (mantissa != 0) ++digits;
        --exp10;
      }
    }
    if (q != end_ && (*q == 'e' || *q == 'E')) return false;
    float v = 0;
    if (mantissa != 0 && !FastFloat(mantissa, exp10, &v)) return false;
    *out = negative ? -v : v;
    p_ = q;
    return true;
  }

  // Any number, or the error that says why it is not one: checked, then converted by the
  // standard library.
  [[gnu::noinline]] Status ParseAnyNumber(const std::string& field, float* out) {
    const char* start = p_;
    const char* q = p_;
    bool negative = q != end_ && *q == '-';
    if (negative) ++q;
    if (q == end_ || !IsDigit(*q)) return Error(field, "expected a number");
    if (*q == '0') ++q;
    else while (q != end_ && IsDigit(*q)) ++q;
    if (q != end_ && *q == '.') {
      ++q;
      if (q == end_ || !IsDigit(*q)) return Error(field, "expected a digit after '.'");
      while (q != end_ && IsDigit(*q)) ++q;
    }
    if (q != end_ && (*q == 'e' || *q == 'E')) {
      ++q;
      if (q != end_ && (*q == '+' || *q == '-')) ++q;
      if (q == end_ || !IsDigit(*q)) return Error(field, "expected a digit in the exponent");
      while (q != end_ && IsDigit(*q)) ++q;
    }
    p_ = q;
    auto result = std::from_chars(negative ? start + 1 : start, q, *out);
    if (result.ec == std::errc::result_out_of_range || !std::isfinite(*out)) {
      // from_chars also says out of range for values that underflow to (sub)normal zero.
      // strtod tells underflow (a tiny result) from overflow (HUGE_VAL) in every case.
      double d = std::strtod(std::string(start, q).c_str(), nullptr);
      if (std::isfinite(d) && std::fabs(d) < 1.0) {
        *out = static_cast<float>(d);
        return OkStatus();
      }
      p_ = start;
      return Error(field, "the number " + std::string(start, q) + " is out of range for float");
    }
    if (result.ec != std::errc() || result.ptr != q) {
      p_ = start;
      return Error(field, "bad number");
    }
    if (negative) *out = -*out;
    return OkStatus();
  }

  static bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

  // Whether the 8 bytes at p are all ASCII digits: each byte's high nibble is 3, and adding 6
  // to its low nibble does not carry into the high one.
  static bool EightDigits(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return ((v & 0xF0F0F0F0F0F0F0F0) | (((v + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) >> 4)) ==
           0x3333333333333333;
  }

  // The value of 8 ASCII digits (EightDigits(p)), by combining neighbours in three multiplies:
  // pairs of digits into 2-digit numbers, pairs of those into 4-digit ones, then the two halves.
  // Little-endian: the first digit is the lowest byte.
  static uint64_t ParseEightDigits(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    v -= 0x3030303030303030;
    v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FF;          // 2-digit numbers in bytes 0, 2, 4, 6
    v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFF;        // 4-digit numbers in words 0 and 2
    return (v * 10000 + (v >> 32)) & 0xFFFFFFFF;          // the 8-digit number in the low half
  }

  // mantissa * 10^exp10 as a float, when a double computation proves the rounding right.
  static bool FastFloat(uint64_t mantissa, int exp10, float* out) {
    static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                        1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (exp10 < -22 || exp10 > 0) return false;
    // Powers of ten up to 1e22 are exact doubles, so d is the exact value rounded once (Clinger)
    // when the mantissa is below 2^53, and twice (within 2 units of the last place) above. It is
    // in float's normal range (1e-22 to 1e19). Rounding it to float gives the float nearest the
    // exact value unless d is within those units of a point halfway between two floats (the 29
    // bits below float's precision near 1000...0): then the exact value may be on either side.
    double d = static_cast<double>(mantissa) / kPow10[-exp10];
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    uint64_t below = bits & 0x1FFFFFFF;
    if (below + 8 - 0x10000000 <= 16) return false;
    *out = static_cast<float>(d);
    return true;
  }


  // One example's tensor: nested arrays of numbers, rectangular, whose dimensions are the
  // signature's per-example shape (or any shape with as many numbers, e.g. [784] for [28,28]).
  Status ParseExample(const std::string& field, std::vector<float>* out) {
    size_t before = out->size();
    std::vector<int64_t> dims;
    LOOM_RETURN_IF_ERROR(ParseNested(field, 0, &dims, out));
    int64_t count = static_cast<int64_t>(out->size() - before);
    if (count != sig_.input_size) {
      std::string shape = "[";
      for (size_t i = 0; i < dims.size(); ++i) {
        if (i) shape += ',';
        shape += std::to_string(dims[i]);
      }
      shape += "]";
      return InvalidArgument(field + ": an example of shape " + shape + " has " +
                             std::to_string(count) + " values; input \"" + sig_.input_name +
                             "\" takes " + std::to_string(sig_.input_size) + " per example");
    }
    return OkStatus();
  }

  Status ParseNested(const std::string& field, size_t depth, std::vector<int64_t>* dims,
                     std::vector<float>* out) {
    if (depth > 8) return Error(field, "nested too deeply");
    // (Found by tests/serving/fuzz: `{"instances": [` used to step past the end here.)
    if (p_ == end_) return Error(field, "unexpected end of the body");
    if (*p_ != '[') {
      if (depth == 0 && sig_.input_size == 1) {  // a scalar example
        float v;
        LOOM_RETURN_IF_ERROR(ParseNumber(field, &v));
        out->push_back(v);
        return OkStatus();
      }
      if (p_ != end_ && (*p_ == '"' || *p_ == '{' || *p_ == 't' || *p_ == 'f' || *p_ == 'n'))
        return Error(field, "expected a list of numbers (input \"" + sig_.input_name +
                                "\" is float)");
      return Error(field, "expected '['");
    }
    ++p_;
    int64_t n = 0;
    SkipSpace();
    bool leaf_level = false;
    if (!Consume(']')) {
      while (true) {
        SkipSpace();
        if (p_ != end_ && *p_ == '[') {
          if (leaf_level) return Error(field, "mixes numbers and lists at one level");
          LOOM_RETURN_IF_ERROR(ParseNested(field, depth + 1, dims, out));
        } else {
          if (dims->size() > depth + 1) return Error(field, "ragged: mixes numbers and lists");
          leaf_level = true;
          float v;
          if (!ParseSimpleNumber(&v)) {
            if (p_ != end_ && (*p_ == '"' || *p_ == '{' || *p_ == 't' || *p_ == 'f' || *p_ == 'n'))
              return Error(field, "expected a number (input \"" + sig_.input_name + "\" is float)");
            LOOM_RETURN_IF_ERROR(ParseAnyNumber(field, &v));
          }
          out->push_back(v);
          // The rest of a row of numbers in a tight loop: ",", maybe a space, a simple number.
          while (end_ - p_ > 2 && *p_ == ',') {
            const char* comma = p_++;
            if (*p_ == ' ') ++p_;
            if (!ParseSimpleNumber(&v)) {
              p_ = comma;
              break;
            }
            out->push_back(v);
            ++n;
          }
        }
        ++n;
        if (out->size() > static_cast<size_t>(sig_.input_size) * 1'000'000)
          return Error(field, "too many values");
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume(']')) break;
        return Error(field, "expected ',' or ']'");
      }
    }
    if (dims->size() <= depth) {
      dims->resize(depth + 1, -1);
    }
    if ((*dims)[depth] == -1) {
      (*dims)[depth] = n;
    } else if ((*dims)[depth] != n) {
      return Error(field, "ragged: lists at one depth have " + std::to_string((*dims)[depth]) +
                              " and " + std::to_string(n) + " elements");
    }
    return OkStatus();
  }

  // "instances": [example, ...] with each example a tensor or {"<input>": tensor};
  // "inputs": [example, ...] or {"<input>": [example, ...]}.
  Status ParseInputs(const std::string& key, PredictRequest* req) {
    if (key == "inputs" && p_ != end_ && *p_ == '{') {
      ++p_;
      SkipSpace();
      bool found = false;
      if (!Consume('}')) {
        while (true) {
          SkipSpace();
          std::string name;
          LOOM_RETURN_IF_ERROR(ParseString(&name, key));
          SkipSpace();
          if (!Consume(':')) return Error(key, "expected ':'");
          SkipSpace();
          if (name != sig_.input_name)
            return InvalidArgument("inputs: the signature has no input named \"" + name +
                                   "\" (it takes \"" + sig_.input_name + "\")");
          if (found) return Error(key, "input \"" + name + "\" is given twice");
          found = true;
          LOOM_RETURN_IF_ERROR(ParseBatch(key + "." + name, req, false));
          SkipSpace();
          if (Consume(',')) continue;
          if (Consume('}')) break;
          return Error(key, "expected ',' or '}'");
        }
      }
      if (!found) return InvalidArgument("inputs: input \"" + sig_.input_name + "\" is missing");
      return OkStatus();
    }
    return ParseBatch(key, req, key == "instances");
  }

  Status ParseBatch(const std::string& field, PredictRequest* req, bool allow_objects) {
    if (!Consume('[')) return Error(field, "expected a list of examples");
    req->values.reserve(static_cast<size_t>(sig_.input_size));
    SkipSpace();
    if (Consume(']')) return InvalidArgument(field + ": no examples");
    while (true) {
      SkipSpace();
      std::string example_field = field + "[" + std::to_string(req->num_examples) + "]";
      if (allow_objects && p_ != end_ && *p_ == '{') {
        ++p_;
        SkipSpace();
        std::string name;
        LOOM_RETURN_IF_ERROR(ParseString(&name, example_field));
        if (name != sig_.input_name)
          return InvalidArgument(example_field + ": the signature has no input named \"" + name +
                                 "\" (it takes \"" + sig_.input_name + "\")");
        SkipSpace();
        if (!Consume(':')) return Error(example_field, "expected ':'");
        SkipSpace();
        LOOM_RETURN_IF_ERROR(ParseExample(example_field + "." + name, &req->values));
        SkipSpace();
        if (!Consume('}')) return Error(example_field, "expected '}' (one input per example)");
      } else {
        LOOM_RETURN_IF_ERROR(ParseExample(example_field, &req->values));
      }
      ++req->num_examples;
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume(']')) return OkStatus();
      return Error(field, "expected ',' or ']'");
    }
  }

 public:
  // KServe v2 infer (ParseInferRequestFast): true when the body is of the usual shape.
  bool ParseInfer(InferRequest* req) {
    bool have_inputs = false, have_id = false;
    SkipSpace();
    if (!Consume('{')) return false;
    while (true) {
      std::string key;
      if (!ParseKey(&key)) return false;
      if (key == "inputs") {
        if (have_inputs) return false;
        have_inputs = true;
        if (!Consume('[')) return false;
        SkipSpace();
        if (!ParseInferInput(req)) return false;
        SkipSpace();
        if (!Consume(']')) return false;  // exactly one input
      } else if (key == "id") {
        if (have_id) return false;
        have_id = true;
        const char* start = p_;
        if (!SkipValue(key, 0).ok()) return false;
        req->id_json.assign(start, p_);
      } else if (!SkipValue(key, 0).ok()) {  // "parameters", "outputs": not used
        return false;
      }
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) break;
      return false;
    }
    SkipSpace();
    return p_ == end_ && have_inputs;
  }

 private:
  // Whitespace, a string, whitespace, ':' and whitespace.
  bool ParseKey(std::string* key) {
    SkipSpace();
    if (!ParseString(key, "").ok()) return false;
    SkipSpace();
    if (!Consume(':')) return false;
    SkipSpace();
    return true;
  }

  bool ParseInferInput(InferRequest* req) {
    if (!Consume('{')) return false;
    bool have_name = false, have_type = false, have_shape = false, have_data = false;
    while (true) {
      std::string key;
      if (!ParseKey(&key)) return false;
      if (key == "name") {
        if (have_name || !ParseString(&req->name, key).ok()) return false;
        have_name = true;
      } else if (key == "datatype") {
        if (have_type || !ParseString(&req->datatype, key).ok()) return false;
        have_type = true;
      } else if (key == "shape") {
        if (have_shape || !ParseShape(&req->shape)) return false;
        have_shape = true;
      } else if (key == "data") {
        const bool uint8 = req->datatype == "UINT8";
        if (have_data || !have_name || !have_shape || !(uint8 || req->datatype == "FP32")) return false;
        have_data = true;
        int64_t total = 1;
        for (int64_t d : req->shape)
          total = d > 0 && d <= (int64_t{1} << 24) && total <= (int64_t{1} << 24) ? total * d : 0;
        if (total > 0 && total <= (int64_t{1} << 24)) req->values.reserve(static_cast<size_t>(total));
        if (!ParseData(uint8, 0, &req->values)) return false;
      } else if (!SkipValue(key, 0).ok()) {  // "parameters": not used
        return false;
      }
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) break;
      return false;
    }
    return have_data;
  }

  // A JSON integer of at most max_digits digits, with no sign, fraction or exponent.
  bool ParsePlainInteger(int max_digits, int64_t* v) {
    const char* start = p_;
    *v = 0;
    for (; p_ != end_ && IsDigit(*p_) && p_ - start < max_digits; ++p_) *v = *v * 10 + (*p_ - '0');
    const int64_t digits = p_ - start;
    if (digits == 0 || (digits > 1 && *start == '0')) return false;  // JSON has no leading zeros
    return p_ == end_ || !(IsDigit(*p_) || *p_ == '.' || *p_ == 'e' || *p_ == 'E');
  }

  // [d, ...] with each d a plain integer.
  bool ParseShape(std::vector<int64_t>* shape) {
    if (!Consume('[')) return false;
    while (true) {
      SkipSpace();
      int64_t d = 0;
      if (!ParsePlainInteger(18, &d)) return false;
      shape->push_back(d);
      SkipSpace();
      if (Consume(',')) continue;
      return Consume(']');
    }
  }

  // Numbers in nested lists, flattened.
  bool ParseData(bool uint8, int depth, std::vector<float>* out) {
    if (depth > 8 || !Consume('[')) return false;
    SkipSpace();
    if (Consume(']')) return true;
    while (true) {
      SkipSpace();
      if (p_ != end_ && *p_ == '[') {
        if (!ParseData(uint8, depth + 1, out)) return false;
      } else if (uint8) {
        // An integer in [0, 255] (what the general path accepts).
        int64_t v = 0;
        if (!ParsePlainInteger(3, &v) || v > 255) return false;
        out->push_back(static_cast<float>(v) / 255.0f);
      } else {
        float v;
        if (!ParseSimpleNumber(&v) && !ParseAnyNumber("", &v).ok()) return false;
        out->push_back(v);
      }
      SkipSpace();
      if (Consume(',')) continue;
      return Consume(']');
    }
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  const Signature& sig_;
};

}  // namespace

StatusOr<PredictRequest> ParsePredictRequest(std::string_view body, const Signature& signature) {
  return Parser(body, signature).Parse();
}

bool ParseInferRequestFast(std::string_view body, InferRequest* out) {
  static const Signature kNone;  // the infer parse reads no signature
  return Parser(body, kNone).ParseInfer(out);
}

}  // namespace loom::serving
