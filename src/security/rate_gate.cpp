// SPDX-License-Identifier: Apache-2.0
#include "security/rate_gate.hpp"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "fmt/format.h"

namespace fnhost {

namespace {
// The payload a rate-limit refusal carries: the wait in nanoseconds, as decimal text.
constexpr std::string_view kRetryAfterPayload = "type.fnhost/retry-after-ns";
}  // namespace

std::optional<absl::Duration> retry_after(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return std::nullopt;
  absl::optional<absl::Cord> payload =
      status.GetPayload(absl::string_view(kRetryAfterPayload.data(), kRetryAfterPayload.size()));
  if (!payload.has_value()) return std::nullopt;
  int64_t ns = 0;
  for (char c : std::string(*payload)) {
    if (c < '0' || c > '9' || ns > (int64_t{1} << 58)) return std::nullopt;
    ns = ns * 10 + (c - '0');
  }
  return absl::Nanoseconds(ns);
}

namespace detail {

absl::Status validate_rate_limit(const RateLimit& limit, std::string_view field) {
  const bool rate_ok =
      limit.per_second == 0 || (limit.per_second >= 0.001 && limit.per_second <= 1e9);  // NaN fails
  if (!rate_ok) {
    return absl::InvalidArgumentError(fmt::format(
        "{}.per_second must be 0 (no limit) or in 0.001..1e9, got {}", field, limit.per_second));
  }
  if (limit.burst < 1 || limit.burst > 1'000'000'000) {
    return absl::InvalidArgumentError(
        fmt::format("{}.burst must be in 1..1e9, got {}", field, limit.burst));
  }
  return absl::OkStatus();
}

absl::Status rate_limited_error(std::string message, int64_t retry_after_ns) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(absl::string_view(kRetryAfterPayload.data(), kRetryAfterPayload.size()),
                    absl::Cord(std::to_string(retry_after_ns)));
  return status;
}

}  // namespace detail
}  // namespace fnhost
