// The functions an expression calls: expr-lang's builtins, Argo's (asInt, asFloat, toJson,
// jsonpath) and the sprig functions Argo's examples and docs use, each with Go's semantics
// (sprig's conversions turn what they cannot read into 0, as sprig does). Values print as Go
// prints them: GoString is fmt's %v, GoJson is encoding/json.
#include "workflow/expr_functions.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "storage/hash.h"
#include "workflow/expr_lang.h"

namespace loom::workflow {
namespace expr_internal {
namespace {

// ---- Go's float formatting ----

// The shortest decimal digits of |v| > 0 and the position of the decimal point (Go's digs.dp:
// value = 0.DIGITS * 10^dp).
void ShortestDigits(double v, std::string& digits, int& dp) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
  std::string s(buf, r.ptr);
  size_t e = s.find('e');
  digits.clear();
  for (size_t i = 0; i < e; ++i) {
    if (s[i] != '.') digits += s[i];
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  dp = std::atoi(s.c_str() + e + 1) + 1;
}

std::string FormatE(bool neg, const std::string& d, int dp) {
  std::string out = neg ? "-" : "";
  out += d[0];
  if (d.size() > 1) out += "." + d.substr(1);
  int exp = dp - 1;
  out += exp < 0 ? "e-" : "e+";
  std::string digits = std::to_string(std::abs(exp));
  if (digits.size() < 2) digits = "0" + digits;
  return out + digits;
}

std::string FormatF(bool neg, const std::string& d, int dp) {
  std::string out = neg ? "-" : "";
  if (dp > 0) {
    for (int i = 0; i < dp; ++i) out += i < static_cast<int>(d.size()) ? d[i] : '0';
  } else {
    out += "0";
  }
  if (static_cast<int>(d.size()) > dp) {
    out += ".";
    for (int i = dp; i < 0; ++i) out += '0';
    out += d.substr(static_cast<size_t>(std::max(dp, 0)));
  }
  return out;
}

std::string SpecialFloat(double v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "+Inf" : "-Inf";
}

// strconv.FormatFloat(v, 'g', -1, 64), as fmt's %v prints a float64.
std::string GoFloatG(double v) {
  if (!std::isfinite(v)) return SpecialFloat(v);
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  std::string d;
  int dp;
  ShortestDigits(v, d, dp);
  const int exp = dp - 1;
  if (exp < -4 || exp >= 6) return FormatE(v < 0, d, dp);  // shortest: precision 6 decides
  return FormatF(v < 0, d, dp);
}

// encoding/json's float64: 'f' unless |v| < 1e-6 or >= 1e21, then 'e' with e-7 not e-07.
std::string GoFloatJson(double v) {
  if (!std::isfinite(v)) return SpecialFloat(v);
  if (v == 0) return "0";
  std::string d;
  int dp;
  ShortestDigits(v, d, dp);
  const double a = std::fabs(v);
  if (a < 1e-6 || a >= 1e21) {
    std::string s = FormatE(v < 0, d, dp);
    size_t n = s.size();
    if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
    return s;
  }
  return FormatF(v < 0, d, dp);
}

// A string quoted as Go writes it: encoding/json's (`json`: <>& and U+2028/9 escaped, other
// other control characters as \u00XX) or strconv.Quote's (\a \v, \xXX), to `out`.
void GoQuoteTo(const std::string& s, bool json, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const char* named = nullptr;
    switch (c) {
      case '"': named = "\\\""; break;
      case '\\': named = "\\\\"; break;
      case '\n': named = "\\n"; break;
      case '\r': named = "\\r"; break;
      case '\t': named = "\\t"; break;
      case '<': named = json ? "\\u003c" : nullptr; break;
      case '>': named = json ? "\\u003e" : nullptr; break;
      case '&': named = json ? "\\u0026" : nullptr; break;
      case '\a': named = json ? nullptr : "\\a"; break;
      case '\b': named = "\\b"; break;  // encoding/json too, since Go 1.22
      case '\f': named = "\\f"; break;
      case '\v': named = json ? nullptr : "\\v"; break;
      default: break;
    }
    if (named) {
      out += named;
    } else if (c < 0x20 || (!json && c == 0x7f)) {
      char buf[8];
      snprintf(buf, sizeof buf, json ? "\\u%04x" : "\\x%02x", c);
      out += buf;
    } else if (json && c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void GoJsonString(const std::string& s, std::string& out) { GoQuoteTo(s, /*json=*/true, out); }

std::vector<std::string> SortedKeys(const Json& object) {
  std::vector<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  return keys;
}

void WriteGoJson(const Json& v, int indent, int depth, std::string& out) {
  auto newline = [&](int d) {
    if (indent <= 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  if (v.is_null()) {
    out += "null";
  } else if (v.is_boolean()) {
    out += v.get<bool>() ? "true" : "false";
  } else if (v.is_number_integer()) {
    out += v.is_number_unsigned() ? std::to_string(v.get<uint64_t>()) : std::to_string(v.get<int64_t>());
  } else if (v.is_number_float()) {
    out += GoFloatJson(v.get<double>());
  } else if (v.is_string()) {
    GoJsonString(v.get_ref<const std::string&>(), out);
  } else if (v.is_array()) {
    if (v.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out += ',';
      newline(depth + 1);
      WriteGoJson(v[i], indent, depth + 1, out);
    }
    newline(depth);
    out += ']';
  } else {
    if (v.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (const std::string& k : SortedKeys(v)) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      GoJsonString(k, out);
      out += indent > 0 ? ": " : ":";
      WriteGoJson(v[k], indent, depth + 1, out);
    }
    newline(depth);
    out += '}';
  }
}

std::string GoJsonIndented(const Json& v, int indent) {
  std::string out;
  WriteGoJson(v, indent, 0, out);
  return out;
}

// ---- argument helpers ----

Status ArgCount(const std::string& f, const std::vector<Json>& args, size_t min, size_t max) {
  if (args.size() < min || args.size() > max) {
    std::string want = min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max);
    return InvalidArgument("invalid number of arguments for " + f + " (expected " + want + ", got " +
                           std::to_string(args.size()) + ")");
  }
  return OkStatus();
}

StatusOr<std::string> Str(const std::string& f, const Json& v) {
  if (!v.is_string()) return InvalidArgument("invalid argument for " + f + " (type " + GoTypeName(v) + ")");
  return v.get<std::string>();
}

StatusOr<int64_t> IntArg(const std::string& f, const Json& v) {
  if (!IsInt(v)) return InvalidArgument("invalid argument for " + f + " (type " + GoTypeName(v) + ")");
  return v.get<int64_t>();
}

// Go's strings.Split/SplitN (n < 0: all; n == 0: none) and SplitAfter.
Json Split(const std::string& s, const std::string& sep, int64_t n, bool after) {
  Json out = Json::array();
  if (n == 0) return out;
  if (sep.empty()) {  // one element per UTF-8 character
    size_t i = 0;
    while (i < s.size()) {
      if (n > 0 && static_cast<int64_t>(out.size()) == n - 1) {
        out.push_back(s.substr(i));
        return out;
      }
      size_t len = 1;
      while (i + len < s.size() && (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) ++len;
      out.push_back(s.substr(i, len));
      i += len;
    }
    return out;
  }
  size_t start = 0;
  while (n < 0 || static_cast<int64_t>(out.size()) < n - 1) {
    size_t at = s.find(sep, start);
    if (at == std::string::npos) break;
    out.push_back(s.substr(start, at - start + (after ? sep.size() : 0)));
    start = at + sep.size();
  }
  out.push_back(s.substr(start));
  return out;
}

std::string ReplaceAll(const std::string& s, const std::string& from, const std::string& to, int64_t n) {
  if (from.empty() || n == 0) return s;
  std::string out;
  size_t pos = 0;
  int64_t done = 0;
  while (n < 0 || done < n) {
    size_t at = s.find(from, pos);
    if (at == std::string::npos) break;
    out.append(s, pos, at - pos);
    out += to;
    pos = at + from.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string TrimSet(const std::string& s, const std::string& set, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e && set.find(s[b]) != std::string::npos) ++b;
  }
  if (right) {
    while (e > b && set.find(s[e - 1]) != std::string::npos) --e;
  }
  return s.substr(b, e - b);
}

const char* kSpace = " \t\n\r\v\f";

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Go's strconv.Atoi / ParseInt(s, base, 64): no spaces, an optional sign; base 0 reads 0x, 0o,
// 0b and a leading 0 (octal) as Go does.
std::optional<int64_t> ParseGoInt(std::string s, int base) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s = s.substr(1);
  }
  if (base == 0) {
    base = 10;
    if (s.size() > 1 && s[0] == '0') {
      char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s[1])));
      if (p == 'x') base = 16, s = s.substr(2);
      else if (p == 'o') base = 8, s = s.substr(2);
      else if (p == 'b') base = 2, s = s.substr(2);
      else base = 8, s = s.substr(1);
    }
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  }
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  if (v > static_cast<uint64_t>(INT64_MAX) + (neg ? 1 : 0)) return std::nullopt;
  return neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

// Go's strconv.ParseFloat(s, 64): the whole string, no spaces.
std::optional<double> ParseGoFloat(const std::string& s) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  std::string t = s;
  t.erase(std::remove(t.begin(), t.end(), '_'), t.end());
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || errno == ERANGE) return std::nullopt;
  return v;
}

StatusOr<Json> ToInt(const Json& v) {
  if (IsInt(v)) return Int(v.get<int64_t>());
  if (v.is_number_float()) return Int(static_cast<int64_t>(v.get<double>()));
  if (v.is_string()) {
    auto n = ParseGoInt(v.get<std::string>(), 10);
    if (!n) return InvalidArgument("invalid operation: int(" + v.get<std::string>() + ")");
    return Int(*n);
  }
  return InvalidArgument("invalid operation: int(" + GoTypeName(v) + ")");
}

StatusOr<Json> ToFloat(const Json& v) {
  if (IsNumber(v)) return Float(AsDouble(v));
  if (v.is_string()) {
    auto f = ParseGoFloat(v.get<std::string>());
    if (!f) return InvalidArgument("invalid operation: float(" + v.get<std::string>() + ")");
    return Float(*f);
  }
  return InvalidArgument("invalid operation: float(" + GoTypeName(v) + ")");
}

// JSON numbers read by Go's encoding/json into `any` are float64.
Json GoDecoded(const Json& v) {
  if (v.is_number()) return Float(v.get<double>());
  if (v.is_array()) {
    Json out = Json::array();
    for (const Json& e : v) out.push_back(GoDecoded(e));
    return out;
  }
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = GoDecoded(it.value());
    return out;
  }
  return v;
}

