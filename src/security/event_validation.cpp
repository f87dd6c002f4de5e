// SPDX-License-Identifier: Apache-2.0
#include "security/event_validation.hpp"

#include <optional>
#include <string>
#include <string_view>

#include "common/quote.hpp"
#include "fmt/format.h"

namespace fnhost::detail {

namespace {

// The first attribute longer than `limit`, by name (an extension's may be empty), or nullopt.
std::optional<std::string_view> oversized_attribute(const Event& event, int64_t limit,
                                                    size_t* size) {
  const auto over = [&](const std::string& value) {
    *size = value.size();
    return static_cast<int64_t>(value.size()) > limit;
  };
  if (over(event.id)) return "id";
  if (over(event.source)) return "source";
  if (over(event.type)) return "type";
  if (over(event.subject)) return "subject";
  if (over(event.datacontenttype)) return "datacontenttype";
  for (const auto& [name, value] : event.extensions) {
    if (over(name)) return "extension name";
    if (over(value)) return std::string_view(name);
  }
  return std::nullopt;
}

}  // namespace

absl::Status check_event(const Event& event, const HostLimits& limits, bool sync,
                         EventRefusal* refusal) {
  *refusal = EventRefusal::kNone;
  const int64_t most = sync ? limits.max_sync_payload_bytes : limits.max_async_payload_bytes;
  if (static_cast<int64_t>(event.data.size()) > most) {
    *refusal = EventRefusal::kPayloadTooLarge;
    return absl::InvalidArgumentError(
        fmt::format("event data is {} bytes; HostLimits::{} is {}", event.data.size(),
                    sync ? "max_sync_payload_bytes" : "max_async_payload_bytes", most));
  }
  // Data-only events (the common case) have nothing more to check.
  if (event.carries_only_data()) return absl::OkStatus();
  if (static_cast<int64_t>(event.extensions.size()) > limits.max_extensions) {
    *refusal = EventRefusal::kAttributeTooLarge;
    return absl::InvalidArgumentError(
        fmt::format("event has {} extension attributes; HostLimits::max_extensions is {}",
                    event.extensions.size(), limits.max_extensions));
  }
  size_t size = 0;
  if (const std::optional<std::string_view> name =
          oversized_attribute(event, limits.max_attribute_bytes, &size)) {
    *refusal = EventRefusal::kAttributeTooLarge;
    return absl::InvalidArgumentError(
        fmt::format("event attribute {} is {} bytes; HostLimits::max_attribute_bytes is {}",
                    quote_for_message(*name), size, limits.max_attribute_bytes));
  }
  return absl::OkStatus();
}

int64_t event_bytes(const Event& event) {
  size_t bytes = event.data.size() + event.id.size() + event.source.size() + event.type.size() +
                 event.subject.size() + event.datacontenttype.size() + event.topic.size() +
                 event.idempotency_key.size();
  for (const auto& [name, value] : event.extensions) bytes += name.size() + value.size();
  return static_cast<int64_t>(bytes);
}

}  // namespace fnhost::detail
