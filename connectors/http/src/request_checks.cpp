// SPDX-License-Identifier: Apache-2.0
#include "request_checks.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "fmt/format.h"

namespace fnhost::http::detail {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// cpp-httplib adds these to every request it parses; they were not sent.
bool is_added_by_httplib(std::string_view name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
         name == "LOCAL_PORT";
}

size_t header_bytes(const httplib::Request& request) {
  size_t total = 0;
  for (const auto& [name, value] : request.headers) {
    if (!is_added_by_httplib(name)) total += name.size() + value.size() + 4;  // ": " and CRLF
  }
  return total;
}

std::optional<Rejection> check_token(const httplib::Request& request, const std::string& token) {
  const std::string authorization = request.get_header_value("Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.empty()) {
    return Rejection{.http_status = 401,
                     .code = absl::StatusCode::kUnauthenticated,
                     .message = "missing Authorization: Bearer <token>",
                     .challenge = "Bearer realm=\"fnhost\""};
  }
  if (authorization.size() < kScheme.size() ||
      !iequals(std::string_view(authorization).substr(0, kScheme.size()), kScheme) ||
      !constant_time_equals(std::string_view(authorization).substr(kScheme.size()), token)) {
    return Rejection{.http_status = 401,
                     .code = absl::StatusCode::kUnauthenticated,
                     .message = "invalid bearer token",
                     .challenge = "Bearer realm=\"fnhost\", error=\"invalid_token\""};
  }
  return std::nullopt;
}

const char* describe(RouteKind kind, bool async) {
  if (kind == RouteKind::kEvent) return "an event";
  return async ? "an asynchronous invocation" : "a synchronous invocation";
}

}  // namespace

RouteKind classify(const httplib::Request& request) {
  const std::string_view path = request.path;
  if (request.method == "POST" && path.starts_with("/functions/") &&
      path.ends_with("/invocations")) {
    return RouteKind::kInvoke;
  }
  if (request.method == "POST" && (path == "/events" || path.starts_with("/events/"))) {
    return RouteKind::kEvent;
  }
  if (request.method == "GET" && path == "/metrics") return RouteKind::kMetrics;
  if (request.method == "GET" && (path == "/healthz" || path == "/readyz"))
    return RouteKind::kProbe;
  if ((request.method == "GET" || request.method == "HEAD") && path == "/") {
    return RouteKind::kDashboardPage;
  }
  return RouteKind::kOther;
}

absl::StatusOr<bool> is_async_invocation(const httplib::Request& request) {
  for (const char* header : {"X-Fnhost-Invocation-Type", "X-Amz-Invocation-Type"}) {
    if (!request.has_header(header)) continue;
    const std::string value = request.get_header_value(header);
    if (iequals(value, "Event")) return true;
    if (iequals(value, "RequestResponse")) return false;
    return absl::InvalidArgumentError(fmt::format(
        "{}: expected Event or RequestResponse, got \"{}\"", header, value.substr(0, 64)));
  }
  return false;
}

size_t body_limit(RouteKind kind, bool async, const GatewayOptions& options) {
  if (kind == RouteKind::kInvoke && !async) return options.max_sync_body_bytes;
  if (kind == RouteKind::kInvoke || kind == RouteKind::kEvent) return options.max_async_body_bytes;
  return 0;  // nothing else takes a body
}

std::optional<Rejection> check_request(const httplib::Request& request,
                                       const GatewayOptions& options) {
  if (const size_t bytes = header_bytes(request); bytes > options.max_header_bytes) {
    return Rejection{
        .http_status = 431,
        .message = fmt::format("request headers are {} bytes, more than the {} allowed", bytes,
                               options.max_header_bytes)};
  }
  const RouteKind kind = classify(request);
  const bool open_path =
      kind == RouteKind::kProbe || (kind == RouteKind::kDashboardPage && options.dashboard);
  if (!options.bearer_token.empty() && !open_path) {
    if (std::optional<Rejection> refused = check_token(request, options.bearer_token)) {
      return refused;
    }
  }
  bool async = false;
  if (kind == RouteKind::kInvoke) {
    absl::StatusOr<bool> type = is_async_invocation(request);
    if (!type.ok()) {
      return Rejection{.message = std::string(type.status().message())};
    }
    async = *type;
  }
  if (request.has_header("Content-Length")) {
    const std::string declared = request.get_header_value("Content-Length");
    const bool numeric =
        !declared.empty() && declared.size() <= 19 &&
        std::all_of(declared.begin(), declared.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!numeric) return Rejection{.message = "Content-Length is not a number"};
    const size_t length = std::stoull(declared);
    const size_t limit = body_limit(kind, async, options);
    if (limit > 0 && length > limit) {
      return Rejection{.http_status = 413,
                       .message = fmt::format("body is {} bytes, more than the {} allowed for {}",
                                              length, limit, describe(kind, async))};
    }
  }
  return std::nullopt;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  size_t differ = a.size() ^ b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    differ |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return differ == 0;
}

}  // namespace fnhost::http::detail