StatusOr<Json> FromJson(const std::string& text, const std::string& function) {
  StatusOr<Json> parsed = ParseJson(text, function);
  if (!parsed.ok()) return parsed.status();
  return GoDecoded(*parsed);
}

void Flatten(const Json& v, Json& out) {
  for (const Json& e : v) {
    if (e.is_array()) Flatten(e, out);
    else out.push_back(e);
  }
}

StatusOr<Json> MinMax(const std::string& f, const std::vector<Json>& args) {
  Json flat = Json::array();
  for (const Json& a : args) {
    if (a.is_array()) Flatten(a, flat);
    else flat.push_back(a);
  }
  Json best;
  for (const Json& v : flat) {
    if (!IsNumber(v)) return InvalidArgument("invalid argument for " + f + " (type " + GoTypeName(v) + ")");
    if (best.is_null()) {
      best = v;
      continue;
    }
    LOOM_ASSIGN_OR_RETURN(bool less, Less(v, best, "<"));
    if (f == "max" ? !less && !Equal(v, best) : less) best = v;
  }
  if (best.is_null()) return InvalidArgument("not enough arguments to call " + f);
  return best;
}

StatusOr<std::vector<double>> Numbers(const std::string& f, const std::vector<Json>& args) {
  Json flat = Json::array();
  for (const Json& a : args) {
    if (a.is_array()) Flatten(a, flat);
    else flat.push_back(a);
  }
  std::vector<double> out;
  for (const Json& v : flat) {
    if (!IsNumber(v)) return InvalidArgument("invalid argument for " + f + " (type " + GoTypeName(v) + ")");
    out.push_back(AsDouble(v));
  }
  return out;
}

// ---- sprig ----

// cast.ToInt64 as sprig uses it: what it cannot read is 0.
int64_t SprigInt(const Json& v) {
  if (IsInt(v)) return v.get<int64_t>();
  if (v.is_number_float()) return static_cast<int64_t>(v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    // cast trims a zero decimal part ("3.0" -> "3") before ParseInt(s, 0, 0).
    size_t dot = s.find('.');
    if (dot != std::string::npos && s.find_first_not_of('0', dot + 1) == std::string::npos) s = s.substr(0, dot);
    return ParseGoInt(s, 0).value_or(0);
  }
  return 0;
}

