// Cron schedules as Argo's CronWorkflows read them (robfig/cron v3's ParseStandard): five fields
// (minute hour day-of-month month day-of-week; names JAN-DEC and SUN-SAT; `*`, `?`, lists,
// ranges, `/step`), the descriptors @yearly @annually @monthly @weekly @daily @midnight
// @hourly and `@every <duration>`, and a `CRON_TZ=<zone>` or `TZ=<zone>` prefix; and the next
// time a schedule fires after a given instant, computed in its time zone as robfig does (DST
// gaps skipped, repeated hours fired once). Time zones come from the system's tz database
// (/usr/share/zoneinfo, TZif files; past its last transition, 2037 in a fat file, the last
// offset holds). Nothing here reads a clock: every function takes the time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace loom::workflow {

// A time zone's UTC offsets over time (one TZif file), or UTC.
class TimeZone {
 public:
  static TimeZone Utc();
  // "America/New_York", "UTC", "Local" is refused (a server's zone is not the schedule's).
  static StatusOr<TimeZone> Load(const std::string& name);
  // Seconds east of UTC in force at `utc`.
  int OffsetAt(int64_t utc) const;
  // The instant of a wall-clock time here, as Go's time.Date picks it (in a gap, the offset
  // before it; in a repeated hour, the first).
  int64_t FromWall(int64_t wall_as_utc) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_ = "UTC";
  std::vector<int64_t> transitions_;  // UTC instants, ascending
  std::vector<int> offsets_;          // offsets_[i] holds from transitions_[i]; offsets_[0] before the first too
  int initial_offset_ = 0;
};

class CronSchedule {
 public:
  // `text` as in a CronWorkflow's schedule(s); `timezone` (spec.timezone, may be empty) applies
  // unless the text has its own CRON_TZ=. Errors are robfig's words: "expected exactly 5 fields,
  // found 4: [* * * *]", "end of range (60) above maximum (59): 0-60".
  static StatusOr<CronSchedule> Parse(const std::string& text, const std::string& timezone = "");
  // The first time strictly after `after` (seconds since the epoch) this schedule fires; 0 when
  // none within five years (robfig's limit, "30 2 31 2 *").
  int64_t Next(int64_t after) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  int64_t every_ = 0;  // @every: seconds (at least 1)
  uint64_t minute_ = 0, hour_ = 0, dom_ = 0, month_ = 0, dow_ = 0;  // bit i: value i matches
  bool dom_star_ = false, dow_star_ = false;
  TimeZone zone_ = TimeZone::Utc();
};

}  // namespace loom::workflow
