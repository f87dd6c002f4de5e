// SPDX-License-Identifier: Apache-2.0
// Topic filters: parsing shared subscriptions, overlap, matching.
#include "topic_filters.hpp"

#include "common/quote.hpp"
#include "fmt/format.h"
#include "routing/topic.hpp"

namespace fnhost::mqtt::detail {
namespace {

constexpr std::string_view kSharePrefix = "$share/";
constexpr size_t kMaxGroupBytes = 128;

std::vector<std::string_view> levels_of(std::string_view pattern) {
  std::vector<std::string_view> levels;
  for (size_t start = 0;;) {
    const size_t slash = pattern.find('/', start);
    levels.push_back(pattern.substr(start, slash - start));
    if (slash == std::string_view::npos) return levels;
    start = slash + 1;
  }
}

}  // namespace

absl::StatusOr<ParsedFilter> parse_filter(std::string_view filter) {
  ParsedFilter parsed;
  std::string_view pattern = filter;
  if (filter.substr(0, kSharePrefix.size()) == kSharePrefix) {
    const std::string_view rest = filter.substr(kSharePrefix.size());
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      return absl::InvalidArgumentError(
          fmt::format("shared subscription {}: expected $share/<group>/<filter>",
                      fnhost::detail::quote_for_message(filter)));
    }
    const std::string_view group = rest.substr(0, slash);
    if (group.empty() || group.size() > kMaxGroupBytes ||
        group.find_first_of("+#") != std::string_view::npos) {
      return absl::InvalidArgumentError(fmt::format(
          "shared subscription {}: the group must be 1..128 bytes without '/', '+' or '#'",
          fnhost::detail::quote_for_message(filter)));
    }
    parsed.share_group = std::string(group);
    pattern = rest.substr(slash + 1);
  }
  if (absl::Status valid = fnhost::detail::validate_topic_pattern(pattern); !valid.ok()) {
    return valid;
  }
  parsed.pattern = std::string(pattern);
  return parsed;
}

bool patterns_overlap(std::string_view first, std::string_view second) {
  const std::vector<std::string_view> a = levels_of(first);
  const std::vector<std::string_view> b = levels_of(second);
  for (size_t index = 0;; ++index) {
    const bool a_done = index == a.size();
    const bool b_done = index == b.size();
    if (a_done && b_done) return true;
    // A final '#' matches the remaining levels, none included.
    if (!a_done && a[index] == "#") return true;
    if (!b_done && b[index] == "#") return true;
    if (a_done || b_done) return false;
    if (a[index] != "+" && b[index] != "+" && a[index] != b[index]) return false;
  }
}

std::optional<size_t> SubscriptionMatcher::match(std::string_view topic) const {
  if (!fnhost::detail::validate_topic(topic).ok()) return std::nullopt;
  for (size_t index = 0; index < patterns_.size(); ++index) {
    if (fnhost::detail::topic_matches(patterns_[index], topic)) return index;
  }
  return std::nullopt;
}

}  // namespace fnhost::mqtt::detail