double SprigFloat(const Json& v) {
  if (IsNumber(v)) return AsDouble(v);
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_string()) return ParseGoFloat(v.get<std::string>()).value_or(0);
  return 0;
}

// sprig's strval: strings as they are, anything else as %v.
std::string SprigString(const Json& v) { return v.is_string() ? v.get<std::string>() : GoString(v); }

bool SprigEmpty(const Json& v) {
  if (v.is_null()) return true;
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_number()) return AsDouble(v) == 0;
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return v.empty();
  return false;
}

std::string GoQuote(const std::string& s) {
  std::string out;
  GoQuoteTo(s, /*json=*/false, out);
  return out;
}

}  // namespace
}  // namespace expr_internal

std::string GoTimeFormat(const std::string& layout, time_t when, bool utc) {
  struct tm t;
  if (utc) gmtime_r(&when, &t);
  else localtime_r(&when, &t);
  static const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};
  static const char* kDays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
  auto two = [](int v) {
    char b[16];
    snprintf(b, sizeof b, "%02d", v);
    return std::string(b);
  };
  auto zone = [&](bool colon, bool z) {
    long off = t.tm_gmtoff;
    if (z && off == 0) return std::string("Z");
    std::string s = off < 0 ? "-" : "+";
    off = std::labs(off);
    s += two(static_cast<int>(off / 3600));
    if (colon) s += ":";
    s += two(static_cast<int>(off / 60 % 60));
    return s;
  };
  const int hour12 = t.tm_hour % 12 == 0 ? 12 : t.tm_hour % 12;
  struct Chunk {
    const char* token;
    std::function<std::string()> value;
  };
  const std::vector<Chunk> chunks = {
      {"January", [&] { return std::string(kMonths[t.tm_mon]); }},
      {"Jan", [&] { return std::string(kMonths[t.tm_mon]).substr(0, 3); }},
      {"Monday", [&] { return std::string(kDays[t.tm_wday]); }},
      {"Mon", [&] { return std::string(kDays[t.tm_wday]).substr(0, 3); }},
      {"MST", [&] { return std::string(t.tm_zone ? t.tm_zone : "UTC"); }},
      {"2006", [&] { return std::to_string(t.tm_year + 1900); }},
      {"Z07:00", [&] { return zone(true, true); }},
      {"Z0700", [&] { return zone(false, true); }},
      {"-07:00", [&] { return zone(true, false); }},
      {"-0700", [&] { return zone(false, false); }},
      {".000", [&] { return std::string(".000"); }},
      {"01", [&] { return two(t.tm_mon + 1); }},
      {"02", [&] { return two(t.tm_mday); }},
      {"03", [&] { return two(hour12); }},
      {"04", [&] { return two(t.tm_min); }},
      {"05", [&] { return two(t.tm_sec); }},
      {"06", [&] { return two(t.tm_year % 100); }},
      {"_2", [&] { std::string d = std::to_string(t.tm_mday); return d.size() < 2 ? " " + d : d; }},
      {"15", [&] { return two(t.tm_hour); }},
      {"PM", [&] { return std::string(t.tm_hour >= 12 ? "PM" : "AM"); }},
      {"pm", [&] { return std::string(t.tm_hour >= 12 ? "pm" : "am"); }},
      {"1", [&] { return std::to_string(t.tm_mon + 1); }},
      {"2", [&] { return std::to_string(t.tm_mday); }},
      {"3", [&] { return std::to_string(hour12); }},
      {"4", [&] { return std::to_string(t.tm_min); }},
      {"5", [&] { return std::to_string(t.tm_sec); }},
  };
  std::string out;
  size_t i = 0;
  while (i < layout.size()) {
    bool matched = false;
    for (const Chunk& c : chunks) {
      size_t n = std::strlen(c.token);
      if (layout.compare(i, n, c.token) == 0) {
        out += c.value();
        i += n;
        matched = true;
        break;
      }
    }
    if (!matched) out += layout[i++];
  }
  return out;
}

namespace expr_internal {
namespace {

// ---- jsonpath ----

class JsonPathEval {
 public:
  JsonPathEval(const std::string& path, const Json& root) : p_(path), root_(root) {}

  StatusOr<Json> Run() {
    size_t i = 0;
    if (p_.empty() || p_[0] != '$') return Fail("a path starts with $");
    ++i;
    std::vector<Json> cur = {root_};
    bool definite = true;
    LOOM_RETURN_IF_ERROR(Segments(i, p_.size(), cur, definite, /*in_filter=*/false));
    if (definite) return cur.empty() ? Json() : cur[0];
    Json out = Json::array();
    for (Json& v : cur) out.push_back(std::move(v));
    return out;
  }

  // Applies the segments of p_[i, end) to `cur`.
  Status Segments(size_t i, size_t end, std::vector<Json>& cur, bool& definite, bool in_filter) {
    while (i < end) {
      std::vector<Json> next;
      if (p_[i] == '.') {
        ++i;
        bool recursive = i < end && p_[i] == '.';
        if (recursive) return Fail("recursive descent (..) is not supported");
        if (i < end && p_[i] == '*') {
          ++i;
          definite = false;
          for (const Json& v : cur) Children(v, next);
        } else {
          size_t s = i;
          while (i < end && (std::isalnum(static_cast<unsigned char>(p_[i])) || p_[i] == '_' || p_[i] == '-')) ++i;
          if (i == s) return Fail("expected a key after '.'");
          LOOM_RETURN_IF_ERROR(Key(cur, p_.substr(s, i - s), next, definite, in_filter));
        }
      } else if (p_[i] == '[') {
        size_t close = Matching(i, end);
        if (close == std::string::npos) return Fail("unclosed [");
        LOOM_RETURN_IF_ERROR(Bracket(p_.substr(i + 1, close - i - 1), cur, next, definite, in_filter));
        i = close + 1;
      } else {
        return Fail(std::string("unexpected '") + p_[i] + "'");
      }
      cur = std::move(next);
    }
    return OkStatus();
  }

 private:
  Status Fail(const std::string& m) const { return InvalidArgument("jsonpath " + p_ + ": " + m); }

