// SPDX-License-Identifier: Apache-2.0
// File: fnhost/schedule.hpp
// `ScheduleExpression`: when a schedule trigger fires, parsed from a rate (`rate(5 minutes)`),
// a cron expression of 5 or 6 fields (`cron(0 9 * * MON-FRI)`, `*/10 * * * * *`) or a cron
// macro (`@daily`). All times are UTC. A small immutable value: cheap to copy (the text is
// shared), safe to read from any number of threads.
//
//   auto schedule = fnhost::ScheduleExpression::parse("cron(0 9 * * MON-FRI)").value();
//   absl::Time next = schedule.next_fire(absl::Now(), /*start=*/absl::Now());
//
// Accepted forms:
//   rate(<n> <unit>)   every n units from the schedule's start; n >= 1, unit second, minute,
//                      hour or day (singular or plural, whatever n is); at most 3650 days.
//   cron(<fields>) or the bare fields:
//     5 fields         minute hour day-of-month month day-of-week (fires at second 0)
//     6 fields         second minute hour day-of-month month day-of-week
//   @yearly, @annually "0 0 1 1 *"      @monthly "0 0 1 * *"      @weekly "0 0 * * 0"
//   @daily, @midnight  "0 0 * * *"      @hourly  "0 * * * *"
// Field ranges: second 0-59, minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
// day-of-week 0-7 or SUN-SAT (0 and 7 are both Sunday). A field is `*`, or a comma-separated
// list of items, each a value, a range `a-b`, or a stepped `*/n`, `a-b/n` or `a/n` (`a/n` runs
// from a to the end of the field's range). `?` alone means `*` in day-of-month and day-of-week.
// In day-of-week, `*` and `a/n` end at 6 (Saturday): `*/2` is Sunday, Tuesday, Thursday,
// Saturday. Names are case-insensitive and work in ranges (`MON-FRI`); `SUN` ending a range
// means 7, so `FRI-SUN` is Friday to Sunday. A reversed range (`22-3`) is refused: list both parts
// (`22-23,0-3`). Fields are separated by spaces or tabs; the keywords `rate`, `cron` and the
// units and macros are case-insensitive; spaces around the whole text are ignored.
//
// Day rule (as in Vixie cron): when day-of-month and day-of-week are both restricted — neither
// is exactly `*` or `?` — a day matches if EITHER matches: `0 0 13 * FRI` fires on every 13th
// and on every Friday. Otherwise a day must match both (the unrestricted one matches any day).
// Only `*` and `?` count as unrestricted: `*/2` restricts its field.
#pragma once

#include <bitset>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fnhost {

namespace detail {
// The values each field of a cron expression matches, as bitsets indexed from the field's
// lowest value: days_of_month bit 0 is the 1st, months bit 0 is January, days_of_week bit 0 is
// Sunday. Used by ScheduleExpression; not API.
struct CronFields {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<31> days_of_month;
  std::bitset<12> months;
  std::bitset<7> days_of_week;
  // Whether day-of-month / day-of-week is anything but `*` or `?` (for the day rule).
  bool day_of_month_restricted = false;
  bool day_of_week_restricted = false;
};
}  // namespace detail

// A parsed schedule: when a schedule trigger fires. UTC only. Immutable; copies share the text
// (copying costs one reference-count increment and never allocates). Thread-safe: every method
// is const and may be called from any number of threads at once.
class ScheduleExpression {
 public:
  // Inputs longer than this many bytes are refused by parse().
  static constexpr std::size_t kMaxTextBytes = 256;
  // The longest rate period accepted: 3650 days (about 10 years).
  static constexpr absl::Duration kMaxRatePeriod = absl::Hours(24 * 3650);

  // Parses a rate, a cron expression or a cron macro (see the file comment for the syntax).
  // InvalidArgument saying what is wrong and, for cron, which field by number and name, e.g.
  //   cron "0 25 * * *": field 2 (hour) value 25 is out of range 0-23
  //   rate "rate(0 minutes)": the count must be >= 1
  //   cron "* * *": expected 5 or 6 fields, got 3
  // The message quotes at most 64 bytes of `text` and 24 of the offending item (bytes outside
  // printable ASCII escaped as \xNN); inputs over kMaxTextBytes are refused. Allocates; `text`
  // is copied.
  [[nodiscard]] static absl::StatusOr<ScheduleExpression> parse(std::string_view text);

  // The first fire time strictly after `after`. Never allocates.
  //  - rate: start + k * period() for the smallest integer k >= 0 with that time > after; so
  //    `start` (when the schedule was created) is itself a fire time, and a later `start`
  //    shifts every fire time with it. absl::InfiniteFuture() if `start` is not finite, or if
  //    the result or `after - start` is not representable as an absl::Time / absl::Duration.
  //  - cron: the next whole second, UTC, matching every field (`start` is ignored). The search
  //    goes field by field (year, month, day, hour, minute, second) and looks at most 8 years
  //    past the year of `after` — enough for every schedule that can fire (Feb 29 recurs
  //    within 8 years); absl::InfiniteFuture() if none fires in that window (`0 0 30 2 *`:
  //    Feb 30 never happens), and for `after` past the year 10^9. Costs at most a few
  //    thousand day checks.
  // absl::InfiniteFuture() when `after` is absl::InfiniteFuture(); for absl::InfinitePast()
  // a rate returns `start` and a cron schedule, which has no first fire time, InfiniteFuture.
  [[nodiscard]] absl::Time next_fire(absl::Time after, absl::Time start) const;

  // The rate's period (whole seconds, 1s..kMaxRatePeriod), or absl::ZeroDuration() for cron.
  [[nodiscard]] absl::Duration period() const { return period_; }
  // The text it was parsed from, unchanged (including any surrounding spaces).
  [[nodiscard]] const std::string& text() const { return *text_; }
  // Whether this is a rate (otherwise a cron expression or macro).
  [[nodiscard]] bool is_rate() const { return period_ > absl::ZeroDuration(); }

  // Copies share the text. There are deliberately no move operations (a move copies), so a
  // moved-from schedule still holds its text and stays fully usable.
  ScheduleExpression(const ScheduleExpression&) = default;
  ScheduleExpression& operator=(const ScheduleExpression&) = default;
  ~ScheduleExpression() = default;

 private:
  ScheduleExpression(std::string_view text, absl::Duration period, const detail::CronFields& cron);

  std::shared_ptr<const std::string> text_;
  absl::Duration period_;    // > 0 for a rate, zero for cron
  detail::CronFields cron_;  // all clear for a rate
};

}  // namespace fnhost
