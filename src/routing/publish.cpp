// SPDX-License-Identifier: Apache-2.0
// The router's side of the host: subscribe, unsubscribe and publish. Publishing looks the
// topic up once; each matching trigger already knows its function's slot, so the fan-out costs
// one admission per subscriber and no lookups, and every subscriber shares one Event.
#include <memory>
#include <utility>

#include "delivery/settlement.hpp"
#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/invocation_pool.hpp"
#include "host/messages.hpp"
#include "platform/deadline.hpp"
#include "routing/topic.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::MutexLock;
using detail::quoted;

absl::StatusOr<TriggerId> HostCore::subscribe(TriggerSpec spec, const detail::Principal* owner) {
  if (!accepting_.load()) return detail::unavailable_after_shutdown("subscribe");
  if (spec.function.empty()) {
    return absl::InvalidArgumentError("TriggerSpec: function must name a registered function");
  }
  absl::StatusOr<FunctionSlot*> slot = registered_slot(spec.function);
  if (!slot.ok()) return slot.status();
  detail::Batcher* batcher = nullptr;
  if (spec.batch_size < 0 || spec.batch_size > 10'000) {
    return absl::InvalidArgumentError(
        fmt::format("TriggerSpec for function {}: batch_size must be in 0..10000, got {}",
                    quoted(spec.function), spec.batch_size));
  }
  if (spec.batch_size >= 2) {
    if (spec.batch_window < absl::Milliseconds(1) || spec.batch_window > absl::Minutes(5)) {
      return absl::InvalidArgumentError(
          fmt::format("TriggerSpec for function {}: batch_window must be in 1ms..5m, got {}",
                      quoted(spec.function), absl::FormatDuration(spec.batch_window)));
    }
    if (!spec.ordering_key.empty()) {
      return absl::InvalidArgumentError(
          fmt::format("TriggerSpec for function {}: a batch trigger cannot have an ordering_key",
                      quoted(spec.function)));
    }
    auto fresh = std::make_unique<detail::Batcher>(timers_, *slot, spec.batch_size,
                                                   detail::saturated_ns(spec.batch_window),
                                                   &HostCore::on_batch_window);
    batcher = fresh.get();
    batcher->owner = owner;
    MutexLock lock(batchers_mu_);
    batchers_.push_back(std::move(fresh));
  }
  absl::StatusOr<TriggerId> id = router_.add(std::move(spec.pattern), std::move(spec.filter), *slot,
                                             std::move(spec.ordering_key), batcher, owner);
  if (!id.ok()) {
    return absl::Status(id.status().code(),
                        fmt::format("TriggerSpec for function {}: {}", quoted(spec.function),
                                    detail::std_view(id.status().message())));
  }
  return id;
}

absl::Status HostCore::unsubscribe(TriggerId id) {
  if (remove_schedule(id)) return absl::OkStatus();
  detail::Batcher* batcher = nullptr;
  absl::Status removed = router_.remove(id, &batcher);
  // What it collected was accepted: flushed now, as one last batch.
  if (removed.ok() && batcher != nullptr) {
    if (std::shared_ptr<detail::BatchItems> items = batcher->close()) {
      flush_batch(*batcher, std::move(items));
    }
  }
  if (removed.code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(fmt::format("no trigger or schedule has id {}", id));
  }
  return removed;
}

absl::StatusOr<std::string> HostCore::function_of_trigger(TriggerId id) const {
  {
    MutexLock lock(schedules_mu_);
    auto it = schedules_.find(id);
    if (it != schedules_.end()) return it->second->function_name;
  }
  absl::StatusOr<std::string> function = router_.function_of(id);
  if (!function.ok()) {
    return absl::NotFoundError(fmt::format("no trigger or schedule has id {}", id));
  }
  return function;
}

absl::Status HostCore::set_unrouted_function(std::string_view name) {
  if (name.empty()) {
    unrouted_slot_.store(nullptr);
    return absl::OkStatus();
  }
  absl::StatusOr<FunctionSlot*> slot = registered_slot(name);
  if (!slot.ok()) return slot.status();
  unrouted_slot_.store(*slot);
  return absl::OkStatus();
}

