// SPDX-License-Identifier: Apache-2.0
// Parsing of schedule expressions (rate, cron, cron macros) and their next fire time.
#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "fmt/format.h"
#include "fnhost/schedule.hpp"

namespace fnhost {

namespace {

// Bytes of the input quoted in an error message, and of a piece of it (an item of a field).
constexpr std::size_t kMaxQuotedBytes = 64;
constexpr std::size_t kMaxQuotedPieceBytes = 24;
// How many years past the year of `after` a cron search looks. Feb 29 recurs within 8 years
// (2096 to 2104: 2100 is not a leap year), and every other day a schedule can name recurs
// within one, so a schedule that fires at all fires inside this window.
constexpr int kHorizonYears = 8;
// Numbers are parsed saturating at this value, far above every valid count or field value,
// so a long run of digits reports "out of range" instead of overflowing.
constexpr int64_t kSaturatedNumber = int64_t{1} << 40;

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

bool starts_with_ignore_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equals_ignore_case(text.substr(0, prefix.size()), prefix);
}

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

bool all_letters(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!is_letter(c)) return false;
  }
  return true;
}

// The value of a run of digits (all_digits(text) holds), saturating at kSaturatedNumber.
int64_t digits_value(std::string_view text) {
  int64_t value = 0;
  for (const char c : text) {
    value = value * 10 + (c - '0');
    if (value >= kSaturatedNumber) return kSaturatedNumber;
  }
  return value;
}

// A run of digits for a message, cut after 12 of them.
std::string number_text(std::string_view digits) {
  return digits.size() <= 12 ? std::string(digits) : fmt::format("{}...", digits.substr(0, 12));
}

// `text` in double quotes for a message: at most `max_bytes` bytes, with quotes, backslashes
// and bytes outside printable ASCII escaped; `...` follows when it was cut.
std::string quote(std::string_view text, std::size_t max_bytes = kMaxQuotedPieceBytes) {
  const std::string_view shown = text.substr(0, max_bytes);
  std::string out = "\"";
  for (const char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += c;
    }
  }
  out += '"';
  if (shown.size() < text.size()) out += "...";
  return out;
}

// InvalidArgument `<kind> "<text>": <what>`.
absl::Status invalid(std::string_view kind, std::string_view text, std::string_view what) {
  return absl::InvalidArgumentError(
      fmt::format("{} {}: {}", kind, quote(text, kMaxQuotedBytes), what));
}

// ---- Rate ---------------------------------------------------------------------------------------

// The unit names a rate accepts (singular; the plural adds an `s`) and their length.
struct RateUnit {
  std::string_view name;
  int64_t seconds;
};
constexpr std::array<RateUnit, 4> kRateUnits = {{
    {"second", 1},
    {"minute", 60},
    {"hour", 60 * 60},
    {"day", 24 * 60 * 60},
}};

// The period of `rate(<inner>)`; `text` is the whole input, for messages.
absl::StatusOr<absl::Duration> parse_rate_period(std::string_view inner, std::string_view text) {
  const auto fail = [text](std::string_view what) { return invalid("rate", text, what); };
  inner = trim(inner);
  if (inner.empty()) return fail("expected rate(<count> <unit>), e.g. rate(5 minutes)");
  std::size_t count_end = 0;
  while (count_end < inner.size() && !is_blank(inner[count_end])) ++count_end;
  const std::string_view count_text = inner.substr(0, count_end);
  const std::string_view unit_text = trim(inner.substr(count_end));
  if (!all_digits(count_text)) {
    return fail(fmt::format("the count must be a whole number >= 1, got {}", quote(count_text)));
  }
  const int64_t count = digits_value(count_text);
  if (count < 1) return fail("the count must be >= 1");
  if (count == kSaturatedNumber) {
    return fail("the count is too large: the period must be at most 3650 days (about 10 years)");
  }
  if (unit_text.empty()) {
    return fail("missing the unit after the count: second(s), minute(s), hour(s) or day(s)");
  }
  for (const RateUnit& unit : kRateUnits) {
    const bool singular = equals_ignore_case(unit_text, unit.name);
    const bool plural = unit_text.size() == unit.name.size() + 1 &&
                        starts_with_ignore_case(unit_text, unit.name) &&
                        to_lower(unit_text.back()) == 's';
    if (!singular && !plural) continue;
    const int64_t max_count =
        absl::ToInt64Seconds(ScheduleExpression::kMaxRatePeriod) / unit.seconds;
    if (count > max_count) {
      return fail(fmt::format("the period must be at most 3650 days (about 10 years), got {} {}",
                              count_text, unit_text));
    }
    return absl::Seconds(count * unit.seconds);
  }
  return fail(fmt::format("unknown unit {}; expected second(s), minute(s), hour(s) or day(s)",
                          quote(unit_text)));
}

