// SPDX-License-Identifier: Apache-2.0
// HostLimits: an event over its size or attribute limits is refused before anything is queued,
// and the host-wide queue bounds are counted at admission and given back when a runner takes
// the invocation from its queue.
#include <string_view>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/messages.hpp"

namespace fnhost {

namespace detail {

int64_t event_bytes(const Event& event) {
  size_t bytes = event.data.size() + event.id.size() + event.source.size() + event.type.size() +
                 event.subject.size() + event.datacontenttype.size() + event.topic.size() +
                 event.idempotency_key.size();
  for (const auto& [name, value] : event.extensions) bytes += name.size() + value.size();
  return static_cast<int64_t>(bytes);
}

}  // namespace detail

namespace {

// The first attribute longer than `limit`, by name, or empty.
std::string_view oversized_attribute(const Event& event, int64_t limit, size_t* size) {
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
    if (over(value)) return name;
  }
  return {};
}

}  // namespace

absl::Status HostCore::check_event_limits(const Event& event, bool sync) const {
  const HostLimits& limits = options.limits;
  const int64_t most = sync ? limits.max_sync_payload_bytes : limits.max_async_payload_bytes;
  if (static_cast<int64_t>(event.data.size()) > most) {
    limit_counters_.payload_too_large.fetch_add(1, std::memory_order_relaxed);
    return absl::InvalidArgumentError(
        fmt::format("event data is {} bytes; HostLimits::{} is {}", event.data.size(),
                    sync ? "max_sync_payload_bytes" : "max_async_payload_bytes", most));
  }
  // Data-only events (the common case) have nothing more to check.
  if (event.carries_only_data()) return absl::OkStatus();
  if (static_cast<int64_t>(event.extensions.size()) > limits.max_extensions) {
    limit_counters_.attribute_too_large.fetch_add(1, std::memory_order_relaxed);
    return absl::InvalidArgumentError(
        fmt::format("event has {} extension attributes; HostLimits::max_extensions is {}",
                    event.extensions.size(), limits.max_extensions));
  }
  size_t size = 0;
  if (const std::string_view name = oversized_attribute(event, limits.max_attribute_bytes, &size);
      !name.empty()) {
    limit_counters_.attribute_too_large.fetch_add(1, std::memory_order_relaxed);
    return absl::InvalidArgumentError(
        fmt::format("event attribute {} is {} bytes; HostLimits::max_attribute_bytes is {}",
                    detail::quoted(name), size, limits.max_attribute_bytes));
  }
  return absl::OkStatus();
}

absl::Status HostCore::take_queue_budget(int64_t bytes) {
  if (queued_invocations_budget_.enabled() && !queued_invocations_budget_.try_take(1)) {
    limit_counters_.queued_invocations_full.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(fmt::format(
        "the host holds {} queued invocations, HostLimits::max_queued_invocations; retry later",
        options.limits.max_queued_invocations));
  }
  if (queued_bytes_budget_.enabled() && !queued_bytes_budget_.try_take(bytes)) {
    if (queued_invocations_budget_.enabled()) queued_invocations_budget_.give_back(1);
    limit_counters_.queued_bytes_full.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(fmt::format(
        "queueing this {}-byte event would pass HostLimits::max_queued_bytes ({}); retry later",
        bytes, options.limits.max_queued_bytes));
  }
  return absl::OkStatus();
}

void HostCore::give_back_queue_budget(int64_t count, int64_t bytes) {
  if (queued_invocations_budget_.enabled()) queued_invocations_budget_.give_back(count);
  if (queued_bytes_budget_.enabled()) queued_bytes_budget_.give_back(bytes);
}

absl::Status HostCore::check_queue_room(int64_t bytes) {
  // Taken and given back at once: two operations on this thread's stripes, not a sum of all.
  absl::Status room = take_queue_budget(bytes);
  if (room.ok()) give_back_queue_budget(1, bytes);
  return room;
}

LimitStats HostCore::limit_stats() const {
  const auto read = [](const std::atomic<int64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  return {.payload_too_large = read(limit_counters_.payload_too_large),
          .attribute_too_large = read(limit_counters_.attribute_too_large),
          .queued_invocations_full = read(limit_counters_.queued_invocations_full),
          .queued_bytes_full = read(limit_counters_.queued_bytes_full),
          .queued_invocations = queued_invocations_budget_.in_use(),
          .queued_bytes = queued_bytes_budget_.in_use()};
}

}  // namespace fnhost