  size_t Matching(size_t open, size_t end) const {
    int depth = 0;
    char quote = 0;
    for (size_t i = open; i < end; ++i) {
      char c = p_[i];
      if (quote) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '\'' || c == '"') quote = c;
      else if (c == '[' || c == '(') ++depth;
      else if (c == ']' || c == ')') {
        if (--depth == 0) return i;
      }
    }
    return std::string::npos;
  }

  static void Children(const Json& v, std::vector<Json>& out) {
    if (v.is_array()) {
      for (const Json& e : v) out.push_back(e);
    } else if (v.is_object()) {
      for (const std::string& k : SortedKeys(v)) out.push_back(v[k]);
    }
  }

  Status Key(const std::vector<Json>& cur, const std::string& key, std::vector<Json>& next, bool definite,
             bool in_filter) {
    for (const Json& v : cur) {
      if (v.is_object() && v.contains(key)) {
        next.push_back(v[key]);
      } else if (definite && !in_filter) {
        return Fail("key '" + key + "' not found");
      }
    }
    return OkStatus();
  }

  Status Bracket(std::string sel, const std::vector<Json>& cur, std::vector<Json>& next, bool& definite,
                 bool in_filter) {
    sel = TrimSet(sel, " ", true, true);
    if (sel == "*") {
      definite = false;
      for (const Json& v : cur) Children(v, next);
      return OkStatus();
    }
    if (!sel.empty() && sel[0] == '?') {
      definite = false;
      std::string f = TrimSet(sel.substr(1), " ", true, true);
      if (f.size() < 2 || f.front() != '(' || f.back() != ')') return Fail("a filter is ?(...)");
      f = f.substr(1, f.size() - 2);
      for (const Json& v : cur) {
        std::vector<Json> items;
        Children(v, items);
        for (const Json& item : items) {
          size_t pos = 0;
          LOOM_ASSIGN_OR_RETURN(Json keep, FilterOr(f, pos, item));
          if (pos != f.size()) return Fail("unexpected '" + f.substr(pos) + "' in filter");
          if (Truthy(keep)) next.push_back(item);
        }
      }
      return OkStatus();
    }
    if (sel[0] == '\'' || sel[0] == '"') {
      if (sel.size() < 2 || sel.back() != sel[0]) return Fail("unclosed quote in [" + sel + "]");
      return Key(cur, sel.substr(1, sel.size() - 2), next, definite, in_filter);
    }
    if (sel.find(':') != std::string::npos) {
      definite = false;
      Json parts = Split(sel, ":", -1, false);
      for (const Json& v : cur) {
        if (!v.is_array()) continue;
        const int64_t len = static_cast<int64_t>(v.size());
        int64_t b[3] = {0, len, 1};
        for (size_t k = 0; k < parts.size() && k < 3; ++k) {
          std::string t = TrimSet(parts[k].get<std::string>(), " ", true, true);
          if (t.empty()) continue;
          auto n = ParseGoInt(t, 10);
          if (!n) return Fail("bad slice [" + sel + "]");
          b[k] = *n;
        }
        if (b[2] <= 0) return Fail("bad slice step in [" + sel + "]");
        for (int k = 0; k < 2; ++k) {
          if (b[k] < 0) b[k] += len;
          b[k] = std::clamp<int64_t>(b[k], 0, len);
        }
        for (int64_t i = b[0]; i < b[1]; i += b[2]) next.push_back(v[static_cast<size_t>(i)]);
      }
      return OkStatus();
    }
    if (sel.find(',') != std::string::npos) definite = false;
    for (const Json& part : Split(sel, ",", -1, false)) {
      std::string t = TrimSet(part.get<std::string>(), " ", true, true);
      auto n = ParseGoInt(t, 10);
      if (!n) return Fail("bad index [" + sel + "]");
      for (const Json& v : cur) {
        if (!v.is_array()) {
          if (definite && !in_filter) return Fail("[" + t + "] of a value that is not an array");
          continue;
        }
        int64_t i = *n < 0 ? *n + static_cast<int64_t>(v.size()) : *n;
        if (i < 0 || i >= static_cast<int64_t>(v.size())) {
          if (definite && !in_filter) return Fail("index " + t + " out of range");
          continue;
        }
        next.push_back(v[static_cast<size_t>(i)]);
      }
    }
    return OkStatus();
  }

  static bool Truthy(const Json& v) {
    if (v.is_boolean()) return v.get<bool>();
    return !v.is_null() && !v.is_discarded();
  }

  void Space(const std::string& f, size_t& pos) {
    while (pos < f.size() && f[pos] == ' ') ++pos;
  }

  bool Take(const std::string& f, size_t& pos, const char* tok) {
    Space(f, pos);
    size_t n = std::strlen(tok);
    if (f.compare(pos, n, tok) == 0) {
      pos += n;
      return true;
    }
    return false;
  }

  StatusOr<Json> FilterOr(const std::string& f, size_t& pos, const Json& item) {
    LOOM_ASSIGN_OR_RETURN(Json left, FilterAnd(f, pos, item));
    while (Take(f, pos, "||")) {
      LOOM_ASSIGN_OR_RETURN(Json right, FilterAnd(f, pos, item));
      left = Truthy(left) || Truthy(right);
    }
    return left;
  }

  StatusOr<Json> FilterAnd(const std::string& f, size_t& pos, const Json& item) {
    LOOM_ASSIGN_OR_RETURN(Json left, FilterCompare(f, pos, item));
    while (Take(f, pos, "&&")) {
      LOOM_ASSIGN_OR_RETURN(Json right, FilterCompare(f, pos, item));
      left = Truthy(left) && Truthy(right);
    }
    return left;
  }

  StatusOr<Json> FilterCompare(const std::string& f, size_t& pos, const Json& item) {
    LOOM_ASSIGN_OR_RETURN(Json left, FilterOperand(f, pos, item));
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (!Take(f, pos, op)) continue;
      LOOM_ASSIGN_OR_RETURN(Json right, FilterOperand(f, pos, item));
      if (left.is_discarded() || right.is_discarded()) return Json(false);
      std::string o = op;
      if (o == "==") return Json(Equal(left, right));
      if (o == "!=") return Json(!Equal(left, right));
      if (!((IsNumber(left) && IsNumber(right)) || (left.is_string() && right.is_string()))) return Json(false);
      StatusOr<bool> less = o == "<" || o == ">=" ? Less(left, right, op) : Less(right, left, op);
      if (!less.ok()) return Json(false);
      return Json(o == "<" || o == ">" ? *less : !*less);
    }
    return left;
  }

