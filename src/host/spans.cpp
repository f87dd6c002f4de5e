// SPDX-License-Identifier: Apache-2.0
// An invocation's span (HostOptions::tracing): its ids as it starts, from the traceparent its
// event carries or a new trace; and the traceparent the events it sends carry on — calls,
// publishes, destinations and retries — so a chain is one trace. The span itself is exported
// by an observer (observability/span_exporter.hpp) when the invocation ends.
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "common/random.hpp"
#include "fmt/format.h"
#include "host/host_core.hpp"

namespace fnhost {

using detail::Invocation;

namespace {

template <size_t N>
void fill_random_nonzero(std::array<uint8_t, N>& id) {
  do {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t bits = detail::thread_random_bits();
      std::memcpy(id.data() + i, &bits, std::min<size_t>(8, N - i));
    }
  } while (id == std::array<uint8_t, N>{});
}

// Sets extension `name` of `event` to `value`, or removes it when `value` is empty.
void set_extension(Event& event, std::string_view name, const std::string& value) {
  auto& extensions = event.extensions;
  for (auto it = extensions.begin(); it != extensions.end(); ++it) {
    if (it->first != name) continue;
    if (value.empty()) {
      extensions.erase(it);
    } else {
      it->second = value;
    }
    return;
  }
  if (!value.empty()) extensions.emplace_back(std::string(name), value);
}

}  // namespace

bool HostCore::sample_new_trace() const {
  const double ratio = options.tracing.sample_ratio;
  if (ratio >= 1.0) return true;
  if (ratio <= 0.0) return false;
  // 53 random bits as a double in [0, 1).
  return static_cast<double>(detail::thread_random_bits() >> 11) * 0x1.0p-53 < ratio;
}

void HostCore::begin_span(Invocation& invocation) const {
  if (invocation.span == nullptr) invocation.span = std::make_unique<InvocationSpan>();
  InvocationSpan& span = *invocation.span;
  span.parent_span_id = {};
  span.context.tracestate.clear();
  bool has_parent = false;
  if (invocation.event != nullptr) {
    if (const auto traceparent = invocation.event->extension("traceparent")) {
      absl::StatusOr<TraceContext> parent = parse_trace_context(
          *traceparent, invocation.event->extension("tracestate").value_or(std::string_view()));
      if (parent.ok()) {
        span.context = *std::move(parent);
        span.parent_span_id = span.context.span_id;
        // Only the flag this version knows is passed on.
        span.context.flags &= kTraceFlagSampled;
        has_parent = true;
      } else {
        telemetry_counters_.invalid_traceparents.fetch_add(1, std::memory_order_relaxed);
        if (options.log_sink != nullptr) {
          log(LogLevel::kWarning, invocation.slot->name, invocation_id(invocation),
              fmt::format("ignored the event's invalid traceparent (a new trace starts): {}",
                          parent.status().ToString()));
        }
      }
    }
  }
  invocation.traced = true;
  if (!has_parent) {
    // The ids of a new trace wait until something reads them (Invocation::traced_span).
    span.context.flags = sample_new_trace() ? kTraceFlagSampled : 0;
    invocation.span_ids.store(Invocation::kSpanIdsPending, std::memory_order_relaxed);
    return;
  }
  fill_random_nonzero(span.context.span_id);
}

void HostCore::inject_span(const Invocation& invocation, Event& event) const {
  if (!invocation.traced) return;
  const InvocationSpan& span = invocation.traced_span();
  set_extension(event, "traceparent", format_traceparent(span.context));
  set_extension(event, "tracestate", span.context.tracestate);
}

void HostCore::carry_span(const Invocation& invocation, std::string& data,
                          std::shared_ptr<const Event>& event) const {
  if (!invocation.traced) return;
  Event next = event != nullptr ? *event : Event::with_data(std::move(data));
  inject_span(invocation, next);
  data.clear();
  event = std::make_shared<const Event>(std::move(next));
}

namespace detail {

void Invocation::draw_span_ids() const {
  uint8_t expected = kSpanIdsPending;
  if (span_ids.compare_exchange_strong(expected, kSpanIdsDrawing, std::memory_order_acquire)) {
    fill_random_nonzero(span->context.trace_id);
    fill_random_nonzero(span->context.span_id);
    span_ids.store(kSpanIdsReady, std::memory_order_release);
    return;
  }
  // Another thread of the same invocation draws them: a few nanoseconds.
  while (span_ids.load(std::memory_order_acquire) != kSpanIdsReady) std::this_thread::yield();
}

}  // namespace detail
}  // namespace fnhost
