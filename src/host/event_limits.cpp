// SPDX-License-Identifier: Apache-2.0
// HostLimits: an event over its size or attribute limits is refused before anything is queued,
// and the host-wide queue bounds are counted at admission and given back when a runner takes
// the invocation from its queue.
#include <string_view>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/messages.hpp"
#include "security/event_validation.hpp"

namespace fnhost {

absl::Status HostCore::check_event_limits(const Event& event, bool sync) const {
  detail::EventRefusal refusal = detail::EventRefusal::kNone;
  absl::Status within = detail::check_event(event, options.limits, sync, &refusal);
  if (refusal == detail::EventRefusal::kPayloadTooLarge) {
    limit_counters_.payload_too_large.fetch_add(1, std::memory_order_relaxed);
  } else if (refusal == detail::EventRefusal::kAttributeTooLarge) {
    limit_counters_.attribute_too_large.fetch_add(1, std::memory_order_relaxed);
  }
  return within;
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

void HostCore::take_queue_budget_anyway(int64_t count, int64_t bytes) {
  if (queued_invocations_budget_.enabled()) queued_invocations_budget_.take_anyway(count);
  if (queued_bytes_budget_.enabled()) queued_bytes_budget_.take_anyway(bytes);
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
          .queued_bytes = queued_bytes_budget_.in_use(),
          .function_rate_limited = read(limit_counters_.function_rate_limited),
          .principal_rate_limited = read(limit_counters_.principal_rate_limited),
          .fanout_exceeded = read(limit_counters_.fanout_exceeded),
          .calls_per_invocation_exceeded = read(limit_counters_.calls_per_invocation_exceeded)};
}

}  // namespace fnhost
