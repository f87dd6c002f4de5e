// SPDX-License-Identifier: Apache-2.0
// Retry policies: validation, which failures are retried, and the jittered backoff.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "fmt/format.h"
#include "fnhost/delivery.hpp"

namespace fnhost {

namespace {

// The payload a handler's mark leaves on its status.
constexpr const char* kRetryableMark = "fnhost/retryable";

absl::Status invalid(const std::string& message) {
  return absl::InvalidArgumentError(fmt::format("RetryPolicy: {}", message));
}

std::string format(absl::Duration duration) { return absl::FormatDuration(duration); }

absl::Status mark(absl::Status status, bool retry) {
  if (status.ok()) return status;
  status.SetPayload(kRetryableMark, absl::Cord(retry ? "1" : "0"));
  return status;
}

}  // namespace

absl::Status validate_retry_policy(const RetryPolicy& policy) {
  if (policy.max_attempts < 1 || policy.max_attempts > 100) {
    return invalid(fmt::format("max_attempts must be in 1..100, got {}", policy.max_attempts));
  }
  if (policy.initial_backoff <= absl::ZeroDuration() ||
      policy.initial_backoff == absl::InfiniteDuration()) {
    return invalid(fmt::format("initial_backoff must be > 0 and finite, got {}",
                               format(policy.initial_backoff)));
  }
  if (policy.max_backoff < policy.initial_backoff ||
      policy.max_backoff == absl::InfiniteDuration()) {
    return invalid(fmt::format("max_backoff must be finite and >= initial_backoff ({}), got {}",
                               format(policy.initial_backoff), format(policy.max_backoff)));
  }
  if (!(policy.multiplier >= 1.0 && policy.multiplier <= 100.0)) {
    return invalid(fmt::format("multiplier must be in 1..100, got {}", policy.multiplier));
  }
  if (policy.max_event_age <= absl::ZeroDuration()) {
    return invalid(
        fmt::format("max_event_age must be > 0 (absl::InfiniteDuration() for no "
                    "limit), got {}",
                    format(policy.max_event_age)));
  }
  return absl::OkStatus();
}

RetryClass retry_class(const absl::Status& status) {
  if (status.ok()) return RetryClass::kNever;
  if (auto marked = status.GetPayload(kRetryableMark)) {
    return *marked == "1" ? RetryClass::kRetry : RetryClass::kNever;
  }
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDataLoss:
      return RetryClass::kRetry;
    case absl::StatusCode::kResourceExhausted:
      return RetryClass::kThrottle;
    default:
      return RetryClass::kNever;
  }
}

absl::Status retryable(absl::Status status) { return mark(std::move(status), true); }
absl::Status not_retryable(absl::Status status) { return mark(std::move(status), false); }

absl::Duration retry_delay(const RetryPolicy& policy, int failed_attempts, uint64_t random_bits) {
  const int exponent = std::max(failed_attempts, 1) - 1;
  // In double seconds: the product overflows no integer, and the cap bounds it.
  const double cap = absl::ToDoubleSeconds(policy.max_backoff);
  const double ceiling = std::min(cap, absl::ToDoubleSeconds(policy.initial_backoff) *
                                           std::pow(std::max(policy.multiplier, 1.0), exponent));
  // 53 random bits give a uniform double in [0, 1).
  const double unit = static_cast<double>(random_bits >> 11) * 0x1.0p-53;
  return absl::Seconds(ceiling * unit);
}

}  // namespace fnhost
