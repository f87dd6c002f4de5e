// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/status_mapping.hpp).
// absl::StatusCode -> HTTP status, as the README's "Status codes" table says, and the JSON
// error body every refusal carries.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace fnhost::http::detail {

// The HTTP status a connector answers for `code` (README, "Status codes"): NotFound 404,
// InvalidArgument/OutOfRange 400, AlreadyExists/Aborted 409, PermissionDenied 403,
// Unauthenticated 401, ResourceExhausted 429, FailedPrecondition 508 (a chain past
// max_chain_depth), DeadlineExceeded 504, Unavailable 503, Unimplemented 501, Cancelled 499,
// Internal/Unknown/DataLoss 500; OK 200.
int http_status_for(absl::StatusCode code);

// Whether responses with `http_status` carry a Retry-After header (429 and 503).
bool wants_retry_after(int http_status);

// {"error": "<message>", "code": "<CODE_NAME>"}: the message cut to its first 512 bytes (an
// error never echoes a large input back), as valid JSON (invalid UTF-8 replaced).
std::string error_body(absl::StatusCode code, std::string_view message);

}  // namespace fnhost::http::detail
