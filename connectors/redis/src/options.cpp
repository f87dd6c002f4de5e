// SPDX-License-Identifier: Apache-2.0
// Validation of StreamTriggerOptions, StreamWriterOptions and their ServerOptions.
#include "options.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include "common/option_checks.hpp"
#include "fmt/format.h"
#include "fnhost/redis/stream_trigger.hpp"
#include "fnhost/redis/stream_writer.hpp"

namespace fnhost::redis {
namespace {

absl::Status invalid(std::string_view owner, std::string_view field, std::string_view problem) {
  return fnhost::detail::invalid_option(fmt::format("{}::{}", owner, field), problem);
}

absl::Status check_duration(std::string_view owner, std::string_view field, absl::Duration value,
                            absl::Duration low, absl::Duration high) {
  return fnhost::detail::check_option_duration(fmt::format("{}::{}", owner, field), value, low,
                                               high);
}

absl::Status check_name(std::string_view owner, std::string_view field, const std::string& value,
                        size_t max_bytes) {
  if (value.empty()) return invalid(owner, field, "must not be empty");
  if (value.size() > max_bytes) {
    return invalid(owner, field, fmt::format("at most {} bytes, got {}", max_bytes, value.size()));
  }
  return absl::OkStatus();
}

// A publish topic as the router accepts one: 1..1024 bytes, no NUL, levels separated by '/',
// each non-empty, at most 64 of them, no '+' or '#'.
absl::Status check_topic(const std::string& topic) {
  constexpr std::string_view kOwner = "StreamTriggerOptions";
  if (absl::Status named = check_name(kOwner, "topic", topic, 1024); !named.ok()) return named;
  if (topic.find('\0') != std::string::npos) return invalid(kOwner, "topic", "contains NUL");
  if (topic.find_first_of("+#") != std::string::npos) {
    return invalid(kOwner, "topic", "a topic has no '+' or '#' (those are for patterns)");
  }
  if (topic.front() == '/' || topic.back() == '/' || topic.find("//") != std::string::npos) {
    return invalid(kOwner, "topic", "every '/'-separated level must be non-empty");
  }
  if (std::count(topic.begin(), topic.end(), '/') >= 64) {
    return invalid(kOwner, "topic", "at most 64 levels");
  }
  return absl::OkStatus();
}

// An entry id as XGROUP CREATE takes one: "$", or "<ms>" / "<ms>-<seq>" in decimal digits.
bool is_start_id(std::string_view id) {
  if (id == "$") return true;
  const size_t dash = id.find('-');
  const auto digits = [](std::string_view part) {
    return !part.empty() && part.size() <= 20 &&
           std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (dash == std::string_view::npos) return digits(id);
  return digits(id.substr(0, dash)) && digits(id.substr(dash + 1));
}

}  // namespace

namespace detail {

absl::Status validate_server_options(std::string_view owner, const ServerOptions& server) {
  const std::string field_owner = std::string(owner) + "::server";
  if (server.host.empty()) return invalid(field_owner, "host", "must not be empty");
  if (server.host.size() > 255) {
    return invalid(field_owner, "host",
                   fmt::format("at most 255 bytes, got {}", server.host.size()));
  }
  if (server.port < 1 || server.port > 65535) {
    return invalid(field_owner, "port", fmt::format("must be 1..65535, got {}", server.port));
  }
  if (server.username.size() > 4096) return invalid(field_owner, "username", "at most 4096 bytes");
  if (server.password.size() > 4096) return invalid(field_owner, "password", "at most 4096 bytes");
  if (!server.username.empty() && server.password.empty()) {
    return invalid(field_owner, "password", "must be set when username is");
  }
  return check_duration(field_owner, "io_timeout", server.io_timeout, absl::Milliseconds(1),
                        absl::Minutes(10));
}

}  // namespace detail

absl::Status validate_stream_trigger_options(const StreamTriggerOptions& options) {
  constexpr std::string_view kOwner = "StreamTriggerOptions";
  if (absl::Status server = detail::validate_server_options(kOwner, options.server); !server.ok()) {
    return server;
  }
  for (absl::Status status : {
           check_name(kOwner, "stream", options.stream, 1024),
           check_name(kOwner, "group", options.group, 256),
           check_name(kOwner, "consumer", options.consumer, 256),
       }) {
    if (!status.ok()) return status;
  }
  if (options.function.empty() == options.topic.empty()) {
    return invalid(kOwner, "function",
                   "set exactly one of function (invoke_async) and topic (publish)");
  }
  if (!options.topic.empty()) {
    if (absl::Status topic = check_topic(options.topic); !topic.ok()) return topic;
  }
  if (!is_start_id(options.group_start_id)) {
    return invalid(kOwner, "group_start_id",
                   fmt::format("must be \"0\", \"$\" or an entry id like \"1700000000000-0\", "
                               "got \"{}\"",
                               options.group_start_id.substr(0, 64)));
  }
  if (options.max_in_flight < 1 || options.max_in_flight > 100'000) {
    return invalid(kOwner, "max_in_flight",
                   fmt::format("must be 1..100000, got {}", options.max_in_flight));
  }
  if (options.claim_idle != absl::ZeroDuration()) {
    if (absl::Status idle = check_duration(kOwner, "claim_idle", options.claim_idle,
                                           absl::Milliseconds(1), absl::Hours(24 * 7));
        !idle.ok()) {
      return idle;
    }
  }
  for (absl::Status status : {
           check_duration(kOwner, "read_block", options.read_block, absl::Milliseconds(1),
                          absl::Minutes(1)),
           check_duration(kOwner, "claim_interval", options.claim_interval, absl::Milliseconds(1),
                          absl::Hours(1)),
           check_duration(kOwner, "stop_timeout", options.stop_timeout, absl::ZeroDuration(),
                          absl::Hours(1)),
           check_duration(kOwner, "reconnect_backoff_initial", options.reconnect_backoff_initial,
                          absl::Milliseconds(1), absl::Minutes(1)),
           check_duration(kOwner, "reconnect_backoff_max", options.reconnect_backoff_max,
                          absl::Milliseconds(1), absl::Minutes(1)),
       }) {
    if (!status.ok()) return status;
  }
  if (options.reconnect_backoff_initial > options.reconnect_backoff_max) {
    return invalid(kOwner, "reconnect_backoff_initial", "must be <= reconnect_backoff_max");
  }
  if (options.dead_letter_stream.size() > 1024) {
    return invalid(kOwner, "dead_letter_stream",
                   fmt::format("at most 1024 bytes, got {}", options.dead_letter_stream.size()));
  }
  if (options.dead_letter_stream == options.stream) {
    return invalid(kOwner, "dead_letter_stream", "must differ from stream");
  }
  return absl::OkStatus();
}

namespace detail {

absl::Status validate_stream_writer_options(const StreamWriterOptions& options) {
  constexpr std::string_view kOwner = "StreamWriterOptions";
  if (absl::Status server = validate_server_options(kOwner, options.server); !server.ok()) {
    return server;
  }
  if (absl::Status stream = check_name(kOwner, "stream", options.stream, 1024); !stream.ok()) {
    return stream;
  }
  if (options.max_len < 0) {
    return invalid(kOwner, "max_len", fmt::format("must be >= 0, got {}", options.max_len));
  }
  if (options.max_concurrency < 1 || options.max_concurrency > 1024) {
    return invalid(kOwner, "max_concurrency",
                   fmt::format("must be 1..1024, got {}", options.max_concurrency));
  }
  if (absl::Status retry = validate_retry_policy(options.retry); !retry.ok()) {
    const absl::string_view message = retry.message();
    return invalid(kOwner, "retry", std::string_view(message.data(), message.size()));
  }
  return absl::OkStatus();
}

}  // namespace detail
}  // namespace fnhost::redis
