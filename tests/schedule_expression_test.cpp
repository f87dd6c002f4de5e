// SPDX-License-Identifier: Apache-2.0
// Tests for ScheduleExpression (fnhost/schedule.hpp): parsing of rates, cron fields and macros,
// the error messages, and next_fire — rates anchored at their start, cron examples checked
// against hand-computed times, impossible schedules, and a property test comparing next_fire
// with a brute-force search over random expressions and times.
#include <algorithm>
#include <array>
#include <bitset>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "fnhost/schedule.hpp"
#include "testing/watchdog.hpp"

namespace Catch {
template <>
struct StringMaker<absl::Time> {
  static std::string convert(absl::Time time) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E*S %a", time, absl::UTCTimeZone());
  }
};
}  // namespace Catch

namespace {

using fnhost::ScheduleExpression;

// A UTC time.
absl::Time utc(int64_t year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  return absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                         absl::UTCTimeZone());
}

ScheduleExpression parsed(std::string_view text) {
  absl::StatusOr<ScheduleExpression> schedule = ScheduleExpression::parse(text);
  INFO("parsing \"" << std::string(text) << "\": " << schedule.status().ToString());
  REQUIRE(schedule.ok());
  return *schedule;
}

// The first `count` fire times after `after`, each found from the one before.
std::vector<absl::Time> fires(const ScheduleExpression& schedule, absl::Time after, int count,
                              absl::Time start = absl::UnixEpoch()) {
  std::vector<absl::Time> times;
  for (int i = 0; i < count; ++i) {
    after = schedule.next_fire(after, start);
    times.push_back(after);
  }
  return times;
}

std::vector<absl::Time> fires(std::string_view text, absl::Time after, int count) {
  return fires(parsed(text), after, count);
}

// The fire times of `schedule` in [from, until), as `part` of each (a civil-time field).
template <class Part>
std::vector<int> fire_parts(std::string_view text, absl::Time from, absl::Time until, Part part) {
  const ScheduleExpression schedule = parsed(text);
  std::vector<int> parts;
  for (absl::Time t = schedule.next_fire(from - absl::Seconds(1), from); t < until;
       t = schedule.next_fire(t, from)) {
    parts.push_back(part(absl::ToCivilSecond(t, absl::UTCTimeZone())));
  }
  return parts;
}

// Which values one field matches, seen through the fire times: the field is placed in an
// expression where every other field is fixed or `*`, and the fires in one period are listed.
std::vector<int> seconds_of(std::string_view field) {
  return fire_parts(std::string(field) + " * * * * *", utc(2024, 1, 1), utc(2024, 1, 1, 0, 1),
                    [](absl::CivilSecond cs) { return cs.second(); });
}
std::vector<int> minutes_of(std::string_view field) {
  return fire_parts(std::string(field) + " * * * *", utc(2024, 1, 1), utc(2024, 1, 1, 1),
                    [](absl::CivilSecond cs) { return cs.minute(); });
}
std::vector<int> hours_of(std::string_view field) {
  return fire_parts("0 " + std::string(field) + " * * *", utc(2024, 1, 1), utc(2024, 1, 2),
                    [](absl::CivilSecond cs) { return cs.hour(); });
}
std::vector<int> days_of_month_of(std::string_view field) {
  return fire_parts("0 0 " + std::string(field) + " * *", utc(2024, 1, 1), utc(2024, 2, 1),
                    [](absl::CivilSecond cs) { return cs.day(); });
}
std::vector<int> months_of(std::string_view field) {
  return fire_parts("0 0 1 " + std::string(field) + " *", utc(2024, 1, 1), utc(2025, 1, 1),
                    [](absl::CivilSecond cs) { return cs.month(); });
}
// As 0 = Sunday .. 6 = Saturday, over the week of Sunday 2024-01-07.
std::vector<int> days_of_week_of(std::string_view field) {
  return fire_parts("0 0 * * " + std::string(field), utc(2024, 1, 7), utc(2024, 1, 14),
                    [](absl::CivilSecond cs) { return cs.day() - 7; });
}

using Ints = std::vector<int>;
using Times = std::vector<absl::Time>;

// ---- Parsing ------------------------------------------------------------------------------------

TEST_CASE("rates parse in every unit, singular or plural, with their period", "[schedule]") {
  CHECK(parsed("rate(1 second)").period() == absl::Seconds(1));
  CHECK(parsed("rate(30 seconds)").period() == absl::Seconds(30));
  CHECK(parsed("rate(1 minute)").period() == absl::Minutes(1));
  CHECK(parsed("rate(5 minutes)").period() == absl::Minutes(5));
  CHECK(parsed("rate(2 hour)").period() == absl::Hours(2));
  CHECK(parsed("rate(1 hours)").period() == absl::Hours(1));
  CHECK(parsed("rate(1 day)").period() == absl::Hours(24));
  CHECK(parsed("rate(3650 days)").period() == absl::Hours(24 * 3650));
  CHECK(parsed("rate(3650 days)").period() == ScheduleExpression::kMaxRatePeriod);
  CHECK(parsed("rate(315360000 seconds)").period() == ScheduleExpression::kMaxRatePeriod);
  CHECK(parsed("RATE(5 Minutes)").period() == absl::Minutes(5));
  CHECK(parsed("  rate(  5 \t minutes )  ").period() == absl::Minutes(5));
  CHECK(parsed("rate(007 minutes)").period() == absl::Minutes(7));

  const ScheduleExpression rate = parsed(" rate(5 minutes) ");
  CHECK(rate.is_rate());
  CHECK(rate.text() == " rate(5 minutes) ");
}

TEST_CASE("cron expressions parse bare, in cron(...) and as macros", "[schedule]") {
  for (const char* text : {"* * * * *", "cron(* * * * *)", "CRON( 0 9 * * MON-FRI )",
                           "0 0 12 * * ?", "\t*/5  *\t* * *  ", "@yearly", "@annually", "@monthly",
                           "@weekly", "@daily", "@midnight", "@hourly", "@DAILY", " @hourly "}) {
    const ScheduleExpression schedule = parsed(text);
    CHECK_FALSE(schedule.is_rate());
    CHECK(schedule.period() == absl::ZeroDuration());
    CHECK(schedule.text() == text);
  }
}

