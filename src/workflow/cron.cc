#include "workflow/cron.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "core/file.h"

namespace loom::workflow {
namespace {

constexpr uint64_t kStar = uint64_t{1} << 63;  // robfig's starBit: the field was * or ?

// ---- civil time (proleptic Gregorian, H. Hinnant's algorithms) -----------------------------

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int month, day, hour, minute, second, weekday;  // weekday: 0 Sunday
};

Civil CivilFromWall(int64_t wall) {
  int64_t days = wall >= 0 ? wall / 86400 : (wall - 86399) / 86400;
  const int64_t secs = wall - days * 86400;
  Civil c;
  c.weekday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2);
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>(secs / 60 % 60);
  c.second = static_cast<int>(secs % 60);
  return c;
}

// Go's time.Date: month and day may overflow and are normalized.
int64_t WallOf(int64_t year, int64_t month, int64_t day, int64_t hour, int64_t minute, int64_t second) {
  int64_t m0 = month - 1;
  year += m0 >= 0 ? m0 / 12 : (m0 - 11) / 12;
  m0 -= (m0 >= 0 ? m0 / 12 : (m0 - 11) / 12) * 12;
  return (DaysFromCivil(year, m0 + 1, 1) + day - 1) * 86400 + hour * 3600 + minute * 60 + second;
}

// ---- TZif --------------------------------------------------------------------------------

int64_t BigEndian(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

// ---- robfig/cron's parser ----------------------------------------------------------------

struct Bounds {
  unsigned min, max;
  std::vector<std::string> names;  // names[i] is value min + i... (as robfig's maps)
};

const Bounds kMinutes{0, 59, {}};
const Bounds kHours{0, 23, {}};
const Bounds kDom{1, 31, {}};
const Bounds kMonths{1, 12, {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}};
const Bounds kDow{0, 6, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}};

uint64_t Bits(unsigned min, unsigned max, unsigned step) {
  uint64_t bits = 0;
  for (unsigned i = min; i <= max; i += step) bits |= uint64_t{1} << i;
  return bits;
}
uint64_t All(const Bounds& r) { return Bits(r.min, r.max, 1) | kStar; }

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

StatusOr<unsigned> MustParseInt(const std::string& expr) {
  if (expr.empty() || expr.size() > 9) return InvalidArgument("failed to parse int from " + expr + ": invalid syntax");
  size_t i = expr[0] == '-' || expr[0] == '+' ? 1 : 0;
  if (i == expr.size()) return InvalidArgument("failed to parse int from " + expr + ": invalid syntax");
  int64_t v = 0;
  for (; i < expr.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(expr[i]))) {
      return InvalidArgument("failed to parse int from " + expr + ": invalid syntax");
    }
    v = v * 10 + (expr[i] - '0');
  }
  if (expr[0] == '-') return InvalidArgument("negative number (-" + std::to_string(v) + ") not allowed: " + expr);
  return static_cast<unsigned>(v);
}

StatusOr<unsigned> ParseIntOrName(const std::string& expr, const Bounds& r) {
  std::string lower = expr;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < r.names.size(); ++i) {
    if (r.names[i] == lower) return static_cast<unsigned>(r.min + i);
  }
  return MustParseInt(expr);
}