// ---- Cron ---------------------------------------------------------------------------------------

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

// One cron field: its name, value range and what it accepts besides numbers.
struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  // Names for the values from `min` on (JAN = 1, SUN = 0); empty if the field has none.
  std::span<const std::string_view> names = {};
  // Whether `?` (the whole field) means `*`.
  bool allows_question = false;
  // Where `*` and `a/n` end: `max`, except 6 (Saturday) for day-of-week, so `*/2` is Sunday,
  // Tuesday, Thursday and Saturday (Sunday once).
  int open_max = max;
};

constexpr FieldSpec kSecondField{"second", 0, 59};
constexpr FieldSpec kMinuteField{"minute", 0, 59};
constexpr FieldSpec kHourField{"hour", 0, 23};
constexpr FieldSpec kDayOfMonthField{"day-of-month", 1, 31, {}, true};
constexpr FieldSpec kMonthField{"month", 1, 12, kMonthNames};
// 0-7: 7 is Sunday too (folded onto 0 after parsing).
constexpr FieldSpec kDayOfWeekField{"day-of-week", 0, 7, kDayNames, true, 6};

// The 5 fields, then the 6 fields (with seconds first), in the order they are written.
constexpr std::array<const FieldSpec*, 5> kFiveFields = {
    &kMinuteField, &kHourField, &kDayOfMonthField, &kMonthField, &kDayOfWeekField};
constexpr std::array<const FieldSpec*, 6> kSixFields = {
    &kSecondField, &kMinuteField, &kHourField, &kDayOfMonthField, &kMonthField, &kDayOfWeekField};

