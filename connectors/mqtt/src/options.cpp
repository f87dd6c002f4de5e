// SPDX-License-Identifier: Apache-2.0
// Validation of BrokerOptions, ConnectorOptions and PublisherOptions.
#include <algorithm>
#include <string>

#include "codec.hpp"
#include "common/option_checks.hpp"
#include "common/quote.hpp"
#include "fmt/format.h"
#include "fnhost/mqtt/broker.hpp"
#include "fnhost/mqtt/connector.hpp"
#include "fnhost/mqtt/publisher.hpp"
#include "status_text.hpp"
#include "topic_filters.hpp"

namespace fnhost::mqtt {
namespace {

using fnhost::detail::check_option_duration;
using fnhost::detail::invalid_option;

constexpr size_t kMaxClientIdBytes = 128;
constexpr size_t kMaxLoginBytes = 65535;
constexpr size_t kMaxSubscriptions = 64;
constexpr size_t kMaxTopicPrefixBytes = 1024;

}  // namespace

absl::Status validate_broker_options(const BrokerOptions& options, std::string_view context,
                                     bool require_client_id) {
  const auto field = [&](std::string_view name) { return fmt::format("{}.{}", context, name); };
  if (options.host.empty() || options.host.size() > 255) {
    return invalid_option(field("host"),
                          fmt::format("must be 1..255 bytes, got {}", options.host.size()));
  }
  if (options.host.find('\0') != std::string::npos) {
    return invalid_option(field("host"), "must not contain NUL");
  }
  if (options.port < 1 || options.port > 65535) {
    return invalid_option(field("port"), fmt::format("must be 1..65535, got {}", options.port));
  }
  const std::string& id = options.client_id;
  if (id.empty() && require_client_id) {
    return invalid_option(field("client_id"),
                          "required (the session is kept by the broker under it)");
  }
  if (id.size() > kMaxClientIdBytes ||
      std::any_of(id.begin(), id.end(), [](char c) { return c <= ' ' || c >= 0x7f; })) {
    return invalid_option(
        field("client_id"),
        fmt::format("must be at most 128 bytes of printable ASCII without spaces, "
                    "got {}",
                    fnhost::detail::quote_for_message(id)));
  }
  if (options.username.size() > kMaxLoginBytes) {
    return invalid_option(field("username"), "at most 65535 bytes");
  }
  if (options.password.size() > kMaxLoginBytes) {
    return invalid_option(field("password"), "at most 65535 bytes");
  }
  if (!options.password.empty() && options.username.empty()) {
    return invalid_option(field("password"),
                          "needs a username (MQTT 3.1.1 sends no password alone)");
  }
  if (absl::Status status = check_option_duration(field("keep_alive"), options.keep_alive,
                                                  absl::Seconds(1), absl::Seconds(65535));
      !status.ok()) {
    return status;
  }
  if (options.keep_alive != absl::Seconds(absl::ToInt64Seconds(options.keep_alive))) {
    return invalid_option(
        field("keep_alive"),
        fmt::format("must be whole seconds, got {}", absl::FormatDuration(options.keep_alive)));
  }
  if (absl::Status status = check_option_duration(field("connect_timeout"), options.connect_timeout,
                                                  absl::Milliseconds(1), absl::Minutes(10));
      !status.ok()) {
    return status;
  }
  if (options.max_packet_bytes < 1024 || options.max_packet_bytes > (size_t{256} << 20)) {
    return invalid_option(field("max_packet_bytes"),
                          fmt::format("must be 1 KiB..256 MiB, got {}", options.max_packet_bytes));
  }
  return absl::OkStatus();
}

absl::Status validate_connector_options(const ConnectorOptions& options) {
  if (absl::Status broker =
          validate_broker_options(options.broker, "ConnectorOptions::broker", true);
      !broker.ok()) {
    return broker;
  }
  const auto& subscriptions = options.subscriptions;
  if (subscriptions.empty() || subscriptions.size() > kMaxSubscriptions) {
    return invalid_option(
        "ConnectorOptions::subscriptions",
        fmt::format("must hold 1..64 subscriptions, got {}", subscriptions.size()));
  }
  std::vector<detail::ParsedFilter> parsed;
  for (size_t index = 0; index < subscriptions.size(); ++index) {
    const Subscription& subscription = subscriptions[index];
    const std::string field = fmt::format("ConnectorOptions::subscriptions[{}]", index);
    absl::StatusOr<detail::ParsedFilter> filter = detail::parse_filter(subscription.filter);
    if (!filter.ok()) {
      return invalid_option(field + ".filter", detail::message_text(filter.status()));
    }
    if (subscription.qos != 0 && subscription.qos != 1) {
      return invalid_option(field + ".qos",
                            fmt::format("must be 0 or 1, got {}", subscription.qos));
    }
    for (size_t earlier = 0; earlier < parsed.size(); ++earlier) {
      if (detail::patterns_overlap(parsed[earlier].pattern, filter->pattern)) {
        return invalid_option(
            field + ".filter",
            fmt::format("{} overlaps subscriptions[{}] {}: a topic would match both",
                        fnhost::detail::quote_for_message(subscription.filter), earlier,
                        fnhost::detail::quote_for_message(subscriptions[earlier].filter)));
      }
    }
    parsed.push_back(*std::move(filter));
  }
  if (options.max_in_flight < 1 || options.max_in_flight > 65535) {
    return invalid_option("ConnectorOptions::max_in_flight",
                          fmt::format("must be 1..65535, got {}", options.max_in_flight));
  }
  for (absl::Status status : {
           check_option_duration("ConnectorOptions::max_reconnect_delay",
                                 options.max_reconnect_delay, absl::Milliseconds(1),
                                 absl::Hours(1)),
           check_option_duration("ConnectorOptions::initial_reconnect_delay",
                                 options.initial_reconnect_delay, absl::Milliseconds(1),
                                 options.max_reconnect_delay),
           check_option_duration("ConnectorOptions::stop_timeout", options.stop_timeout,
                                 absl::ZeroDuration(), absl::Hours(1)),
       }) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status validate_publisher_options(const PublisherOptions& options) {
  if (absl::Status broker =
          validate_broker_options(options.broker, "PublisherOptions::broker", false);
      !broker.ok()) {
    return broker;
  }
  if (!options.topic.empty()) {
    if (absl::Status topic = detail::check_topic_name(options.topic); !topic.ok()) {
      return invalid_option("PublisherOptions::topic", detail::message_text(topic));
    }
  }
  if (options.topic_prefix.size() > kMaxTopicPrefixBytes ||
      options.topic_prefix.find_first_of(std::string_view("+#\0", 3)) != std::string::npos) {
    return invalid_option("PublisherOptions::topic_prefix",
                          "at most 1024 bytes, without '+', '#' or NUL");
  }
  if (options.qos != 0 && options.qos != 1) {
    return invalid_option("PublisherOptions::qos",
                          fmt::format("must be 0 or 1, got {}", options.qos));
  }
  if (options.payload != PublishedPayload::kResultOrData &&
      options.payload != PublishedPayload::kData) {
    return invalid_option("PublisherOptions::payload", "unknown PublishedPayload value");
  }
  for (absl::Status status : {
           check_option_duration("PublisherOptions::ack_timeout", options.ack_timeout,
                                 absl::Milliseconds(1), absl::Minutes(10)),
           check_option_duration("PublisherOptions::timeout", options.timeout,
                                 absl::Milliseconds(1), absl::Hours(1)),
       }) {
    if (!status.ok()) return status;
  }
  if (absl::Status retry = validate_retry_policy(options.retry); !retry.ok()) {
    return invalid_option("PublisherOptions::retry", detail::message_text(retry));
  }
  return absl::OkStatus();
}

}  // namespace fnhost::mqtt