StatusOr<uint64_t> GetRange(const std::string& expr, const Bounds& r) {
  const std::vector<std::string> range_and_step = Split(expr, '/');
  const std::vector<std::string> low_and_high = Split(range_and_step[0], '-');
  const bool single = low_and_high.size() == 1;
  unsigned start, end, step = 1;
  uint64_t extra = 0;
  if (low_and_high[0] == "*" || low_and_high[0] == "?") {
    start = r.min;
    end = r.max;
    extra = kStar;
  } else {
    LOOM_ASSIGN_OR_RETURN(start, ParseIntOrName(low_and_high[0], r));
    if (low_and_high.size() == 1) {
      end = start;
    } else if (low_and_high.size() == 2) {
      LOOM_ASSIGN_OR_RETURN(end, ParseIntOrName(low_and_high[1], r));
    } else {
      return InvalidArgument("too many hyphens: " + expr);
    }
  }
  if (range_and_step.size() == 2) {
    LOOM_ASSIGN_OR_RETURN(step, MustParseInt(range_and_step[1]));
    if (single) end = r.max;  // "N/step" is "N-max/step"
    if (step > 1) extra = 0;
  } else if (range_and_step.size() > 2) {
    return InvalidArgument("too many slashes: " + expr);
  }
  if (start < r.min) {
    return InvalidArgument("beginning of range (" + std::to_string(start) + ") below minimum (" +
                           std::to_string(r.min) + "): " + expr);
  }
  if (end > r.max) {
    return InvalidArgument("end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(r.max) +
                           "): " + expr);
  }
  if (start > end) {
    return InvalidArgument("beginning of range (" + std::to_string(start) + ") beyond end of range (" +
                           std::to_string(end) + "): " + expr);
  }
  if (step == 0) return InvalidArgument("step of range should be a positive number: " + expr);
  return Bits(start, end, step) | extra;
}

StatusOr<uint64_t> GetField(const std::string& field, const Bounds& r) {
  uint64_t bits = 0;
  for (const std::string& expr : Split(field, ',')) {
    LOOM_ASSIGN_OR_RETURN(uint64_t b, GetRange(expr, r));
    bits |= b;
  }
  return bits;
}

// A Go duration ("1h30m", "90s", "1.5h", "300ms") in whole seconds, as robfig's @every rounds it
// (down to the second, at least one).
StatusOr<int64_t> GoDurationSeconds(const std::string& text) {
  const std::string bad = "failed to parse duration " + text + ": time: invalid duration \"" + text + "\"";
  if (text.empty()) return InvalidArgument(bad);
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i) return InvalidArgument(bad);
    const double number = std::stod(text.substr(i, j - i));
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    const std::string unit = text.substr(j, k - j);
    double scale;
    if (unit == "h") scale = 3600;
    else if (unit == "m") scale = 60;
    else if (unit == "s") scale = 1;
    else if (unit == "ms") scale = 1e-3;
    else if (unit == "us" || unit == "µs") scale = 1e-6;
    else if (unit == "ns") scale = 1e-9;
    else return InvalidArgument(bad);
    total += number * scale;
    i = k;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(total));
}

}  // namespace

TimeZone TimeZone::Utc() { return TimeZone(); }

StatusOr<TimeZone> TimeZone::Load(const std::string& name) {
  TimeZone zone;
  zone.name_ = name;
  if (name.empty() || name == "UTC") return zone;
  const std::string bad = "unknown time zone " + name;
  bool ok = name[0] != '/' && name.find("..") == std::string::npos && name != "Local";
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+');
  if (!ok) return InvalidArgument(bad);
  auto bytes = ReadFile(JoinPath("/usr/share/zoneinfo", name));
  if (!bytes.ok()) return InvalidArgument(bad);
  const std::string& b = *bytes;
  auto header_ok = [&](size_t at) { return b.size() >= at + 44 && b.compare(at, 4, "TZif") == 0; };
  if (!header_ok(0)) return InvalidArgument(bad + ": not a TZif file");
  auto counts = [&](size_t at, int64_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = BigEndian(b, at + 20 + 4 * i, 4);
  };
  int64_t c[6];
  counts(0, c);
  size_t at = 44;
  int time_bytes = 4;
  auto block_size = [&](int tb) {
    return c[3] * tb + c[3] + c[4] * 6 + c[5] + c[2] * (tb + 4) + c[1] + c[0];
  };
  if (b[4] >= '2') {  // skip the 32-bit block for the 64-bit one
    at += static_cast<size_t>(block_size(4));
    if (!header_ok(at)) return InvalidArgument(bad + ": truncated TZif file");
    counts(at, c);
    at += 44;
    time_bytes = 8;
  }
  if (c[3] < 0 || c[4] <= 0 || b.size() < at + static_cast<size_t>(block_size(time_bytes))) {
    return InvalidArgument(bad + ": truncated TZif file");
  }
  const size_t types_at = at + c[3] * time_bytes;
  const size_t info_at = types_at + c[3];
  std::vector<int> type_offsets;
  for (int64_t i = 0; i < c[4]; ++i) type_offsets.push_back(static_cast<int>(BigEndian(b, info_at + 6 * i, 4)));
  zone.initial_offset_ = type_offsets[0];
  for (int64_t i = 0; i < c[3]; ++i) {
    const unsigned type = static_cast<unsigned char>(b[types_at + i]);
    if (type >= type_offsets.size()) return InvalidArgument(bad + ": corrupt TZif file");
    zone.transitions_.push_back(BigEndian(b, at + i * time_bytes, time_bytes));
    zone.offsets_.push_back(type_offsets[type]);
  }
  return zone;
}