// Parses one cron field into a mask with bit v set for each value v it matches (values are
// at most 59, so they fit). Errors name the field by its position and name.
class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, int number, std::string_view text)
      : spec_(spec), number_(number), text_(text) {}

  absl::StatusOr<uint64_t> parse(std::string_view field) const {
    if (field == "?") {
      if (!spec_.allows_question) return question_refused();
      return range_mask(spec_.min, spec_.open_max, 1);
    }
    // Characters no field uses are reported first, whatever item they are in.
    for (const char c : field) {
      if (is_digit(c) || is_letter(c) || c == '*' || c == ',' || c == '-' || c == '/' || c == '?') {
        continue;
      }
      const std::string character = quote(std::string_view(&c, 1));
      if (field.size() == 1) return fail(fmt::format("has an unexpected character {}", character));
      return fail(fmt::format("has an unexpected character {} in {}", character, quote(field)));
    }
    uint64_t mask = 0;
    std::size_t begin = 0;
    for (;;) {
      const std::size_t comma = field.find(',', begin);
      const std::string_view item = field.substr(
          begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
      absl::StatusOr<uint64_t> item_mask = parse_item(item);
      if (!item_mask.ok()) return item_mask.status();
      mask |= *item_mask;
      if (comma == std::string_view::npos) break;
      begin = comma + 1;
    }
    return mask;
  }

 private:
  absl::Status fail(std::string_view what) const {
    return invalid("cron", text_, fmt::format("field {} ({}) {}", number_, spec_.name, what));
  }

  absl::Status question_refused() const {
    return fail(spec_.allows_question
                    ? "uses '?', which must be the whole field"
                    : "uses '?', which is allowed only in day-of-month and day-of-week");
  }

  // Bits from..to (inclusive) in steps of `step`.
  static uint64_t range_mask(int from, int to, int step) {
    uint64_t mask = 0;
    for (int value = from; value <= to; value += step) mask |= uint64_t{1} << value;
    return mask;
  }

  // One list item: `*`, `a`, `a-b`, each optionally followed by `/step`.
  absl::StatusOr<uint64_t> parse_item(std::string_view item) const {
    if (item.empty()) return fail("has an empty list item (check the commas)");
    if (item.find('?') != std::string_view::npos) return question_refused();
    const std::size_t slash = item.find('/');
    const std::string_view base = item.substr(0, slash);
    int step = 1;
    bool stepped = false;
    if (slash != std::string_view::npos) {
      const std::string_view step_text = item.substr(slash + 1);
      absl::StatusOr<int> parsed = parse_step(step_text, item);
      if (!parsed.ok()) return parsed.status();
      step = *parsed;
      stepped = true;
    }
    if (base.empty()) return fail(fmt::format("has no value before the step in {}", quote(item)));
    if (base == "*") return range_mask(spec_.min, spec_.open_max, step);

    const std::size_t dash = base.find('-');
    if (dash == std::string_view::npos) {
      absl::StatusOr<int> value = parse_value(base, item, /*ends_range=*/false);
      if (!value.ok()) return value.status();
      // `a/n` runs from a to the end of the field's range.
      return range_mask(*value, stepped ? std::max(*value, spec_.open_max) : *value, step);
    }
    const std::string_view first_text = base.substr(0, dash);
    const std::string_view last_text = base.substr(dash + 1);
    if (first_text.empty() || last_text.empty()) {
      return fail(fmt::format("has an incomplete range {}", quote(item)));
    }
    absl::StatusOr<int> first = parse_value(first_text, item, /*ends_range=*/false);
    if (!first.ok()) return first.status();
    absl::StatusOr<int> last = parse_value(last_text, item, /*ends_range=*/true);
    if (!last.ok()) return last.status();
    if (*first > *last) {
      return fail(fmt::format(
          "range {} is reversed: the start must be <= the end (for a range that wraps, list "
          "both parts, e.g. {}-{},{}-{})",
          quote(base), *first, std::max(*first, spec_.open_max), spec_.min, *last));
    }
    return range_mask(*first, *last, step);
  }

  absl::StatusOr<int> parse_step(std::string_view step_text, std::string_view item) const {
    const int largest = spec_.open_max - spec_.min + 1;
    if (step_text.empty()) return fail(fmt::format("has an empty step in {}", quote(item)));
    if (!all_digits(step_text)) {
      return fail(fmt::format("has an invalid step {} in {}; expected a number 1-{}",
                              quote(step_text), quote(item), largest));
    }
    const int64_t step = digits_value(step_text);
    if (step < 1) return fail("has a step of 0; a step must be >= 1");
    if (step > largest) {
      return fail(fmt::format("step {} is out of range 1-{}", number_text(step_text), largest));
    }
    return static_cast<int>(step);
  }

  // A number or (month, day-of-week) a name. `ends_range`: the end of `a-b`, where SUN is 7.
  absl::StatusOr<int> parse_value(std::string_view token, std::string_view item,
                                  bool ends_range) const {
    if (all_digits(token)) {
      const int64_t value = digits_value(token);
      if (value < spec_.min || value > spec_.max) {
        return fail(fmt::format("value {} is out of range {}-{}", number_text(token), spec_.min,
                                spec_.max));
      }
      return static_cast<int>(value);
    }
    if (all_letters(token)) {
      if (spec_.names.empty()) {
        return fail(fmt::format("has the name {} where a number {}-{} is expected", quote(token),
                                spec_.min, spec_.max));
      }
      for (std::size_t i = 0; i < spec_.names.size(); ++i) {
        if (!equals_ignore_case(token, spec_.names[i])) continue;
        const int value = spec_.min + static_cast<int>(i);
        // Sunday ends a range as 7, so FRI-SUN means Friday to Sunday.
        return ends_range && &spec_ == &kDayOfWeekField && value == 0 ? 7 : value;
      }
      return fail(fmt::format("has an unknown name {}; expected {}-{}", quote(token),
                              spec_.names.front(), spec_.names.back()));
    }
    for (const char c : token) {
      if (!is_digit(c) && !is_letter(c)) {
        // Only `*`, `-` and `/` get here (the rest is refused in parse()), in a wrong place.
        return fail(fmt::format("has {} in a wrong place in {}", quote(std::string_view(&c, 1)),
                                quote(item)));
      }
    }
    return fail(fmt::format("has an invalid value {}; expected a number {}-{}{}", quote(token),
                            spec_.min, spec_.max, spec_.names.empty() ? "" : " or a name"));
  }

  const FieldSpec& spec_;
  int number_;
  std::string_view text_;
};

