// SPDX-License-Identifier: Apache-2.0
#include "status_mapping.hpp"

#include <nlohmann/json.hpp>
#include <string>

namespace fnhost::http::detail {

int http_status_for(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kFailedPrecondition:
      // The README's table: the host answers FailedPrecondition for a chain deeper than
      // max_chain_depth, which is what 508 Loop Detected names.
      return 508;
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    default:
      return 500;
  }
}

bool wants_retry_after(int http_status) { return http_status == 429 || http_status == 503; }

std::string error_body(absl::StatusCode code, std::string_view message) {
  constexpr size_t kMaxMessage = 512;
  std::string shown(message.substr(0, kMaxMessage));
  if (message.size() > kMaxMessage) shown += "...";
  const nlohmann::json body = {{"error", shown}, {"code", absl::StatusCodeToString(code)}};
  // kReplace: a message quoting bytes from the request may hold invalid UTF-8.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace fnhost::http::detail