int TimeZone::OffsetAt(int64_t utc) const {
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
  if (it == transitions_.begin()) return initial_offset_;
  return offsets_[static_cast<size_t>(it - transitions_.begin()) - 1];
}

int64_t TimeZone::FromWall(int64_t wall) const {
  // Go's Date: the offset in force at wall-read-as-UTC, corrected once if the instant it gives
  // falls outside that offset's period.
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), wall);
  const size_t k = static_cast<size_t>(it - transitions_.begin());
  int offset = k == 0 ? initial_offset_ : offsets_[k - 1];
  const int64_t start = k == 0 ? INT64_MIN : transitions_[k - 1];
  const int64_t end = k == transitions_.size() ? INT64_MAX : transitions_[k];
  const int64_t utc = wall - offset;
  if (offset != 0 && (utc < start || utc >= end)) offset = OffsetAt(utc);
  return wall - offset;
}

StatusOr<CronSchedule> CronSchedule::Parse(const std::string& text, const std::string& timezone) {
  CronSchedule s;
  s.text_ = text;
  std::string spec = text;
  if (spec.empty()) return InvalidArgument("empty spec string");
  std::string zone_name = timezone;
  if (spec.rfind("TZ=", 0) == 0 || spec.rfind("CRON_TZ=", 0) == 0) {
    const size_t space = spec.find(' ');
    const size_t eq = spec.find('=');
    zone_name = spec.substr(eq + 1, space == std::string::npos ? std::string::npos : space - eq - 1);
    auto zone = TimeZone::Load(zone_name);
    if (!zone.ok()) return InvalidArgument("provided bad location " + zone_name + ": " + zone.status().message());
    spec = space == std::string::npos ? "" : spec.substr(space);
    spec.erase(0, spec.find_first_not_of(" \t"));
  }
  auto zone = TimeZone::Load(zone_name);
  if (!zone.ok()) return InvalidArgument("provided bad location " + zone_name + ": " + zone.status().message());
  s.zone_ = std::move(*zone);
  if (!spec.empty() && spec[0] == '@') {
    if (spec == "@yearly" || spec == "@annually") {
      s.minute_ = 1, s.hour_ = 1, s.dom_ = uint64_t{1} << 1, s.month_ = uint64_t{1} << 1, s.dow_ = All(kDow);
    } else if (spec == "@monthly") {
      s.minute_ = 1, s.hour_ = 1, s.dom_ = uint64_t{1} << 1, s.month_ = All(kMonths), s.dow_ = All(kDow);
    } else if (spec == "@weekly") {
      s.minute_ = 1, s.hour_ = 1, s.dom_ = All(kDom), s.month_ = All(kMonths), s.dow_ = 1;
    } else if (spec == "@daily" || spec == "@midnight") {
      s.minute_ = 1, s.hour_ = 1, s.dom_ = All(kDom), s.month_ = All(kMonths), s.dow_ = All(kDow);
    } else if (spec == "@hourly") {
      s.minute_ = 1, s.hour_ = All(kHours), s.dom_ = All(kDom), s.month_ = All(kMonths), s.dow_ = All(kDow);
    } else if (spec.rfind("@every ", 0) == 0) {
      LOOM_ASSIGN_OR_RETURN(s.every_, GoDurationSeconds(spec.substr(7)));
      return s;
    } else {
      return InvalidArgument("unrecognized descriptor: " + spec);
    }
  } else {
    std::vector<std::string> fields;
    std::istringstream in(spec);
    for (std::string f; in >> f;) fields.push_back(f);
    if (fields.size() != 5) {
      std::string shown;
      for (const std::string& f : fields) shown += (shown.empty() ? "" : " ") + f;
      return InvalidArgument("expected exactly 5 fields, found " + std::to_string(fields.size()) + ": [" + shown + "]");
    }
    LOOM_ASSIGN_OR_RETURN(s.minute_, GetField(fields[0], kMinutes));
    LOOM_ASSIGN_OR_RETURN(s.hour_, GetField(fields[1], kHours));
    LOOM_ASSIGN_OR_RETURN(s.dom_, GetField(fields[2], kDom));
    LOOM_ASSIGN_OR_RETURN(s.month_, GetField(fields[3], kMonths));
    LOOM_ASSIGN_OR_RETURN(s.dow_, GetField(fields[4], kDow));
  }
  s.dom_star_ = (s.dom_ & kStar) != 0;
  s.dow_star_ = (s.dow_ & kStar) != 0;
  return s;
}