// The fields of a cron expression (`fields` is what is inside `cron(...)`, or the bare
// expression); `text` is the whole input, for messages.
absl::StatusOr<detail::CronFields> parse_cron_fields(std::string_view fields,
                                                     std::string_view text) {
  // At most 7 are kept: one more than allowed is enough to know the count is wrong.
  std::array<std::string_view, 7> parts;
  std::size_t count = 0;
  std::size_t pos = 0;
  while (pos < fields.size()) {
    while (pos < fields.size() && is_blank(fields[pos])) ++pos;
    if (pos == fields.size()) break;
    const std::size_t begin = pos;
    while (pos < fields.size() && !is_blank(fields[pos])) ++pos;
    if (count < parts.size()) parts[count] = fields.substr(begin, pos - begin);
    ++count;
  }
  if (count != 5 && count != 6) {
    return invalid("cron", text, fmt::format("expected 5 or 6 fields, got {}", count));
  }
  const std::size_t offset = count == 6 ? 0 : 1;  // a 5-field expression has no seconds
  std::array<uint64_t, 6> masks = {uint64_t{1}, 0, 0, 0, 0, 0};  // seconds default to 0
  for (std::size_t i = 0; i < count; ++i) {
    const FieldSpec& spec = count == 6 ? *kSixFields[i] : *kFiveFields[i];
    absl::StatusOr<uint64_t> mask =
        FieldParser(spec, static_cast<int>(i) + 1, text).parse(parts[i]);
    if (!mask.ok()) return mask.status();
    masks[i + offset] = *mask;
  }
  const std::string_view day_of_month_text = parts[count - 3];
  const std::string_view day_of_week_text = parts[count - 1];
  detail::CronFields cron;
  cron.seconds = std::bitset<60>(masks[0]);
  cron.minutes = std::bitset<60>(masks[1]);
  cron.hours = std::bitset<24>(masks[2]);
  cron.days_of_month = std::bitset<31>(masks[3] >> 1);
  cron.months = std::bitset<12>(masks[4] >> 1);
  // Day-of-week 7 is Sunday, like 0.
  cron.days_of_week = std::bitset<7>((masks[5] | (masks[5] >> 7)) & 0x7f);
  cron.day_of_month_restricted = day_of_month_text != "*" && day_of_month_text != "?";
  cron.day_of_week_restricted = day_of_week_text != "*" && day_of_week_text != "?";
  return cron;
}

// Cron macros and the expressions they stand for.
struct CronMacro {
  std::string_view name;
  std::string_view fields;
};
constexpr std::array<CronMacro, 7> kCronMacros = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

// ---- Next fire time -----------------------------------------------------------------------------

bool is_leap_year(absl::civil_year_t year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(absl::civil_year_t year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

// 0 = Sunday .. 6 = Saturday, as cron counts.
int cron_weekday(const absl::CivilDay& day) {
  // absl::Weekday runs Monday (0) .. Sunday (6).
  return (static_cast<int>(absl::GetWeekday(day)) + 1) % 7;
}

// The Vixie cron day rule: when both day fields are restricted, either may match.
bool day_matches(const detail::CronFields& cron, int day_of_month, int day_of_week) {
  const bool by_month = cron.days_of_month[static_cast<std::size_t>(day_of_month - 1)];
  const bool by_week = cron.days_of_week[static_cast<std::size_t>(day_of_week)];
  if (cron.day_of_month_restricted && cron.day_of_week_restricted) return by_month || by_week;
  return by_month && by_week;
}

// The last year a cron search starts in: far beyond any real use, and far inside the range of
// absl::Time (about 292 billion years), so the search and the conversions never overflow.
constexpr absl::civil_year_t kLastCronYear = 1'000'000'000;

absl::Time next_cron_fire(const detail::CronFields& cron, absl::Time after) {
  if (after == absl::InfinitePast() || after == absl::InfiniteFuture()) {
    return absl::InfiniteFuture();
  }
  const absl::TimeZone utc = absl::UTCTimeZone();
  // The first whole second after `after` (ToCivilSecond rounds down).
  const absl::CivilSecond from = absl::ToCivilSecond(after, utc) + 1;
  if (from.year() > kLastCronYear) return absl::InfiniteFuture();
  const absl::civil_year_t last_year = from.year() + kHorizonYears;
  for (absl::civil_year_t year = from.year(); year <= last_year; ++year) {
    const bool first_year = year == from.year();
    for (int month = first_year ? from.month() : 1; month <= 12; ++month) {
      if (!cron.months[static_cast<std::size_t>(month - 1)]) continue;
      const bool first_month = first_year && month == from.month();
      const int first_day = first_month ? from.day() : 1;
      const int last_day = days_in_month(year, month);
      int weekday = cron_weekday(absl::CivilDay(year, month, first_day));
      for (int day = first_day; day <= last_day; ++day, weekday = (weekday + 1) % 7) {
        if (!day_matches(cron, day, weekday)) continue;
        const bool first_of_days = first_month && day == from.day();
        for (int hour = first_of_days ? from.hour() : 0; hour < 24; ++hour) {
          if (!cron.hours[static_cast<std::size_t>(hour)]) continue;
          const bool first_hour = first_of_days && hour == from.hour();
          for (int minute = first_hour ? from.minute() : 0; minute < 60; ++minute) {
            if (!cron.minutes[static_cast<std::size_t>(minute)]) continue;
            const bool first_minute = first_hour && minute == from.minute();
            for (int second = first_minute ? from.second() : 0; second < 60; ++second) {
              if (!cron.seconds[static_cast<std::size_t>(second)]) continue;
              return absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                                     utc);
            }
          }
        }
      }
    }
  }
  return absl::InfiniteFuture();
}

}  // namespace

