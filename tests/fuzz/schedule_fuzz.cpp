// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for schedule expressions (src/routing/schedule_expression.cpp): any bytes
// must parse or be refused with InvalidArgument and a short message, without crashing. For a
// schedule that parses, next_fire is called a few times in a row from fixed times and from
// times derived from the input, and must move strictly forward, find a fire time again from
// just before it, give whole seconds for cron and multiples of the period for rates, and
// return quickly (the cron search is bounded; libFuzzer's -timeout catches a slow one).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "fnhost/schedule.hpp"

namespace {

// FNV-1a: a cheap, stable hash of the input, to derive times from it.
uint64_t hash_of(std::string_view text) {
  uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

absl::Time utc(int64_t year, int month, int day, int hour, int minute, int second) {
  return absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                         absl::UTCTimeZone());
}

bool is_whole_second(absl::Time time) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(time)) == time;
}

void check_fires(const fnhost::ScheduleExpression& schedule, absl::Time after, absl::Time start) {
  absl::Time previous = after;
  for (int i = 0; i < 4; ++i) {
    const absl::Time next = schedule.next_fire(previous, start);
    if (!(next > previous)) std::abort();
    if (next == absl::InfiniteFuture()) return;
    if (schedule.is_rate()) {
      // A fire time is start + k * period.
      absl::Duration remainder;
      absl::IDivDuration(next - start, schedule.period(), &remainder);
      if (remainder != absl::ZeroDuration()) std::abort();
    } else if (!is_whole_second(next)) {
      std::abort();
    }
    // Nothing fires in (previous, next), so from just before `next` it is found again.
    const absl::Time just_before = next - absl::Nanoseconds(1);
    if (just_before >= previous && schedule.next_fire(just_before, start) != next) std::abort();
    previous = next;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<fnhost::ScheduleExpression> schedule =
      fnhost::ScheduleExpression::parse(text);
  if (!schedule.ok()) {
    if (schedule.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    // The message quotes at most 64 + 24 bytes of the input, each escaped to at most 4 bytes.
    if (schedule.status().message().size() > 800) std::abort();
    return 0;
  }
  if (schedule->text() != text) std::abort();
  if (schedule->is_rate() != (schedule->period() > absl::ZeroDuration())) std::abort();

  const uint64_t hash = hash_of(text);
  // A time in 1970-2170 with nanoseconds, and one anywhere in absl::Time's range.
  const absl::Time derived = absl::FromUnixSeconds(static_cast<int64_t>(hash % 6'311'390'400)) +
                             absl::Nanoseconds(static_cast<int64_t>((hash >> 33) % 1'000'000'000));
  const absl::Time anywhere = absl::FromUnixSeconds(static_cast<int64_t>(hash));
  const std::array<absl::Time, 7> afters = {absl::UnixEpoch(),
                                            utc(2024, 2, 28, 23, 59, 59),
                                            utc(2096, 2, 29, 0, 0, 1),
                                            utc(2099, 12, 31, 23, 59, 59),
                                            derived,
                                            anywhere,
                                            absl::InfinitePast()};
  const std::array<absl::Time, 3> starts = {utc(2024, 1, 1, 0, 0, 0), derived, anywhere};
  for (const absl::Time after : afters) {
    for (const absl::Time start : starts) {
      check_fires(*schedule, after, start);
      if (!schedule->is_rate()) break;  // cron ignores the start
    }
  }
  return 0;
}