  // @.path, $.path, a literal, !x or (x). A path that leads nowhere is a discarded value.
  StatusOr<Json> FilterOperand(const std::string& f, size_t& pos, const Json& item) {
    Space(f, pos);
    if (pos >= f.size()) return Fail("filter ends early");
    char c = f[pos];
    if (c == '!') {
      ++pos;
      LOOM_ASSIGN_OR_RETURN(Json v, FilterOperand(f, pos, item));
      return Json(!Truthy(v));
    }
    if (c == '(') {
      ++pos;
      LOOM_ASSIGN_OR_RETURN(Json v, FilterOr(f, pos, item));
      if (!Take(f, pos, ")")) return Fail("unclosed ( in filter");
      return v;
    }
    if (c == '@' || c == '$') {
      size_t s = pos++;
      while (pos < f.size() && (std::isalnum(static_cast<unsigned char>(f[pos])) || std::strchr("._-[]*'\"", f[pos]))) ++pos;
      std::string sub = f.substr(s + 1, pos - s - 1);
      JsonPathEval inner("$" + sub, c == '@' ? item : root_);
      std::vector<Json> cur = {c == '@' ? item : root_};
      bool definite = true;
      inner.p_ = "$" + sub;
      Status st = inner.Segments(1, inner.p_.size(), cur, definite, /*in_filter=*/true);
      if (!st.ok()) return st;
      if (cur.empty()) return Json(Json::value_t::discarded);
      if (definite) return cur[0];
      Json arr = Json::array();
      for (Json& v : cur) arr.push_back(std::move(v));
      return arr;
    }
    if (c == '\'' || c == '"') {
      size_t close = f.find(c, pos + 1);
      if (close == std::string::npos) return Fail("unclosed string in filter");
      Json v = f.substr(pos + 1, close - pos - 1);
      pos = close + 1;
      return v;
    }
    size_t s = pos;
    while (pos < f.size() && (std::isalnum(static_cast<unsigned char>(f[pos])) || f[pos] == '.' || f[pos] == '-' || f[pos] == '+')) ++pos;
    std::string word = f.substr(s, pos - s);
    if (word == "true" || word == "false") return Json(word == "true");
    if (word == "null") return Json();
    auto n = ParseGoFloat(word);
    if (!n) return Fail("unexpected '" + f.substr(s) + "' in filter");
    return Float(*n);
  }

  std::string p_;
  const Json& root_;
};

const std::set<std::string>& Functions() {
  static const std::set<std::string> f = {
      // expr-lang's builtins
      "len", "type", "abs", "ceil", "floor", "round", "int", "float", "string", "trim", "trimPrefix",
      "trimSuffix", "upper", "lower", "split", "splitAfter", "replace", "repeat", "join", "indexOf",
      "lastIndexOf", "hasPrefix", "hasSuffix", "max", "min", "mean", "median", "toJSON", "fromJSON",
      "toBase64", "fromBase64", "first", "last", "get", "take", "keys", "values", "toPairs", "fromPairs",
      "reverse", "uniq", "concat", "flatten", "sort",
      // Argo's
      "asInt", "asFloat", "toJson", "jsonpath"};
  return f;
}

const std::set<std::string>& SprigFunctions() {
  static const std::set<std::string> f = {
      "int", "int64", "float64", "atoi", "toString", "add", "add1", "sub", "mul", "div", "mod", "max",
      "min", "trim", "trimAll", "trimPrefix", "trimSuffix", "upper", "lower", "replace", "trunc", "quote",
      "squote", "b64enc", "b64dec", "dig", "default", "empty", "contains", "hasPrefix", "hasSuffix",
      "repeat", "substr", "date", "toJson", "list", "dict"};
  return f;
}

}  // namespace

std::string GoTypeName(const Json& v) {
  if (v.is_null()) return "<nil>";
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number_float()) return "float64";
  if (v.is_string()) return "string";
  if (v.is_array()) return "[]interface {}";
  return "map[string]interface {}";
}

bool IsNumber(const Json& v) { return v.is_number(); }
bool IsInt(const Json& v) { return v.is_number_integer(); }
double AsDouble(const Json& v) { return v.get<double>(); }
Json Int(int64_t v) { return Json(v); }
Json Float(double v) { return Json(v); }

