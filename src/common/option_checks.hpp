// SPDX-License-Identifier: Apache-2.0
// Internal (src/common/option_checks.hpp).
// The checks the connectors' options share, so every refusal reads the same way:
// "<Owner>::<field>: <problem>" as InvalidArgument, the field named as the program wrote it.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fmt/format.h"

namespace fnhost::detail {

// InvalidArgument "<field>: <problem>"; `field` is already qualified (e.g. "GatewayOptions::port").
inline absl::Status invalid_option(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", field, problem));
}

// OK when low <= value <= high; otherwise "<field>: must be <low>..<high>, got <value>".
inline absl::Status check_option_duration(std::string_view field, absl::Duration value,
                                          absl::Duration low, absl::Duration high) {
  if (value >= low && value <= high) return absl::OkStatus();
  return invalid_option(field,
                        fmt::format("must be {}..{}, got {}", absl::FormatDuration(low),
                                    absl::FormatDuration(high), absl::FormatDuration(value)));
}

}  // namespace fnhost::detail
