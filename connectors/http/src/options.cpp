// SPDX-License-Identifier: Apache-2.0
// Validation of GatewayOptions.
#include <algorithm>
#include <string>

#include "common/option_checks.hpp"
#include "fmt/format.h"
#include "fnhost/http/gateway.hpp"

namespace fnhost::http {
namespace {

constexpr size_t kMaxBodyBytes = size_t{1} << 30;

absl::Status invalid(std::string_view field, std::string_view problem) {
  return fnhost::detail::invalid_option(fmt::format("GatewayOptions::{}", field), problem);
}

absl::Status check_duration(std::string_view field, absl::Duration value, absl::Duration low,
                            absl::Duration high) {
  return fnhost::detail::check_option_duration(fmt::format("GatewayOptions::{}", field), value, low,
                                               high);
}

absl::Status check_size(std::string_view field, size_t value, size_t low, size_t high) {
  if (value < low || value > high) {
    return invalid(field, fmt::format("must be {}..{} bytes, got {}", low, high, value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status validate_gateway_options(const GatewayOptions& options) {
  if (options.bind_address.empty()) return invalid("bind_address", "must not be empty");
  if (options.port < 0 || options.port > 65535) {
    return invalid("port", fmt::format("must be 0..65535, got {}", options.port));
  }
  for (absl::Status status : {
           check_size("max_sync_body_bytes", options.max_sync_body_bytes, 1, kMaxBodyBytes),
           check_size("max_async_body_bytes", options.max_async_body_bytes, 1, kMaxBodyBytes),
           check_size("max_header_bytes", options.max_header_bytes, 1024, 1024 * 1024),
           check_duration("request_timeout", options.request_timeout, absl::Milliseconds(1),
                          absl::Hours(1)),
           check_duration("keep_alive_timeout", options.keep_alive_timeout, absl::Milliseconds(1),
                          absl::Hours(1)),
           check_duration("retry_after", options.retry_after, absl::Seconds(1), absl::Hours(1)),
           check_duration("dashboard_refresh", options.dashboard_refresh, absl::Milliseconds(100),
                          absl::Minutes(1)),
       }) {
    if (!status.ok()) return status;
  }
  if (options.max_connections < 1 || options.max_connections > 4096) {
    return invalid("max_connections",
                   fmt::format("must be 1..4096, got {}", options.max_connections));
  }
  const std::string& token = options.bearer_token;
  if (token.size() > 4096) {
    return invalid("bearer_token", fmt::format("at most 4096 characters, got {}", token.size()));
  }
  if (std::any_of(token.begin(), token.end(), [](char c) { return c <= ' ' || c >= 0x7f; })) {
    return invalid("bearer_token", "only visible ASCII characters (no spaces or controls)");
  }
  return absl::OkStatus();
}

}  // namespace fnhost::http