bool Equal(const Json& a, const Json& b) {
  if (IsNumber(a) && IsNumber(b)) {
    if (IsInt(a) && IsInt(b)) return a.get<int64_t>() == b.get<int64_t>();
    return AsDouble(a) == AsDouble(b);
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!Equal(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !Equal(it.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

StatusOr<bool> Less(const Json& a, const Json& b, const char* op) {
  if (IsNumber(a) && IsNumber(b)) {
    if (IsInt(a) && IsInt(b)) return a.get<int64_t>() < b.get<int64_t>();
    return AsDouble(a) < AsDouble(b);
  }
  if (a.is_string() && b.is_string()) return a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
  return InvalidArgument(std::string("invalid operation: ") + op + " (mismatched types " + GoTypeName(a) +
                         " and " + GoTypeName(b) + ")");
}

bool IsFunction(const std::string& name) { return Functions().count(name) > 0; }
bool IsSprigFunction(const std::string& name) { return SprigFunctions().count(name) > 0; }

std::string RefusedFunction(const std::string& name) {
  if (name == "now" || name == "date" || name == "duration" || name == "timezone") {
    return "function " + name + " is not supported: expressions here have no time or duration values";
  }
  if (name == "bitand" || name == "bitor" || name == "bitxor" || name == "bitnand" || name == "bitnot" ||
      name == "bitshl" || name == "bitshr" || name == "bitushr") {
    return "function " + name + " is not supported (bit operations)";
  }
  return "";
}

StatusOr<Json> JsonPath(const std::string& json, const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(Json doc, FromJson(json, "jsonpath"));
  JsonPathEval e(path, doc);
  return e.Run();
}

StatusOr<Json> CallFunction(const std::string& f, const std::vector<Json>& a) {
  const size_t n = a.size();
  if (f == "len") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    if (a[0].is_array() || a[0].is_object()) return Int(static_cast<int64_t>(a[0].size()));
    if (a[0].is_string()) {
      int64_t runes = 0;
      for (unsigned char c : a[0].get_ref<const std::string&>()) runes += (c & 0xC0) != 0x80;
      return Int(runes);
    }
    return InvalidArgument("invalid argument for len (type " + GoTypeName(a[0]) + ")");
  }
  if (f == "type") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    const Json& v = a[0];
    return Json(v.is_null() ? "nil" : v.is_boolean() ? "bool" : IsInt(v) ? "int" : v.is_number() ? "float"
                : v.is_string() ? "string" : v.is_array() ? "array" : "map");
  }
  if (f == "abs" || f == "ceil" || f == "floor" || f == "round") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    if (!IsNumber(a[0])) return InvalidArgument("invalid argument for " + f + " (type " + GoTypeName(a[0]) + ")");
    if (f == "abs") return IsInt(a[0]) ? Int(std::llabs(a[0].get<int64_t>())) : Float(std::fabs(AsDouble(a[0])));
    double d = AsDouble(a[0]);
    return Float(f == "ceil" ? std::ceil(d) : f == "floor" ? std::floor(d) : std::round(d));
  }
  if (f == "int" || f == "asInt") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    return ToInt(a[0]);
  }
  if (f == "float" || f == "asFloat") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    return ToFloat(a[0]);
  }
  if (f == "string") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    return Json(GoString(a[0]));
  }
  if (f == "toJSON") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    return Json(GoJsonIndented(a[0], 2));
  }
  if (f == "toJson") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    return Json(GoJson(a[0]));
  }
  if (f == "fromJSON") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    LOOM_ASSIGN_OR_RETURN(std::string s, Str(f, a[0]));
    return FromJson(s, "fromJSON");
  }
  if (f == "jsonpath") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 2, 2));
    LOOM_ASSIGN_OR_RETURN(std::string json, Str(f, a[0]));
    LOOM_ASSIGN_OR_RETURN(std::string path, Str(f, a[1]));
    return JsonPath(json, path);
  }
  if (f == "toBase64" || f == "fromBase64") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    LOOM_ASSIGN_OR_RETURN(std::string s, Str(f, a[0]));
    if (f == "toBase64") return Json(storage::Base64Encode(s));
    LOOM_ASSIGN_OR_RETURN(std::string d, storage::Base64Decode(s, "fromBase64"));
    return Json(d);
  }
  if (f == "max" || f == "min") return MinMax(f, a);
  if (f == "mean" || f == "median") {
    LOOM_ASSIGN_OR_RETURN(std::vector<double> v, Numbers(f, a));
    if (v.empty()) return Float(0);
    if (f == "mean") {
      double sum = 0;
      for (double x : v) sum += x;
      return Float(sum / static_cast<double>(v.size()));
    }
    std::sort(v.begin(), v.end());
    size_t m = v.size() / 2;
    return Float(v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2);
  }
  if (f == "first" || f == "last") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    if (a[0].is_null()) return Json();
    if (!a[0].is_array()) return InvalidArgument("cannot get " + f + " from " + GoTypeName(a[0]));
    if (a[0].empty()) return Json();
    return f == "first" ? a[0].front() : a[0].back();
  }
  if (f == "get") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 2, 2));
    if (a[0].is_object() && a[1].is_string()) {
      auto it = a[0].find(a[1].get<std::string>());
      return it == a[0].end() ? Json() : *it;
    }
    if (a[0].is_array() && IsInt(a[1])) {
      int64_t i = a[1].get<int64_t>(), len = static_cast<int64_t>(a[0].size());
      if (i < 0) i += len;
      return i >= 0 && i < len ? a[0][static_cast<size_t>(i)] : Json();
    }
    return Json();
  }
  if (f == "keys" || f == "values" || f == "toPairs") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    if (!a[0].is_object()) return InvalidArgument("cannot get " + f + " from " + GoTypeName(a[0]));
    Json out = Json::array();
    for (const std::string& k : SortedKeys(a[0])) {
      if (f == "keys") out.push_back(k);
      else if (f == "values") out.push_back(a[0][k]);
      else out.push_back(Json::array({k, a[0][k]}));
    }
    return out;
  }
  if (f == "fromPairs") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    if (!a[0].is_array()) return InvalidArgument("cannot transform " + GoTypeName(a[0]) + " from pairs");
    Json out = Json::object();
    for (const Json& p : a[0]) {
      if (!p.is_array() || p.size() != 2) return InvalidArgument("invalid pair " + GoString(p));
      out[p[0].is_string() ? p[0].get<std::string>() : GoString(p[0])] = p[1];
    }
    return out;
  }
  if (f == "reverse" || f == "uniq" || f == "flatten" || f == "sort" || f == "take") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 2));
    if (!a[0].is_array()) return InvalidArgument("cannot " + f + " " + GoTypeName(a[0]));
    Json out = Json::array();
    if (f == "reverse") {
      for (auto it = a[0].rbegin(); it != a[0].rend(); ++it) out.push_back(*it);
    } else if (f == "uniq") {
      for (const Json& v : a[0]) {
        bool seen = false;
        for (const Json& o : out) seen = seen || (o.type() == v.type() && Equal(o, v));  // Go map keys: 1 and 1.0 differ
        if (!seen) out.push_back(v);
      }
    } else if (f == "flatten") {
      Flatten(a[0], out);
    } else if (f == "take") {
      if (n != 2) return ArgCount(f, a, 2, 2);
      LOOM_ASSIGN_OR_RETURN(int64_t k, IntArg(f, a[1]));
      for (size_t i = 0; i < a[0].size() && static_cast<int64_t>(i) < k; ++i) out.push_back(a[0][i]);
    } else {
      bool desc = false;
      if (n == 2) {
        if (!a[1].is_string() || (a[1] != "asc" && a[1] != "desc")) return InvalidArgument("sort: unknown order " + GoString(a[1]));
        desc = a[1] == "desc";
      }
      std::vector<Json> items(a[0].begin(), a[0].end());
      Status bad = OkStatus();
      std::stable_sort(items.begin(), items.end(), [&](const Json& x, const Json& y) {
        StatusOr<bool> l = desc ? Less(y, x, "<") : Less(x, y, "<");
        if (!l.ok()) bad = l.status();
        return l.ok() && *l;
      });
      LOOM_RETURN_IF_ERROR(bad);
      for (Json& v : items) out.push_back(std::move(v));
    }
    return out;
  }
  if (f == "concat") {
    Json out = Json::array();
    for (const Json& v : a) {
      if (!v.is_array()) return InvalidArgument("cannot concat " + GoTypeName(v));
      for (const Json& e : v) out.push_back(e);
    }
    return out;
  }
  if (f == "join") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 2));
    if (!a[0].is_array()) return InvalidArgument("invalid argument for join (type " + GoTypeName(a[0]) + ")");
    std::string glue;
    if (n == 2) {
      LOOM_ASSIGN_OR_RETURN(glue, Str(f, a[1]));
    }
    std::string out;
    for (size_t i = 0; i < a[0].size(); ++i) {
      LOOM_ASSIGN_OR_RETURN(std::string s, Str(f, a[0][i]));
      if (i > 0) out += glue;
      out += s;
    }
    return Json(out);
  }
  // The string functions: every argument but a count is a string.
  std::vector<std::string> s;
  for (const Json& v : a) s.push_back(v.is_string() ? v.get<std::string>() : "");
  auto strings = [&](size_t count) -> Status {
    for (size_t i = 0; i < count && i < n; ++i) {
      if (!a[i].is_string()) return InvalidArgument("invalid argument for " + f + " (type " + GoTypeName(a[i]) + ")");
    }
    return OkStatus();
  };
  if (f == "trim") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 2));
    LOOM_RETURN_IF_ERROR(strings(n));
    return Json(TrimSet(s[0], n == 2 ? s[1] : kSpace, true, true));
  }
  if (f == "trimPrefix" || f == "trimSuffix") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 2));
    LOOM_RETURN_IF_ERROR(strings(n));
    std::string fix = n == 2 ? s[1] : " ";
    if (f == "trimPrefix") return Json(s[0].rfind(fix, 0) == 0 ? s[0].substr(fix.size()) : s[0]);
    bool ends = s[0].size() >= fix.size() && s[0].compare(s[0].size() - fix.size(), fix.size(), fix) == 0;
    return Json(ends ? s[0].substr(0, s[0].size() - fix.size()) : s[0]);
  }
  if (f == "upper" || f == "lower") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 1, 1));
    LOOM_RETURN_IF_ERROR(strings(1));
    return Json(f == "upper" ? Upper(s[0]) : Lower(s[0]));
  }
  if (f == "split" || f == "splitAfter") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 2, 3));
    LOOM_RETURN_IF_ERROR(strings(2));
    int64_t count = -1;
    if (n == 3) {
      LOOM_ASSIGN_OR_RETURN(count, IntArg(f, a[2]));
    }
    return Split(s[0], s[1], count, f == "splitAfter");
  }
  if (f == "replace") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 3, 4));
    LOOM_RETURN_IF_ERROR(strings(3));
    int64_t count = -1;
    if (n == 4) {
      LOOM_ASSIGN_OR_RETURN(count, IntArg(f, a[3]));
    }
    return Json(ReplaceAll(s[0], s[1], s[2], count));
  }
  if (f == "repeat") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 2, 2));
    LOOM_RETURN_IF_ERROR(strings(1));
    LOOM_ASSIGN_OR_RETURN(int64_t k, IntArg(f, a[1]));
    if (k < 0) return InvalidArgument("invalid argument for repeat (expected positive integer, got " + std::to_string(k) + ")");
    if (k > 1000000 || s[0].size() * static_cast<size_t>(k) > (1u << 24)) return InvalidArgument("memory budget exceeded");
    std::string out;
    for (int64_t i = 0; i < k; ++i) out += s[0];
    return Json(out);
  }
  if (f == "indexOf" || f == "lastIndexOf" || f == "hasPrefix" || f == "hasSuffix") {
    LOOM_RETURN_IF_ERROR(ArgCount(f, a, 2, 2));
    LOOM_RETURN_IF_ERROR(strings(2));
    if (f == "indexOf" || f == "lastIndexOf") {
      size_t at = f == "indexOf" ? s[0].find(s[1]) : s[0].rfind(s[1]);
      return Int(at == std::string::npos ? -1 : static_cast<int64_t>(at));
    }
    if (f == "hasPrefix") return Json(s[0].rfind(s[1], 0) == 0);
    return Json(s[0].size() >= s[1].size() && s[0].compare(s[0].size() - s[1].size(), s[1].size(), s[1]) == 0);
  }
  return InvalidArgument("unknown function " + f);
}

