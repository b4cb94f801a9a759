#!/usr/bin/python3
"""An independent reading of cron schedules, to check tests/workflow/cron/next.txt.

Where src/workflow/cron.cc follows robfig/cron's field-by-field search, this walks every minute
after the given instant and asks whether its wall-clock time in the zone (Python's zoneinfo, the
same tz database) matches the five fields, robfig's day rule included (day-of-month and
day-of-week both must match when either is `*` or `?`, else either). It knows only what the
cases use: numbers, names, `*`, `?`, lists, ranges, steps, the @ descriptors and @every.
With --print it prints its own answers for the cases instead of checking them.
"""
import datetime
import os
import sys
import zoneinfo

DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
BOUNDS = [(0, 59, []), (0, 23, []), (1, 31, []),
          (1, 12, "jan feb mar apr may jun jul aug sep oct nov dec".split()),
          (0, 6, "sun mon tue wed thu fri sat".split())]


def values(field, lo, hi, names):
    out, star = set(), False
    def num(s):
        return lo + names.index(s.lower()) if s.lower() in names else int(s)
    for part in field.split(","):
        rng, _, step = part.partition("/")
        if rng in ("*", "?"):
            a, b = lo, hi
            star = star or not step or int(step) == 1
        elif "-" in rng:
            a, b = (num(x) for x in rng.split("-"))
        else:
            a = num(rng)
            b = hi if step else a
        out.update(range(a, b + 1, int(step) if step else 1))
    return out, star


def parse(schedule, tz):
    if schedule.startswith(("CRON_TZ=", "TZ=")):
        head, _, schedule = schedule.partition(" ")
        tz = head.split("=", 1)[1]
    schedule = DESCRIPTORS.get(schedule.strip(), schedule)
    fields = [values(f, *b) for f, b in zip(schedule.split(), BOUNDS)]
    return fields, zoneinfo.ZoneInfo(tz or "UTC")


def matches(fields, t):
    (mi, _), (h, _), (dom, dom_star), (mon, _), (dow, dow_star) = fields
    wd = (t.weekday() + 1) % 7
    day = (t.day in dom and wd in dow) if (dom_star or dow_star) else (t.day in dom or wd in dow)
    return t.minute in mi and t.hour in h and t.month in mon and day


def nexts(schedule, tz, after, count):
    if schedule.startswith("@every "):
        step = int(schedule.split()[1].rstrip("s"))  # the cases use whole seconds
        return [after + datetime.timedelta(seconds=step * (i + 1)) for i in range(count)]
    fields, zone = parse(schedule, tz)
    # Every zone's offset is a whole number of quarter hours, so a quarter hour aligned in UTC
    # has one local hour, day and month: blocks whose hour, day or month cannot match are skipped.
    any_minute = [(set(range(60)), False)] + fields[1:]
    out = []
    t = after.replace(second=0) + datetime.timedelta(minutes=1)
    limit = after + datetime.timedelta(days=366 * 5)
    quarter = datetime.timedelta(minutes=15)
    while len(out) < count and t < limit:
        block_end = t - datetime.timedelta(minutes=t.minute % 15) + quarter
        if not matches(any_minute, t.astimezone(zone)):
            t = block_end
            continue
        while t < block_end and len(out) < count:
            if matches(fields, t.astimezone(zone)):
                out.append(t)
            t += datetime.timedelta(minutes=1)
    return out


def stamp(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "next.txt")
    failed = 0
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        schedule, tz, after, want = (x.strip() for x in line.split("|"))
        start = datetime.datetime.strptime(after, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        expected = want.split() if want != "-" else []
        got = [stamp(t) for t in nexts(schedule, tz, start, max(1, len(expected)))]
        if "--print" in sys.argv:
            print(f"{schedule} | {tz} | {after} | {' '.join(got) or '-'}")
        elif got != expected:
            print(f"next.txt:{n}: {schedule!r} in {tz or 'UTC'} after {after}: expected {expected}, got {got}")
            failed += 1
    if failed:
        sys.exit(1)
    if "--print" not in sys.argv:
        print("cron reference: every case agrees")


if __name__ == "__main__":
    main()