int64_t CronSchedule::Next(int64_t after) const {
  if (every_ > 0) return after + every_;
  // robfig's SpecSchedule.Next, on instants (t) read in the schedule's zone.
  auto local = [&](int64_t t) { return CivilFromWall(t + zone_.OffsetAt(t)); };
  auto date = [&](int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi) {
    return zone_.FromWall(WallOf(y, mo, d, h, mi, 0));
  };
  auto day_matches = [&](const Civil& c) {
    const bool dom = (dom_ >> c.day) & 1;
    const bool dow = (dow_ >> c.weekday) & 1;
    return dom_star_ || dow_star_ ? dom && dow : dom || dow;
  };
  int64_t t = after + 1;
  bool added = false;
  const int64_t year_limit = local(t).year + 5;
wrap:
  Civil c = local(t);
  if (c.year > year_limit) return 0;
  while (!((month_ >> c.month) & 1)) {
    if (!added) {
      added = true;
      t = date(c.year, c.month, 1, 0, 0);
      c = local(t);
    }
    t = date(c.year, c.month + 1, c.day, c.hour, c.minute) + c.second;
    c = local(t);
    if (c.month == 1) goto wrap;
  }
  while (!day_matches(c)) {
    if (!added) {
      added = true;
      t = date(c.year, c.month, c.day, 0, 0);
      c = local(t);
    }
    t = date(c.year, c.month, c.day + 1, c.hour, c.minute) + c.second;
    c = local(t);
    if (c.hour != 0) {  // no longer midnight because of DST
      t += c.hour > 12 ? (24 - c.hour) * 3600 : -c.hour * 3600;
      c = local(t);
    }
    if (c.day == 1) goto wrap;
  }
  while (!((hour_ >> c.hour) & 1)) {
    if (!added) {
      added = true;
      t = date(c.year, c.month, c.day, c.hour, 0);
      c = local(t);
    }
    t += 3600;
    c = local(t);
    if (c.hour == 0) goto wrap;
  }
  while (!((minute_ >> c.minute) & 1)) {
    if (!added) {
      added = true;
      t -= ((t % 60) + 60) % 60;
      c = local(t);
    }
    t += 60;
    c = local(t);
    if (c.minute == 0) goto wrap;
  }
  while (c.second != 0) {  // the seconds field of a standard spec is 0
    if (!added) added = true;
    t += 1;
    c = local(t);
    if (c.second == 0) goto wrap;
  }
  return t;
}

}  // namespace loom::workflow
