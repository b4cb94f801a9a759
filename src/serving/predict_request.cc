#include "serving/predict_request.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace loom::serving {
namespace {

// Exact powers of ten for float's fast path (Clinger): a mantissa below 2^24 scaled by one of
// these is correctly rounded in a single float operation.
constexpr float kPow10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

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
  // and numbers beyond float's range.
  Status ParseNumber(const std::string& field, float* out) {
    const char* start = p_;
    const char* q = p_;
    bool negative = false;
    if (q != end_ && *q == '-') {
      negative = true;
      ++q;
    }
    if (q == end_ || !std::isdigit(static_cast<unsigned char>(*q)))
      return Error(field, "expected a number");
    uint64_t mantissa = 0;
    int digits = 0;
    int exp10 = 0;
    if (*q == '0') {
      ++q;
    } else {
      while (q != end_ && std::isdigit(static_cast<unsigned char>(*q))) {
        if (digits < 19) {
          mantissa = mantissa * 10 + static_cast<uint64_t>(*q - '0');
          ++digits;
        } else {
          ++exp10;
        }
        ++q;
      }
    }
    if (q != end_ && *q == '.') {
      ++q;
      if (q == end_ || !std::isdigit(static_cast<unsigned char>(*q)))
        return Error(field, "expected a digit after '.'");
      while (q != end_ && std::isdigit(static_cast<unsigned char>(*q))) {
        if (digits < 19) {
          mantissa = mantissa * 10 + static_cast<uint64_t>(*q - '0');
          if (mantissa != 0) ++digits;
          --exp10;
        }
        ++q;
      }
    }
    bool has_exponent = false;
    if (q != end_ && (*q == 'e' || *q == 'E')) {
      has_exponent = true;
      ++q;
      if (q != end_ && (*q == '+' || *q == '-')) ++q;
      if (q == end_ || !std::isdigit(static_cast<unsigned char>(*q)))
        return Error(field, "expected a digit in the exponent");
      while (q != end_ && std::isdigit(static_cast<unsigned char>(*q))) ++q;
    }
    p_ = q;
    if (!has_exponent && mantissa < (1u << 24) && exp10 <= 0 && exp10 >= -10) {
      float v = static_cast<float>(mantissa) / kPow10f[-exp10];
      *out = negative ? -v : v;
      return OkStatus();
    }
    // The general case: correctly rounded by the standard library.
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
          if (p_ != end_ && (*p_ == '"' || *p_ == '{' || *p_ == 't' || *p_ == 'f' || *p_ == 'n'))
            return Error(field, "expected a number (input \"" + sig_.input_name + "\" is float)");
          LOOM_RETURN_IF_ERROR(ParseNumber(field, &v));
          out->push_back(v);
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

  const char* p_;
  const char* begin_;
  const char* end_;
  const Signature& sig_;
};

}  // namespace

StatusOr<PredictRequest> ParsePredictRequest(std::string_view body, const Signature& signature) {
  return Parser(body, signature).Parse();
}

}  // namespace loom::serving
