// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/topic_filters.hpp).
// MQTT topic filters as fnhost topic patterns: a filter is an fnhost pattern, optionally inside a
// shared subscription `$share/<group>/<pattern>`; two filters overlap when some topic matches
// both; a received topic is routed to the one subscription whose pattern matches it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fnhost::mqtt::detail {

// A filter taken apart: the shared subscription's group (empty for a plain filter) and the
// pattern topics are matched against.
struct ParsedFilter {
  std::string share_group;
  std::string pattern;
};

// Splits and checks `filter`: `$share/<group>/<pattern>` (group 1..128 bytes without '/', '+'
// or '#') or `<pattern>`; the pattern by fnhost's topic pattern rules. InvalidArgument naming
// the problem.
[[nodiscard]] absl::StatusOr<ParsedFilter> parse_filter(std::string_view filter);

// Whether some topic matches both valid patterns.
[[nodiscard]] bool patterns_overlap(std::string_view first, std::string_view second);

// Routes received topics to subscriptions by their patterns (which must not overlap).
class SubscriptionMatcher {
 public:
  explicit SubscriptionMatcher(std::vector<std::string> patterns)
      : patterns_(std::move(patterns)) {}
  // The index of the pattern matching `topic`; nullopt when `topic` is not a valid fnhost topic
  // or no pattern matches it.
  [[nodiscard]] std::optional<size_t> match(std::string_view topic) const;

 private:
  std::vector<std::string> patterns_;
};

}  // namespace fnhost::mqtt::detail
