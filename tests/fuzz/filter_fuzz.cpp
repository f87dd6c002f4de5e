// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for Filter's text form: any bytes either parse or fail with InvalidArgument
// and a short message; a parsed filter passes validate(), its canonical text parses back to an
// equal filter with the same text, and it evaluates the same way as that copy (and opposite to
// its negation) against a few fixed events.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "fnhost/event.hpp"
#include "fnhost/filter.hpp"

namespace {

std::vector<fnhost::Event> make_events() {
  const absl::Time time = absl::FromCivil(absl::CivilSecond(2026, 1, 2, 3, 4, 5),
                                          absl::UTCTimeZone());
  return {
      fnhost::Event{},
      fnhost::Event{.id = "1",
                    .source = "/cams/7",
                    .type = "image.uploaded",
                    .subject = "cat.png",
                    .time = time,
                    .datacontenttype = "application/json",
                    .extensions = {{"region", "eu"}, {"x", ""}},
                    .topic = "images/new"},
      fnhost::Event{.source = "a",
                    .type = "a\"b\\",
                    .subject = "x.tmp",
                    .time = time + absl::Milliseconds(250),
                    .extensions = {{"a", "a"}, {"b", "ab"}}},
  };
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<fnhost::Event> events = make_events();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<fnhost::Filter> filter = fnhost::Filter::parse(text);
  if (!filter.ok()) {
    if (filter.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    // 64 quoted bytes, each at most 4 characters (\xNN), plus the explanation.
    if (filter.status().message().size() > 64 * 4 + 200) std::abort();
    return 0;
  }
  if (!filter->validate().ok()) std::abort();
  const std::string canonical = filter->to_string();
  if (canonical.size() > fnhost::Filter::kMaxTextSize) std::abort();
  const absl::StatusOr<fnhost::Filter> again = fnhost::Filter::parse(canonical);
  if (!again.ok() || !(*again == *filter) || again->to_string() != canonical) std::abort();
  const fnhost::Filter negated = fnhost::Filter::negate(*filter);
  for (const fnhost::Event& event : events) {
    const bool matched = filter->matches(event);
    if (again->matches(event) != matched) std::abort();
    if (negated.matches(event) == matched) std::abort();
    if (filter->is_match_all() && !matched) std::abort();
  }
  return 0;
}