StatusOr<Json> CallSprig(const std::string& f, const std::vector<Json>& a) {
  const std::string name = "sprig." + f;
  const size_t n = a.size();
  auto count = [&](size_t min, size_t max) { return ArgCount(name, a, min, max); };
  if (f == "int" || f == "int64") {
    LOOM_RETURN_IF_ERROR(count(1, 1));
    return Int(SprigInt(a[0]));
  }
  if (f == "atoi") {
    LOOM_RETURN_IF_ERROR(count(1, 1));
    return Int(ParseGoInt(SprigString(a[0]), 10).value_or(0));
  }
  if (f == "float64") {
    LOOM_RETURN_IF_ERROR(count(1, 1));
    return Float(SprigFloat(a[0]));
  }
  if (f == "toString") {
    LOOM_RETURN_IF_ERROR(count(1, 1));
    return Json(SprigString(a[0]));
  }
  if (f == "toJson") {
    LOOM_RETURN_IF_ERROR(count(1, 1));
    return Json(GoJson(a[0]));
  }
  if (f == "add" || f == "mul" || f == "max" || f == "min") {
    LOOM_RETURN_IF_ERROR(count(1, 1000));
    int64_t acc = SprigInt(a[0]);
    for (size_t i = 1; i < n; ++i) {
      int64_t v = SprigInt(a[i]);
      if (f == "add") acc += v;
      else if (f == "mul") acc *= v;
      else if (f == "max") acc = std::max(acc, v);
      else acc = std::min(acc, v);
    }
    return Int(acc);
  }
  if (f == "add1") {
    LOOM_RETURN_IF_ERROR(count(1, 1));
    return Int(SprigInt(a[0]) + 1);
  }
  if (f == "sub" || f == "div" || f == "mod") {
    LOOM_RETURN_IF_ERROR(count(2, 2));
    int64_t x = SprigInt(a[0]), y = SprigInt(a[1]);
    if (f == "sub") return Int(x - y);
    if (y == 0) return InvalidArgument("runtime error: integer divide by zero");
    return Int(f == "div" ? x / y : x % y);
  }
  if (f == "list") return Json(a);
  if (f == "dict") {
    Json out = Json::object();
    for (size_t i = 0; i < n; i += 2) out[SprigString(a[i])] = i + 1 < n ? a[i + 1] : Json("");
    return out;
  }
  if (f == "default") {
    LOOM_RETURN_IF_ERROR(count(1, 2));
    if (n < 2 || SprigEmpty(a[1])) return a[0];
    return a[1];
  }
  if (f == "empty") {
    LOOM_RETURN_IF_ERROR(count(1, 1));
    return Json(SprigEmpty(a[0]));
  }
  if (f == "quote" || f == "squote") {
    std::string out;
    for (const Json& v : a) {
      if (v.is_null()) continue;
      if (!out.empty()) out += " ";
      out += f == "quote" ? GoQuote(SprigString(v)) : "'" + SprigString(v) + "'";
    }
    return Json(out);
  }
  if (f == "dig") {
    if (n < 3) return InvalidArgument("sprig.dig: expected keys, a default and a map");
    if (!a[n - 1].is_object()) return InvalidArgument("sprig.dig: the last argument is " + GoTypeName(a[n - 1]) + ", not a map");
    const Json* cur = &a[n - 1];
    for (size_t i = 0; i + 2 < n; ++i) {
      LOOM_ASSIGN_OR_RETURN(std::string key, Str(name, a[i]));
      auto it = cur->find(key);
      if (it == cur->end()) return a[n - 2];
      if (i + 3 == n) return *it;
      if (!it->is_object()) return InvalidArgument("sprig.dig: " + key + " is " + GoTypeName(*it) + ", not a map");
      cur = &*it;
    }
    return a[n - 2];
  }
  if (f == "trunc") {
    LOOM_RETURN_IF_ERROR(count(2, 2));
    int64_t c = SprigInt(a[0]);
    std::string s = SprigString(a[1]);
    const int64_t len = static_cast<int64_t>(s.size());
    if (c < 0 && len + c > 0) return Json(s.substr(static_cast<size_t>(len + c)));
    if (c >= 0 && len > c) return Json(s.substr(0, static_cast<size_t>(c)));
    return Json(s);
  }
  if (f == "substr") {
    LOOM_RETURN_IF_ERROR(count(3, 3));
    int64_t start = SprigInt(a[0]), end = SprigInt(a[1]);
    std::string s = SprigString(a[2]);
    const int64_t len = static_cast<int64_t>(s.size());
    if (start < 0) return Json(s.substr(0, static_cast<size_t>(std::clamp<int64_t>(end, 0, len))));
    if (end < 0 || end > len) return Json(s.substr(static_cast<size_t>(std::min(start, len))));
    if (start > end) return InvalidArgument("sprig.substr: start " + std::to_string(start) + " is after end " + std::to_string(end));
    return Json(s.substr(static_cast<size_t>(start), static_cast<size_t>(end - start)));
  }
  if (f == "repeat") {
    LOOM_RETURN_IF_ERROR(count(2, 2));
    int64_t k = SprigInt(a[0]);
    std::string s = SprigString(a[1]);
    if (k < 0 || s.size() * static_cast<size_t>(k) > (1u << 24)) return InvalidArgument("sprig.repeat: count " + std::to_string(k) + " is out of range");
    std::string out;
    for (int64_t i = 0; i < k; ++i) out += s;
    return Json(out);
  }
  if (f == "date") {
    LOOM_RETURN_IF_ERROR(count(2, 2));
    LOOM_ASSIGN_OR_RETURN(std::string layout, Str(name, a[0]));
    // sprig's date takes a time or unix seconds; anything else (a string) means now.
    time_t when = IsInt(a[1]) ? static_cast<time_t>(a[1].get<int64_t>()) : std::time(nullptr);
    return Json(GoTimeFormat(layout, when, /*utc=*/false));
  }
  // The string functions, sprig's argument order (the string operated on comes last).
  std::vector<std::string> s;
  for (const Json& v : a) s.push_back(SprigString(v));
  if (f == "trim" || f == "upper" || f == "lower" || f == "b64enc" || f == "b64dec") {
    LOOM_RETURN_IF_ERROR(count(1, 1));
    if (f == "trim") return Json(TrimSet(s[0], kSpace, true, true));
    if (f == "upper") return Json(Upper(s[0]));
    if (f == "lower") return Json(Lower(s[0]));
    if (f == "b64enc") return Json(storage::Base64Encode(s[0]));
    StatusOr<std::string> d = storage::Base64Decode(s[0], "b64dec");
    return Json(d.ok() ? *d : "illegal base64 data");  // sprig returns the error's text
  }
  if (f == "trimAll" || f == "trimPrefix" || f == "trimSuffix" || f == "contains" || f == "hasPrefix" ||
      f == "hasSuffix") {
    LOOM_RETURN_IF_ERROR(count(2, 2));
    const std::string& arg = s[0];
    const std::string& str = s[1];
    if (f == "trimAll") return Json(TrimSet(str, arg, true, true));
    if (f == "trimPrefix") return Json(str.rfind(arg, 0) == 0 ? str.substr(arg.size()) : str);
    const bool ends = str.size() >= arg.size() && str.compare(str.size() - arg.size(), arg.size(), arg) == 0;
    if (f == "trimSuffix") return Json(ends ? str.substr(0, str.size() - arg.size()) : str);
    if (f == "contains") return Json(str.find(arg) != std::string::npos);
    if (f == "hasPrefix") return Json(str.rfind(arg, 0) == 0);
    return Json(ends);
  }
  if (f == "replace") {
    LOOM_RETURN_IF_ERROR(count(3, 3));
    return Json(ReplaceAll(s[2], s[0], s[1], -1));
  }
  return InvalidArgument(name + " is not supported");
}

}  // namespace expr_internal

std::string GoJson(const Json& value) { return expr_internal::GoJsonIndented(value, 0); }

std::string GoString(const Json& v) {
  if (v.is_null()) return "<nil>";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return v.is_number_unsigned() ? std::to_string(v.get<uint64_t>()) : std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return expr_internal::GoFloatG(v.get<double>());
  if (v.is_string()) return v.get<std::string>();
  std::string out;
  if (v.is_array()) {
    out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + GoString(v[i]);
    return out + "]";
  }
  out = "map[";
  bool first = true;
  for (const std::string& k : expr_internal::SortedKeys(v)) {
    out += (first ? "" : " ") + k + ":" + GoString(v[k]);
    first = false;
  }
  return out + "]";
}

}  // namespace loom::workflow
