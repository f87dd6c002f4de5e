// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/request_checks.hpp).
// What every request is checked for before its body is read: header size, the bearer token,
// the invocation type and the declared body size against the limit of its kind.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/http/gateway.hpp"

namespace fnhost::http::detail {

// What a request asks for, from its method and path alone.
enum class RouteKind { kInvoke, kEvent, kMetrics, kProbe, kDashboardPage, kOther };

RouteKind classify(const httplib::Request& request);

// Whether an invocation is asynchronous: `X-Fnhost-Invocation-Type` (or Lambda's
// `X-Amz-Invocation-Type`) is `Event`; `RequestResponse` or no header means synchronous.
// InvalidArgument for any other value.
absl::StatusOr<bool> is_async_invocation(const httplib::Request& request);

// The largest body a request of `kind` may carry.
size_t body_limit(RouteKind kind, bool async, const GatewayOptions& options);

// A refusal decided before the body was read.
struct Rejection {
  int http_status = 400;
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  std::string message;
  // 401: the WWW-Authenticate challenge to send.
  std::string challenge;
};

// Header size, bearer token (not for probes, nor for the dashboard page while the dashboard is
// on: the page is static, and its data endpoint requires the token) and declared body size, in
// that order; nullopt when the request may go on.
std::optional<Rejection> check_request(const httplib::Request& request,
                                       const GatewayOptions& options);

// Compares in time independent of where the strings differ.
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace fnhost::http::detail