absl::Status HostCore::publish(Event&& event, const detail::Lineage& lineage,
                               SettledCallback on_settled) {
  if (absl::Status valid = detail::validate_topic(event.topic); !valid.ok()) return valid;
  if (absl::Status within = check_event_limits(event, /*sync=*/false); !within.ok()) return within;
  if (lineage.principal != nullptr) {
    absl::Status allowed =
        authorize_call(lineage.principal, Action::kPublish, ResourceKind::kTopic, event.topic);
    if (!allowed.ok()) return allowed;
  }
  if (!accepting_.load()) {
    return detail::unavailable_after_shutdown(
        fmt::format("event for topic {}", quoted(event.topic)));
  }
  if (lineage.chain_depth > options.max_chain_depth) {
    return absl::FailedPreconditionError(fmt::format(
        "publish to topic {} refused: chain depth {} exceeds max_chain_depth {} (does a "
        "handler publish to a topic that triggers it again?)",
        quoted(event.topic), lineage.chain_depth, options.max_chain_depth));
  }
  // A full host refuses the event rather than accept deliveries that could only wait.
  if (queued_invocations_budget_.enabled() || queued_bytes_budget_.enabled()) {
    if (absl::Status room = check_queue_room(budget_bytes(event)); !room.ok()) {
      return room;
    }
  }
  // With a callback, every delivery shares a tracked copy of the event; `shared` outlives the
  // tracker's hold, which `settling` releases (or disarms, for a refusal) as this returns.
  std::shared_ptr<detail::SettleTracker> tracker;
  if (on_settled != nullptr)
    tracker = std::make_shared<detail::SettleTracker>(std::move(on_settled));
  std::shared_ptr<const Event> shared;
  const auto share = [&] {
    if (shared == nullptr) {
      shared = tracker != nullptr ? detail::make_tracked_event(std::move(event), tracker)
                                  : detail::make_shared_event(std::move(event));
    }
    return shared;
  };
  struct HoldRelease {
    detail::SettleTracker* tracker;
    bool refused = false;
    ~HoldRelease() {
      if (tracker == nullptr) return;
      if (refused) tracker->disarm();
      tracker->release_hold();
    }
  } settling{tracker.get()};
  const auto add_delivery = [&] {
    if (tracker != nullptr) tracker->add_delivery();
  };
  const auto withdraw_delivery = [&] {
    if (tracker != nullptr) tracker->withdraw_delivery();
  };
  detail::Matches matches;
  // Unsubscribe waits for this publish's deliveries, so the triggers need no references.
  const std::shared_lock<std::shared_mutex> triggers_held = router_.match(event, matches);
  if (options.limits.max_fanout > 0 &&
      static_cast<int64_t>(matches.size()) > options.limits.max_fanout) {
    limit_counters_.fanout_exceeded.fetch_add(1, std::memory_order_relaxed);
    settling.refused = true;
    return absl::ResourceExhaustedError(fmt::format(
        "publish to topic {} refused: it matches {} triggers, more than HostLimits::max_fanout "
        "({}); nothing was delivered",
        quoted(event.topic), matches.size(), options.limits.max_fanout));
  }
  bool throttled = false;
  // Accepted now, for every subscriber: one clock read, not one per delivery.
  detail::Lineage accepted = lineage;
  if (accepted.fresh) accepted.accepted_ns = coarse_now_ns();
  if (matches.empty()) {
    accepted.principal = nullptr;  // the catch-all is the host's
    publish_counters_.published.fetch_add(1, std::memory_order_relaxed);
    publish_counters_.unrouted.fetch_add(1, std::memory_order_relaxed);
    FunctionSlot* catch_all = unrouted_slot_.load();
    if (catch_all == nullptr) return absl::OkStatus();
    add_delivery();
    if (admit_shared(*catch_all, share(), accepted, &throttled).ok()) {
      publish_counters_.catch_all.fetch_add(1, std::memory_order_relaxed);
      if (throttled) publish_counters_.throttled.fetch_add(1, std::memory_order_relaxed);
    } else {
      withdraw_delivery();
      publish_counters_.refused.fetch_add(1, std::memory_order_relaxed);
    }
    return absl::OkStatus();
  }
  share();
  int64_t delivered = 0;
  int64_t refused = 0;
  int64_t waited = 0;
  absl::Status shut_down;
  for (detail::Trigger* trigger : matches) {
    throttled = false;
    // A delivery runs as its trigger's owner, not as the publisher.
    accepted.principal = trigger->owner;
    add_delivery();
    absl::Status admitted =
        trigger->ordering != nullptr  ? deliver_ordered(*trigger, shared, accepted, &throttled)
        : trigger->batcher != nullptr ? deliver_batched(*trigger, shared)
                                      : admit_shared(*trigger->slot, shared, accepted, &throttled);
    if (admitted.ok()) {
      trigger->delivered.fetch_add(1, std::memory_order_relaxed);
      ++delivered;
      if (throttled) {
        trigger->throttled.fetch_add(1, std::memory_order_relaxed);
        ++waited;
      }
    } else {
      withdraw_delivery();
      trigger->refused.fetch_add(1, std::memory_order_relaxed);
      ++refused;
      if (admitted.code() == absl::StatusCode::kUnavailable) shut_down = std::move(admitted);
    }
  }
  if (refused != 0) publish_counters_.refused.fetch_add(refused, std::memory_order_relaxed);
  if (waited != 0) publish_counters_.throttled.fetch_add(waited, std::memory_order_relaxed);
  // Shutdown closed every subscriber before any took the event: the event was not accepted.
  if (delivered == 0 && !shut_down.ok()) {
    settling.refused = true;
    return shut_down;
  }
  publish_counters_.published.fetch_add(1, std::memory_order_relaxed);
  publish_counters_.routed.fetch_add(1, std::memory_order_relaxed);
  publish_counters_.deliveries.fetch_add(delivered, std::memory_order_relaxed);
  return absl::OkStatus();
}

RouterStats HostCore::router_stats() const {
  const auto read = [](const std::atomic<int64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  return {.published = read(publish_counters_.published),
          .routed = read(publish_counters_.routed),
          .unrouted = read(publish_counters_.unrouted),
          .catch_all = read(publish_counters_.catch_all),
          .deliveries = read(publish_counters_.deliveries),
          .refused = read(publish_counters_.refused),
          .throttled = read(publish_counters_.throttled),
          .triggers = router_.size()};
}

}  // namespace fnhost