TEST_CASE("cron field syntax: stars, values, ranges, lists and steps", "[schedule]") {
  CHECK(minutes_of("7") == Ints{7});
  CHECK(minutes_of("07") == Ints{7});
  CHECK(minutes_of("1,2,5") == Ints{1, 2, 5});
  CHECK(minutes_of("58-59") == Ints{58, 59});
  CHECK(minutes_of("5,1-3,2") == Ints{1, 2, 3, 5});
  CHECK(minutes_of("*/15") == Ints{0, 15, 30, 45});
  CHECK(minutes_of("10-50/20") == Ints{10, 30, 50});
  CHECK(minutes_of("5/20") == Ints{5, 25, 45});
  CHECK(minutes_of("59/5") == Ints{59});
  CHECK(minutes_of("*/60") == Ints{0});
  CHECK(minutes_of("0-4/2,50-59/3") == Ints{0, 2, 4, 50, 53, 56, 59});
  CHECK(minutes_of("*").size() == 60);
  CHECK(minutes_of("*,5").size() == 60);

  CHECK(seconds_of("0") == Ints{0});
  CHECK(seconds_of("*/20") == Ints{0, 20, 40});
  CHECK(seconds_of("15,45") == Ints{15, 45});
  CHECK(seconds_of("*").size() == 60);

  CHECK(hours_of("*/6") == Ints{0, 6, 12, 18});
  CHECK(hours_of("0-23/6") == Ints{0, 6, 12, 18});
  CHECK(hours_of("9-17/4") == Ints{9, 13, 17});
  CHECK(hours_of("23") == Ints{23});
  CHECK(hours_of("22-23,0-1") == Ints{0, 1, 22, 23});

  CHECK(days_of_month_of("1,15,31") == Ints{1, 15, 31});
  CHECK(days_of_month_of("*/10") == Ints{1, 11, 21, 31});
  CHECK(days_of_month_of("28-31") == Ints{28, 29, 30, 31});
  CHECK(days_of_month_of("?").size() == 31);

  CHECK(months_of("*/3") == Ints{1, 4, 7, 10});
  CHECK(months_of("2-12/5") == Ints{2, 7, 12});
}

