// SPDX-License-Identifier: Apache-2.0
#include "status_mapping.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace fnhost::http::detail {
namespace {

TEST_CASE("http_status_for follows the README's status table", "[http][status]") {
  CHECK(http_status_for(absl::StatusCode::kOk) == 200);
  CHECK(http_status_for(absl::StatusCode::kNotFound) == 404);
  CHECK(http_status_for(absl::StatusCode::kInvalidArgument) == 400);
  CHECK(http_status_for(absl::StatusCode::kAlreadyExists) == 409);
  CHECK(http_status_for(absl::StatusCode::kPermissionDenied) == 403);
  CHECK(http_status_for(absl::StatusCode::kUnauthenticated) == 401);
  CHECK(http_status_for(absl::StatusCode::kResourceExhausted) == 429);
  CHECK(http_status_for(absl::StatusCode::kDeadlineExceeded) == 504);
  CHECK(http_status_for(absl::StatusCode::kFailedPrecondition) == 508);
  CHECK(http_status_for(absl::StatusCode::kInternal) == 500);
  CHECK(http_status_for(absl::StatusCode::kUnknown) == 500);
  CHECK(http_status_for(absl::StatusCode::kDataLoss) == 500);
  CHECK(http_status_for(absl::StatusCode::kUnavailable) == 503);
  CHECK(http_status_for(absl::StatusCode::kUnimplemented) == 501);
  CHECK(http_status_for(absl::StatusCode::kCancelled) == 499);
  CHECK(wants_retry_after(429));
  CHECK(wants_retry_after(503));
  CHECK_FALSE(wants_retry_after(500));
}

TEST_CASE("error_body is JSON with the code and at most a bounded prefix of the message",
          "[http][status]") {
  const std::string huge(100000, 'x');
  const std::string body = error_body(absl::StatusCode::kNotFound, huge + "\xff\xfe");
  const nlohmann::json parsed = nlohmann::json::parse(body);
  CHECK(parsed.at("code") == "NOT_FOUND");
  CHECK(parsed.at("error").get<std::string>().size() <= 520);
  CHECK(body.size() < 700);
}

}  // namespace
}  // namespace fnhost::http::detail