ScheduleExpression::ScheduleExpression(std::string_view text, absl::Duration period,
                                       const detail::CronFields& cron)
    : text_(std::make_shared<const std::string>(text)), period_(period), cron_(cron) {}

absl::StatusOr<ScheduleExpression> ScheduleExpression::parse(std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    return invalid(
        "schedule", text,
        fmt::format("is {} bytes long; at most {} are accepted", text.size(), kMaxTextBytes));
  }
  const std::string_view body = trim(text);
  if (body.empty()) {
    return invalid("schedule", text,
                   "is empty; expected rate(...), cron(...), a @macro or 5 or 6 cron fields");
  }
  if (body.front() == '@') {
    for (const CronMacro& macro : kCronMacros) {
      if (!equals_ignore_case(body, macro.name)) continue;
      absl::StatusOr<detail::CronFields> cron = parse_cron_fields(macro.fields, text);
      if (!cron.ok()) return cron.status();
      return ScheduleExpression(text, absl::ZeroDuration(), *cron);
    }
    return invalid("schedule", text,
                   "unknown macro; expected @yearly, @annually, @monthly, @weekly, @daily, "
                   "@midnight or @hourly");
  }
  const bool is_rate = starts_with_ignore_case(body, "rate(");
  const bool is_cron = starts_with_ignore_case(body, "cron(");
  if (is_rate || is_cron) {
    const std::string_view kind = is_rate ? "rate" : "cron";
    if (body.back() != ')') return invalid(kind, text, "expected ')' at the end");
    const std::string_view inner = body.substr(5, body.size() - 6);
    if (is_rate) {
      absl::StatusOr<absl::Duration> period = parse_rate_period(inner, text);
      if (!period.ok()) return period.status();
      return ScheduleExpression(text, *period, detail::CronFields{});
    }
    absl::StatusOr<detail::CronFields> cron = parse_cron_fields(inner, text);
    if (!cron.ok()) return cron.status();
    return ScheduleExpression(text, absl::ZeroDuration(), *cron);
  }
  // A word followed by '(' is a form this parser does not know (`rates(...)`, `at(...)`).
  std::size_t first_blank = 0;
  while (first_blank < body.size() && !is_blank(body[first_blank])) ++first_blank;
  if (body.substr(0, first_blank).find('(') != std::string_view::npos) {
    return invalid("schedule", text,
                   "unknown form; expected rate(...), cron(...), a @macro or 5 or 6 cron fields");
  }
  absl::StatusOr<detail::CronFields> cron = parse_cron_fields(body, text);
  if (!cron.ok()) return cron.status();
  return ScheduleExpression(text, absl::ZeroDuration(), *cron);
}

absl::Time ScheduleExpression::next_fire(absl::Time after, absl::Time start) const {
  if (!is_rate()) return next_cron_fire(cron_, after);
  if (after == absl::InfiniteFuture() || start == absl::InfiniteFuture() ||
      start == absl::InfinitePast()) {
    return absl::InfiniteFuture();
  }
  if (after < start) return start;
  const absl::Duration elapsed = after - start;
  if (elapsed == absl::InfiniteDuration()) return absl::InfiniteFuture();
  absl::Duration remainder;
  const int64_t periods = absl::IDivDuration(elapsed, period_, &remainder);
  if (periods == std::numeric_limits<int64_t>::max()) return absl::InfiniteFuture();
  // Duration and Time arithmetic saturate: a result past the representable range is
  // absl::InfiniteFuture().
  return start + (periods + 1) * period_;
}

}  // namespace fnhost