TEST_CASE("month and day names are case-insensitive and work in ranges", "[schedule]") {
  CHECK(months_of("JAN") == Ints{1});
  CHECK(months_of("jan,Jul") == Ints{1, 7});
  CHECK(months_of("mar-MAY") == Ints{3, 4, 5});
  CHECK(months_of("JAN-DEC/6") == Ints{1, 7});
  CHECK(months_of("nov-12") == Ints{11, 12});
  CHECK(months_of("Dec") == Ints{12});

  CHECK(days_of_week_of("MON-FRI") == Ints{1, 2, 3, 4, 5});
  CHECK(days_of_week_of("mon-fri") == Ints{1, 2, 3, 4, 5});
  CHECK(days_of_week_of("sun,Sat") == Ints{0, 6});
  CHECK(days_of_week_of("TUE/2") == Ints{2, 4, 6});
  // SUN ending a range is 7: Friday to Sunday.
  CHECK(days_of_week_of("FRI-SUN") == Ints{0, 5, 6});
  CHECK(days_of_week_of("SUN-SAT") == Ints{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("day-of-week 0 and 7 are both Sunday", "[schedule]") {
  CHECK(days_of_week_of("0") == Ints{0});
  CHECK(days_of_week_of("7") == Ints{0});
  CHECK(days_of_week_of("0,7") == Ints{0});
  CHECK(days_of_week_of("5-7") == Ints{0, 5, 6});
  CHECK(days_of_week_of("0-7") == Ints{0, 1, 2, 3, 4, 5, 6});
  CHECK(days_of_week_of("6/1") == Ints{6});
  CHECK(days_of_week_of("7/1") == Ints{0});
  // `*` and `a/n` end at Saturday.
  CHECK(days_of_week_of("*/2") == Ints{0, 2, 4, 6});
  CHECK(days_of_week_of("*/7") == Ints{0});
  CHECK(days_of_week_of("1/2") == Ints{1, 3, 5});
  CHECK(days_of_week_of("?") == Ints{0, 1, 2, 3, 4, 5, 6});
}

// ---- Errors -------------------------------------------------------------------------------------

struct ErrorCase {
  std::string text;
  std::string message;  // the whole message, or a part of it when `exact` is false
  bool exact = false;
};

TEST_CASE("invalid expressions return InvalidArgument naming the field and why", "[schedule]") {
  const std::vector<ErrorCase> cases = {
      // The messages of the documentation, word for word.
      {"0 25 * * *", R"msg(cron "0 25 * * *": field 2 (hour) value 25 is out of range 0-23)msg",
       true},
      {"rate(0 minutes)", R"msg(rate "rate(0 minutes)": the count must be >= 1)msg", true},
      {"* * *", R"msg(cron "* * *": expected 5 or 6 fields, got 3)msg", true},
      // Field counts.
      {"", "schedule \"\": is empty"},
      {"   ", "is empty"},
      {"cron()", "expected 5 or 6 fields, got 0"},
      {"* * * *", "expected 5 or 6 fields, got 4"},
      {"* * * * * * *", "expected 5 or 6 fields, got 7"},
      {"* * * * * * * * * *", "expected 5 or 6 fields, got 10"},
      // Out of range, in every field of both forms.
      {"60 * * * *", "field 1 (minute) value 60 is out of range 0-59"},
      {"* 24 * * *", "field 2 (hour) value 24 is out of range 0-23"},
      {"* * 0 * *", "field 3 (day-of-month) value 0 is out of range 1-31"},
      {"* * 32 * *", "field 3 (day-of-month) value 32 is out of range 1-31"},
      {"* * * 0 *", "field 4 (month) value 0 is out of range 1-12"},
      {"* * * 13 *", "field 4 (month) value 13 is out of range 1-12"},
      {"* * * * 8", "field 5 (day-of-week) value 8 is out of range 0-7"},
      {"60 * * * * *", "field 1 (second) value 60 is out of range 0-59"},
      {"* 60 * * * *", "field 2 (minute) value 60 is out of range 0-59"},
      {"* * 24 * * *", "field 3 (hour) value 24 is out of range 0-23"},
      {"* * * 32 * *", "field 4 (day-of-month) value 32 is out of range 1-31"},
      {"* * * * 13 *", "field 5 (month) value 13 is out of range 1-12"},
      {"* * * * * 8", "field 6 (day-of-week) value 8 is out of range 0-7"},
      {"1-60 * * * *", "field 1 (minute) value 60 is out of range 0-59"},
      {"99999999999999999999 * * * *", "field 1 (minute) value 999999999999... is out of range"},
      // Empty items, steps, ranges.
      {"1,,2 * * * *", "field 1 (minute) has an empty list item"},
      {",1 * * * *", "field 1 (minute) has an empty list item"},
      {"* * * * 1,", "field 5 (day-of-week) has an empty list item"},
      {"*/0 * * * *", "field 1 (minute) has a step of 0; a step must be >= 1"},
      {"* 1-5/0 * * *", "field 2 (hour) has a step of 0"},
      {"*/61 * * * * *", "field 1 (second) step 61 is out of range 1-60"},
      {"* * * * */8", "field 5 (day-of-week) step 8 is out of range 1-7"},
      {"5/ * * * *", "field 1 (minute) has an empty step in \"5/\""},
      {"*/x * * * *", "field 1 (minute) has an invalid step \"x\""},
      {"*/5/2 * * * *", "field 1 (minute) has an invalid step \"5/2\""},
      {"/5 * * * *", "field 1 (minute) has no value before the step"},
      {"5-3 * * * *", "field 1 (minute) range \"5-3\" is reversed: the start must be <= the end"},
      {"0 22-3 * * *", "list both parts, e.g. 22-23,0-3"},
      {"0 0 * DEC-JAN *", "field 4 (month) range \"DEC-JAN\" is reversed"},
      {"0 0 * * 7-1", "field 5 (day-of-week) range \"7-1\" is reversed"},
      {"0 0 * * FRI-MON",
       "range \"FRI-MON\" is reversed: the start must be <= the end (for a "
       "range that wraps, list both parts, e.g. 5-6,0-1)"},
      {"- * * * *", "field 1 (minute) has an incomplete range \"-\""},
      {"1- * * * *", "field 1 (minute) has an incomplete range \"1-\""},
      {"-5 * * * *", "field 1 (minute) has an incomplete range \"-5\""},
      {"1-2-3 * * * *", "field 1 (minute) has \"-\" in a wrong place in \"1-2-3\""},
      {"*-5 * * * *", "field 1 (minute) has \"*\" in a wrong place in \"*-5\""},
      {"0 0 * * **", "field 5 (day-of-week) has \"*\" in a wrong place in \"**\""},
      // Junk and names.
      {"0 # * * *", R"msg(cron "0 # * * *": field 2 (hour) has an unexpected character "#")msg",
       true},
      {"0 0 * * 1,#", "field 5 (day-of-week) has an unexpected character \"#\" in \"1,#\""},
      {"0 0 * * 1;2", "field 5 (day-of-week) has an unexpected character \";\""},
      {"5a * * * *", "field 1 (minute) has an invalid value \"5a\""},
      {"0 0 1 FOO *", "field 4 (month) has an unknown name \"FOO\"; expected JAN-DEC"},
      {"0 0 1 * MONDAY", "field 5 (day-of-week) has an unknown name \"MONDAY\"; expected SUN-SAT"},
      {"0 MON * * *", "field 2 (hour) has the name \"MON\" where a number 0-23 is expected"},
      {"0 0 JAN * *", "field 3 (day-of-month) has the name \"JAN\""},
      {"? * * * *", "field 1 (minute) uses '?', which is allowed only in day-of-month and"},
      {"0 0 0 ? ? *", "field 5 (month) uses '?'"},
      {"0 0 * * 1,?", "field 5 (day-of-week) uses '?', which must be the whole field"},
      {"0 0 ?/2 * *", "field 3 (day-of-month) uses '?', which must be the whole field"},
      {"0 0 * * *\n", "field 5 (day-of-week) has an unexpected character \"\\x0a\""},
      {"cron(0 0 * * *", "cron \"cron(0 0 * * *\": expected ')' at the end"},
      {"cron(0 0 * * *))", "field 5 (day-of-week) has an unexpected character \")\""},
      // Macros and unknown forms.
      {"@reboot", "schedule \"@reboot\": unknown macro"},
      {"@", "unknown macro"},
      {"rates(5 minutes)", "unknown form"},
      {"at(2024-01-01)", "unknown form"},
      // Rates.
      {"rate()", "rate \"rate()\": expected rate(<count> <unit>)"},
      {"rate(5)", "missing the unit"},
      {"rate(minutes)", "the count must be a whole number >= 1, got \"minutes\""},
      {"rate(-5 minutes)", "the count must be a whole number >= 1, got \"-5\""},
      {"rate(1.5 hours)", "the count must be a whole number >= 1"},
      {"rate(0 seconds)", "the count must be >= 1"},
      {"rate(5 weeks)", "unknown unit \"weeks\"; expected second(s), minute(s), hour(s) or day(s)"},
      {"rate(5 minutess)", "unknown unit \"minutess\""},
      {"rate(5 minutes extra)", "unknown unit \"minutes extra\""},
      {"rate(3651 days)", "the period must be at most 3650 days (about 10 years), got 3651 days"},
      {"rate(87601 hours)", "the period must be at most 3650 days"},
      {"rate(315360001 seconds)", "the period must be at most 3650 days"},
      {"rate(99999999999999999999999 seconds)", "the count is too large"},
      {"rate(5 minutes", "expected ')' at the end"},
  };
  for (const ErrorCase& error : cases) {
    INFO("input: \"" << error.text << "\"");
    const absl::StatusOr<ScheduleExpression> schedule = ScheduleExpression::parse(error.text);
    REQUIRE_FALSE(schedule.ok());
    CHECK(schedule.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(schedule.status().message());
    INFO("message: " << message);
    if (error.exact) {
      CHECK(message == error.message);
    } else {
      CHECK(message.find(error.message) != std::string::npos);
    }
  }
}

TEST_CASE("error messages quote at most 64 bytes and refuse inputs over 256 bytes", "[schedule]") {
  SECTION("a long invalid expression is quoted up to 64 bytes") {
    const std::string text = std::string(100, '1') + " * * * *";
    const absl::StatusOr<ScheduleExpression> schedule = ScheduleExpression::parse(text);
    REQUIRE_FALSE(schedule.ok());
    const std::string message(schedule.status().message());
    INFO(message);
    CHECK(message.rfind("cron \"" + std::string(64, '1') + "\"...: field 1 (minute)", 0) == 0);
    CHECK(message.find(std::string(65, '1')) == std::string::npos);
  }
  SECTION("257 bytes are refused, 256 are parsed") {
    std::string text = "*/5 * * * *";
    text.append(ScheduleExpression::kMaxTextBytes - text.size(), ' ');
    REQUIRE(text.size() == 256);
    CHECK(ScheduleExpression::parse(text).ok());
    text += ' ';
    const absl::StatusOr<ScheduleExpression> schedule = ScheduleExpression::parse(text);
    REQUIRE_FALSE(schedule.ok());
    CHECK(schedule.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(schedule.status().message()).find("is 257 bytes long; at most 256") !=
          std::string::npos);
  }
  SECTION("bytes outside printable ASCII are escaped") {
    const absl::StatusOr<ScheduleExpression> schedule =
        ScheduleExpression::parse(std::string("0 0 * * \xff\"\\", 11));
    REQUIRE_FALSE(schedule.ok());
    CHECK(
        std::string(schedule.status().message()) ==
        R"msg(cron "0 0 * * \xff\"\\": field 5 (day-of-week) has an unexpected character "\xff" in "\xff\"\\")msg");
  }
}

TEST_CASE("SUN-SUN and trailing spaces after a rate are accepted", "[schedule]") {
  CHECK(days_of_week_of("SUN-SUN") == Ints{0, 1, 2, 3, 4, 5, 6});
  CHECK(parsed("rate(5 minutes) ").period() == absl::Minutes(5));
}

// ---- Value type ---------------------------------------------------------------------------------

TEST_CASE("copies share the text and a moved-from schedule stays usable", "[schedule]") {
  const ScheduleExpression original = parsed("cron(0 9 * * MON-FRI)");
  ScheduleExpression copy = original;
  CHECK(&copy.text() == &original.text());
  ScheduleExpression moved = std::move(copy);
  CHECK(moved.text() == "cron(0 9 * * MON-FRI)");
  CHECK(copy.text() == "cron(0 9 * * MON-FRI)");  // NOLINT(bugprone-use-after-move): by design
  CHECK(copy.next_fire(utc(2024, 1, 5, 9), absl::UnixEpoch()) == utc(2024, 1, 8, 9));
  ScheduleExpression assigned = parsed("rate(1 minute)");
  assigned = original;
  CHECK_FALSE(assigned.is_rate());
  CHECK(assigned.next_fire(utc(2024, 1, 5, 9), absl::UnixEpoch()) == utc(2024, 1, 8, 9));
}

// ---- next_fire: rates ---------------------------------------------------------------------------

TEST_CASE("a rate fires at start + k * period, anchored at its start", "[schedule]") {
  const ScheduleExpression every_5 = parsed("rate(5 minutes)");
  const absl::Time start = utc(2024, 1, 1, 10, 2, 30);
  SECTION("before the first period") {
    CHECK(every_5.next_fire(start + absl::Seconds(1), start) == start + absl::Minutes(5));
    CHECK(every_5.next_fire(start + absl::Minutes(7), start) == start + absl::Minutes(10));
  }
  SECTION("after == a fire time gives the next one") {
    CHECK(every_5.next_fire(start, start) == start + absl::Minutes(5));
    CHECK(every_5.next_fire(start + absl::Minutes(10), start) == start + absl::Minutes(15));
    CHECK(every_5.next_fire(start + absl::Minutes(10) - absl::Nanoseconds(1), start) ==
          start + absl::Minutes(10));
    CHECK(fires(every_5, start, 3, start) ==
          Times{start + absl::Minutes(5), start + absl::Minutes(10), start + absl::Minutes(15)});
  }
  SECTION("before the start, the start is the first fire time") {
    CHECK(every_5.next_fire(start - absl::Nanoseconds(1), start) == start);
    CHECK(every_5.next_fire(start - absl::Hours(1000), start) == start);
    CHECK(every_5.next_fire(absl::InfinitePast(), start) == start);
  }
  SECTION("far-future after") {
    const absl::Duration far = absl::Minutes(5) * 1'000'000'000;  // about 9500 years
    CHECK(every_5.next_fire(start + far - absl::Nanoseconds(1), start) == start + far);
    CHECK(every_5.next_fire(start + far, start) == start + far + absl::Minutes(5));
    CHECK(every_5.next_fire(utc(3000, 1, 1), start) == utc(3000, 1, 1, 0, 2, 30));
    CHECK(every_5.next_fire(absl::InfiniteFuture(), start) == absl::InfiniteFuture());
  }
  SECTION("sub-second starts keep their phase") {
    const ScheduleExpression every_second = parsed("rate(1 second)");
    const absl::Time odd_start = start + absl::Milliseconds(250);
    CHECK(every_second.next_fire(odd_start, odd_start) == odd_start + absl::Seconds(1));
    CHECK(every_second.next_fire(odd_start + absl::Seconds(10), odd_start) ==
          odd_start + absl::Seconds(11));
  }
  SECTION("the longest rate") {
    const ScheduleExpression decade = parsed("rate(3650 days)");
    CHECK(decade.next_fire(start, start) == start + absl::Hours(24 * 3650));
  }
  SECTION("infinite or unrepresentable times give InfiniteFuture") {
    CHECK(every_5.next_fire(start, absl::InfiniteFuture()) == absl::InfiniteFuture());
    CHECK(every_5.next_fire(start, absl::InfinitePast()) == absl::InfiniteFuture());
    const absl::Time last = absl::FromUnixSeconds(INT64_MAX - 10);
    CHECK(every_5.next_fire(last, start) == absl::InfiniteFuture());
  }
}

// ---- next_fire: cron ----------------------------------------------------------------------------

TEST_CASE("cron every 15 minutes", "[schedule]") {
  CHECK(fires("*/15 * * * *", utc(2024, 1, 1), 4) ==
        Times{utc(2024, 1, 1, 0, 15), utc(2024, 1, 1, 0, 30), utc(2024, 1, 1, 0, 45),
              utc(2024, 1, 1, 1, 0)});
  CHECK(fires("*/15 * * * *", utc(2024, 12, 31, 23, 50), 2) ==
        Times{utc(2025, 1, 1), utc(2025, 1, 1, 0, 15)});
  // Strictly after, to the whole second; `start` is ignored.
  const ScheduleExpression schedule = parsed("cron(*/15 * * * *)");
  CHECK(schedule.next_fire(utc(2024, 1, 1, 0, 14, 59) + absl::Milliseconds(999), utc(1999, 1, 1)) ==
        utc(2024, 1, 1, 0, 15));
  CHECK(schedule.next_fire(utc(2024, 1, 1, 0, 15) + absl::Nanoseconds(1), utc(2030, 1, 1)) ==
        utc(2024, 1, 1, 0, 30));
}

TEST_CASE("cron MON-FRI at 09:00", "[schedule]") {
  // 2024-01-05 is a Friday.
  CHECK(fires("0 9 * * MON-FRI", utc(2024, 1, 5, 9), 6) ==
        Times{utc(2024, 1, 8, 9), utc(2024, 1, 9, 9), utc(2024, 1, 10, 9), utc(2024, 1, 11, 9),
              utc(2024, 1, 12, 9), utc(2024, 1, 15, 9)});
  CHECK(fires("0 9 * * 1-5", utc(2024, 1, 6, 12), 1) == Times{utc(2024, 1, 8, 9)});
  CHECK(fires("0 9 * * mon-fri", utc(2024, 1, 8, 8, 59, 59), 1) == Times{utc(2024, 1, 8, 9)});
}

TEST_CASE("cron on the last days of months skips months without them", "[schedule]") {
  CHECK(fires("0 0 31 * *", utc(2024, 1, 31), 6) == Times{utc(2024, 3, 31), utc(2024, 5, 31),
                                                          utc(2024, 7, 31), utc(2024, 8, 31),
                                                          utc(2024, 10, 31), utc(2024, 12, 31)});
  CHECK(fires("0 0 30 * *", utc(2024, 1, 30), 2) == Times{utc(2024, 3, 30), utc(2024, 4, 30)});
  CHECK(fires("59 23 28-31 2 *", utc(2023, 2, 28, 23, 59), 3) ==
        Times{utc(2024, 2, 28, 23, 59), utc(2024, 2, 29, 23, 59), utc(2025, 2, 28, 23, 59)});
  CHECK(fires("59 23 31 12 *", utc(2024, 6, 1), 2) ==
        Times{utc(2024, 12, 31, 23, 59), utc(2025, 12, 31, 23, 59)});
}

TEST_CASE("cron on Feb 29 follows the leap years, up to 8 years apart", "[schedule]") {
  CHECK(fires("0 12 29 2 *", utc(2024, 3, 1), 3) ==
        Times{utc(2028, 2, 29, 12), utc(2032, 2, 29, 12), utc(2036, 2, 29, 12)});
  // 2100 is not a leap year: 2096 to 2104.
  CHECK(fires("0 0 29 2 *", utc(2096, 2, 29), 1) == Times{utc(2104, 2, 29)});
  CHECK(fires("0 0 29 FEB ?", utc(2099, 12, 31, 23, 59, 59), 1) == Times{utc(2104, 2, 29)});
  // 2000 is one; 1900 is not.
  CHECK(fires("0 0 29 2 *", utc(2000, 1, 1), 1) == Times{utc(2000, 2, 29)});
  CHECK(fires("0 0 29 2 *", utc(1897, 3, 1), 1) == Times{utc(1904, 2, 29)});
  // With seconds, from the last second before.
  CHECK(fires("59 59 23 29 2 *", utc(2096, 2, 29, 23, 59, 58), 2) ==
        Times{utc(2096, 2, 29, 23, 59, 59), utc(2104, 2, 29, 23, 59, 59)});
}

TEST_CASE("cron with 6 fields fires at its seconds", "[schedule]") {
  CHECK(fires("*/10 * * * * *", utc(2024, 1, 1, 0, 0, 5), 6) ==
        Times{utc(2024, 1, 1, 0, 0, 10), utc(2024, 1, 1, 0, 0, 20), utc(2024, 1, 1, 0, 0, 30),
              utc(2024, 1, 1, 0, 0, 40), utc(2024, 1, 1, 0, 0, 50), utc(2024, 1, 1, 0, 1, 0)});
  CHECK(fires("30 0 0 1 1 *", utc(2024, 1, 1, 0, 0, 30), 1) == Times{utc(2025, 1, 1, 0, 0, 30)});
  CHECK(fires("15,45 30 12 * * *", utc(2024, 1, 1, 12, 30, 45), 2) ==
        Times{utc(2024, 1, 2, 12, 30, 15), utc(2024, 1, 2, 12, 30, 45)});
  CHECK(fires("cron(0 0 12 * * ?)", utc(2024, 1, 1), 2) == fires("0 12 * * *", utc(2024, 1, 1), 2));
  CHECK(fires("* * * * * *", utc(2024, 1, 1, 23, 59, 59), 1) == Times{utc(2024, 1, 2)});
  // A 5-field expression fires at second 0.
  CHECK(fires("* * * * *", utc(2024, 1, 1, 0, 0, 1), 1) == Times{utc(2024, 1, 1, 0, 1)});
}

TEST_CASE("cron with both day fields restricted fires when either matches", "[schedule]") {
  // Every 13th and every Friday (2024-01-05 is a Friday; 2024-01-13 a Saturday and 2024-02-13
  // a Tuesday).
  CHECK(fires("0 0 13 * FRI", utc(2024, 1, 1), 9) ==
        Times{utc(2024, 1, 5), utc(2024, 1, 12), utc(2024, 1, 13), utc(2024, 1, 19),
              utc(2024, 1, 26), utc(2024, 2, 2), utc(2024, 2, 9), utc(2024, 2, 13),
              utc(2024, 2, 16)});
  // Days 1-7 and every Monday (2024-01-01 and 2024-02-05 are Mondays).
  CHECK(fires("0 0 1-7 * MON", utc(2024, 1, 1), 12) ==
        Times{utc(2024, 1, 2), utc(2024, 1, 3), utc(2024, 1, 4), utc(2024, 1, 5), utc(2024, 1, 6),
              utc(2024, 1, 7), utc(2024, 1, 8), utc(2024, 1, 15), utc(2024, 1, 22),
              utc(2024, 1, 29), utc(2024, 2, 1), utc(2024, 2, 2)});
  // `*/2` restricts its field too: odd days and Mondays.
  CHECK(fires("0 0 */2 * MON", utc(2024, 1, 28), 3) ==
        Times{utc(2024, 1, 29), utc(2024, 1, 31), utc(2024, 2, 1)});
  SECTION("with one of them * or ?, only the other decides") {
    CHECK(fires("0 0 13 * *", utc(2024, 1, 1), 2) == Times{utc(2024, 1, 13), utc(2024, 2, 13)});
    CHECK(fires("0 0 13 * ?", utc(2024, 1, 1), 2) == Times{utc(2024, 1, 13), utc(2024, 2, 13)});
    CHECK(fires("0 0 * * FRI", utc(2024, 1, 1), 2) == Times{utc(2024, 1, 5), utc(2024, 1, 12)});
    CHECK(fires("0 0 ? * FRI", utc(2024, 1, 1), 2) == Times{utc(2024, 1, 5), utc(2024, 1, 12)});
  }
}

TEST_CASE("cron Sunday as 0, 7 and SUN", "[schedule]") {
  for (const char* text :
       {"0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 * * sun", "0 0 * * 0,7", "@weekly"}) {
    INFO(text);
    CHECK(fires(text, utc(2024, 1, 1), 2) == Times{utc(2024, 1, 7), utc(2024, 1, 14)});
  }
  CHECK(fires("0 0 * * 5-7", utc(2024, 1, 1), 4) ==
        Times{utc(2024, 1, 5), utc(2024, 1, 6), utc(2024, 1, 7), utc(2024, 1, 12)});
  CHECK(fires("0 0 * * FRI-SUN", utc(2024, 1, 1), 4) ==
        Times{utc(2024, 1, 5), utc(2024, 1, 6), utc(2024, 1, 7), utc(2024, 1, 12)});
}

TEST_CASE("cron step ranges and month names", "[schedule]") {
  CHECK(fires("10-50/20 * * * *", utc(2024, 1, 1), 4) ==
        Times{utc(2024, 1, 1, 0, 10), utc(2024, 1, 1, 0, 30), utc(2024, 1, 1, 0, 50),
              utc(2024, 1, 1, 1, 10)});
  CHECK(fires("0 0 1 JAN,jul *", utc(2024, 1, 1), 3) ==
        Times{utc(2024, 7, 1), utc(2025, 1, 1), utc(2025, 7, 1)});
  CHECK(fires("0 0 1 mar-May *", utc(2024, 1, 1), 4) ==
        Times{utc(2024, 3, 1), utc(2024, 4, 1), utc(2024, 5, 1), utc(2025, 3, 1)});
}

TEST_CASE("cron macros", "[schedule]") {
  CHECK(fires("@yearly", utc(2024, 6, 1), 1) == Times{utc(2025, 1, 1)});
  CHECK(fires("@annually", utc(2024, 1, 1), 1) == Times{utc(2025, 1, 1)});
  CHECK(fires("@monthly", utc(2024, 1, 31), 2) == Times{utc(2024, 2, 1), utc(2024, 3, 1)});
  CHECK(fires("@daily", utc(2024, 1, 1), 1) == Times{utc(2024, 1, 2)});
  CHECK(fires("@midnight", utc(2024, 2, 28, 12), 1) == Times{utc(2024, 2, 29)});
  CHECK(fires("@hourly", utc(2024, 1, 1, 10), 1) == Times{utc(2024, 1, 1, 11)});
}

TEST_CASE("cron before 1970 and far in the future", "[schedule]") {
  CHECK(fires("* * * * *", absl::FromUnixSeconds(-1) + absl::Milliseconds(500), 1) ==
        Times{utc(1970, 1, 1)});
  CHECK(fires("0 0 1 1 *", utc(1600, 6, 1), 1) == Times{utc(1601, 1, 1)});
  CHECK(fires("0 0 29 2 *", utc(99996, 3, 1), 1) == Times{utc(100000, 2, 29)});
  const ScheduleExpression schedule = parsed("* * * * *");
  CHECK(schedule.next_fire(absl::InfiniteFuture(), absl::UnixEpoch()) == absl::InfiniteFuture());
  CHECK(schedule.next_fire(absl::InfinitePast(), absl::UnixEpoch()) == absl::InfiniteFuture());
  CHECK(schedule.next_fire(absl::FromUnixSeconds(INT64_MAX - 10), absl::UnixEpoch()) ==
        absl::InfiniteFuture());
  CHECK(schedule.next_fire(absl::FromUnixSeconds(INT64_MIN + 10), absl::UnixEpoch()) >
        absl::FromUnixSeconds(INT64_MIN + 10));
}

TEST_CASE("an impossible cron schedule returns InfiniteFuture without a long search",
          "[schedule]") {
  // A second-by-second search over 8 years would take minutes; the watchdog stops a hang.
  const fnhost::testing::Watchdog watchdog("1000 searches for impossible schedules",
                                           std::chrono::seconds(120));
  for (const char* text :
       {"0 0 30 2 *", "0 0 31 4,6,9,11 *", "* * 31 2 ?", "59 59 23 30 FEB *", "0 0 30,31 feb ?"}) {
    INFO(text);
    const ScheduleExpression schedule = parsed(text);
    for (int i = 0; i < 200; ++i) {
      const absl::Time after = utc(2000 + i, 1 + i % 12, 1 + i % 28);
      REQUIRE(schedule.next_fire(after, after) == absl::InfiniteFuture());
    }
  }
}

// ---- Property test: next_fire against a brute-force search --------------------------------------

// What a generated cron field matches, computed without the parser.
struct FieldModel {
  std::string text;
  std::bitset<64> values;  // by value; day-of-week 7 folded onto 0
  bool restricted = false;
};

struct FieldRange {
  int min;
  int max;
  int open_max;                    // where `*` and `a/n` end
  std::vector<std::string> names;  // from `min` on
  bool allows_question;
};

const FieldRange kSecondRange{0, 59, 59, {}, false};
const FieldRange kMinuteRange{0, 59, 59, {}, false};
const FieldRange kHourRange{0, 23, 23, {}, false};
const FieldRange kDayOfMonthRange{1, 31, 31, {}, true};
const FieldRange kMonthRange{
    1,
    12,
    12,
    {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"},
    false};
const FieldRange kDayOfWeekRange{0, 7, 6, {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, true};

class ModelGenerator {
 public:
  explicit ModelGenerator(uint32_t seed) : rng_(seed) {}

  int uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng_); }
  bool chance(int percent) { return uniform(1, 100) <= percent; }

  // `star_percent`: how often the field is `*` (or `?`).
  FieldModel field(const FieldRange& range, int star_percent) {
    FieldModel model;
    if (chance(star_percent)) {
      model.text = range.allows_question && chance(30) ? "?" : "*";
      add(model, range.min, range.open_max, 1);
      return fold(model, range);
    }
    model.restricted = true;
    const int items = uniform(1, 3);
    for (int i = 0; i < items; ++i) {
      if (i > 0) model.text += ',';
      item(model, range);
    }
    return fold(model, range);
  }

 private:
  void add(FieldModel& model, int from, int to, int step) {
    for (int value = from; value <= to; value += step) model.values.set(static_cast<size_t>(value));
  }

  // A value as a number or, sometimes, a name in random case (never SUN for 7 at a range start).
  std::string value_text(const FieldRange& range, int value, bool ends_range) {
    const int index = value - range.min;
    const bool named = index >= 0 && index < static_cast<int>(range.names.size());
    if (!range.names.empty() && named && !(ends_range && value == 0) && chance(40)) {
      std::string name = range.names[static_cast<size_t>(index)];
      for (char& c : name) {
        if (chance(50)) c = static_cast<char>(c - 'A' + 'a');
      }
      return name;
    }
    if (range.max == 7 && ends_range && value == 7 && chance(50)) return "SUN";
    return (chance(10) ? "0" : "") + std::to_string(value);
  }

  void item(FieldModel& model, const FieldRange& range) {
    const int largest_step = range.open_max - range.min + 1;
    switch (uniform(0, 4)) {
      case 0: {
        const int value = uniform(range.min, range.max);
        model.text += value_text(range, value, false);
        add(model, value, value, 1);
        break;
      }
      case 1: {
        const int first = uniform(range.min, range.max);
        const int last = uniform(first, range.max);
        model.text += value_text(range, first, false) + "-" + value_text(range, last, true);
        add(model, first, last, 1);
        break;
      }
      case 2: {
        const int step = uniform(1, largest_step);
        model.text += "*/" + std::to_string(step);
        add(model, range.min, range.open_max, step);
        break;
      }
      case 3: {
        const int first = uniform(range.min, range.max);
        const int last = uniform(first, range.max);
        const int step = uniform(1, largest_step);
        model.text += value_text(range, first, false) + "-" + value_text(range, last, true) + "/" +
                      std::to_string(step);
        add(model, first, last, step);
        break;
      }
      default: {
        const int first = uniform(range.min, range.max);
        const int step = uniform(1, largest_step);
        model.text += value_text(range, first, false) + "/" + std::to_string(step);
        add(model, first, std::max(first, range.open_max), step);
        break;
      }
    }
  }

  static FieldModel fold(FieldModel model, const FieldRange& range) {
    if (range.max == 7 && model.values.test(7)) {
      model.values.reset(7);
      model.values.set(0);
    }
    return model;
  }

  std::mt19937 rng_;
};

struct CronModel {
  std::string text;
  bool has_seconds = false;
  FieldModel seconds, minutes, hours, days_of_month, months, days_of_week;

  bool day_matches(absl::CivilDay day) const {
    const int weekday = (static_cast<int>(absl::GetWeekday(day)) + 1) % 7;
    const bool by_month = days_of_month.values.test(static_cast<size_t>(day.day()));
    const bool by_week = days_of_week.values.test(static_cast<size_t>(weekday));
    if (days_of_month.restricted && days_of_week.restricted) return by_month || by_week;
    return by_month && by_week;
  }

  // The first matching second in (after, limit], minute by minute; InfiniteFuture if none.
  absl::Time brute_force_next(absl::Time after, absl::Time limit) const {
    const absl::TimeZone utc_zone = absl::UTCTimeZone();
    const absl::CivilSecond from = absl::ToCivilSecond(after, utc_zone) + 1;
    for (absl::CivilMinute minute(from); absl::FromCivil(minute, utc_zone) <= limit; ++minute) {
      if (!months.values.test(static_cast<size_t>(minute.month())) ||
          !day_matches(absl::CivilDay(minute)) ||
          !hours.values.test(static_cast<size_t>(minute.hour())) ||
          !minutes.values.test(static_cast<size_t>(minute.minute()))) {
        continue;
      }
      const int first_second = minute == absl::CivilMinute(from) ? from.second() : 0;
      for (int second = first_second; second < 60; ++second) {
        if (!seconds.values.test(static_cast<size_t>(second))) continue;
        const absl::Time candidate = absl::FromCivil(absl::CivilSecond(minute) + second, utc_zone);
        return candidate <= limit ? candidate : absl::InfiniteFuture();
      }
    }
    return absl::InfiniteFuture();
  }
};

CronModel random_cron(ModelGenerator& generator) {
  CronModel model;
  model.has_seconds = generator.chance(40);
  if (model.has_seconds) {
    model.seconds = generator.field(kSecondRange, 30);
  } else {
    model.seconds.text = "";
    model.seconds.values.set(0);
  }
  model.minutes = generator.field(kMinuteRange, 30);
  model.hours = generator.field(kHourRange, 40);
  model.days_of_month = generator.field(kDayOfMonthRange, 60);
  model.months = generator.field(kMonthRange, 75);
  model.days_of_week = generator.field(kDayOfWeekRange, 60);
  std::string fields = model.has_seconds ? model.seconds.text + " " : "";
  fields += model.minutes.text + " " + model.hours.text + " " + model.days_of_month.text + " " +
            model.months.text + " " + model.days_of_week.text;
  model.text = generator.chance(30) ? "cron(" + fields + ")" : fields;
  return model;
}

// A random time in 2020-2030, often near the end of a day, a month or February.
absl::Time random_after(ModelGenerator& generator) {
  const int year = generator.uniform(2020, 2030);
  absl::CivilSecond when;
  switch (generator.uniform(0, 3)) {
    case 0:  // the last minutes of a month
      when = absl::CivilSecond(absl::CivilMonth(year, generator.uniform(1, 12)) + 1) -
             generator.uniform(1, 600);
      break;
    case 1:  // around Feb 28/29
      when = absl::CivilSecond(year, 2, 28, generator.uniform(0, 23), generator.uniform(0, 59),
                               generator.uniform(0, 59));
      break;
    default:
      when = absl::CivilSecond(year, generator.uniform(1, 12), generator.uniform(1, 28),
                               generator.uniform(0, 23), generator.uniform(0, 59),
                               generator.uniform(0, 59));
  }
  absl::Time after = absl::FromCivil(when, absl::UTCTimeZone());
  if (generator.chance(30)) after += absl::Milliseconds(generator.uniform(1, 999));
  return after;
}

TEST_CASE("next_fire matches a brute-force search for random cron expressions",
          "[schedule][property]") {
  ModelGenerator generator(20240229);
  const absl::Duration horizon = absl::Hours(24 * 3);
  int found = 0;
  for (int i = 0; i < 1500; ++i) {
    const CronModel model = random_cron(generator);
    INFO("expression \"" << model.text << "\"");
    const absl::StatusOr<ScheduleExpression> schedule = ScheduleExpression::parse(model.text);
    INFO(schedule.status().ToString());
    REQUIRE(schedule.ok());
    absl::Time after = random_after(generator);
    // Up to three fires in a row within the horizon, each from the one before.
    const absl::Time limit = after + horizon;
    for (int step = 0; step < 3; ++step) {
      INFO("after " << Catch::StringMaker<absl::Time>::convert(after));
      const absl::Time expected = model.brute_force_next(after, limit);
      const absl::Time actual = schedule->next_fire(after, absl::UnixEpoch());
      if (expected == absl::InfiniteFuture()) {
        CHECK(actual > limit);
        break;
      }
      REQUIRE(actual == expected);
      ++found;
      after = actual;
    }
  }
  // Most expressions fire within three days: the comparison covered real fire times.
  CHECK(found > 1500);
}

TEST_CASE("next_fire matches stepping from the start for random rates", "[schedule][property]") {
  ModelGenerator generator(86400);
  const std::array<std::pair<const char*, int64_t>, 8> units = {{{"second", 1},
                                                                 {"seconds", 1},
                                                                 {"minute", 60},
                                                                 {"minutes", 60},
                                                                 {"hour", 3600},
                                                                 {"hours", 3600},
                                                                 {"day", 86400},
                                                                 {"days", 86400}}};
  for (int i = 0; i < 500; ++i) {
    const auto& [unit, unit_seconds] = units[static_cast<size_t>(generator.uniform(0, 7))];
    const int count = generator.uniform(1, 100);
    const std::string text = "rate(" + std::to_string(count) + " " + unit + ")";
    INFO(text);
    const ScheduleExpression schedule = parsed(text);
    const absl::Duration period = absl::Seconds(count * unit_seconds);
    REQUIRE(schedule.period() == period);
    const absl::Time start = random_after(generator) + absl::Nanoseconds(generator.uniform(0, 999));
    const absl::Time after =
        start + period * generator.uniform(-3, 1000) + absl::Seconds(generator.uniform(-100, 100));
    absl::Time expected = start;
    while (expected <= after) expected += period;
    INFO("start " << Catch::StringMaker<absl::Time>::convert(start) << ", after "
                  << Catch::StringMaker<absl::Time>::convert(after));
    REQUIRE(schedule.next_fire(after, start) == expected);
    REQUIRE(schedule.next_fire(expected, start) == expected + period);
  }
}

}  // namespace
