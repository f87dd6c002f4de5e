// SPDX-License-Identifier: Apache-2.0
// Admission: an invocation is counted into its function's queue only once it is admitted. One
// compare-and-swap on the function's state word checks shutdown, removal and max_queued and
// counts the invocation, so a refused call never touches the count (not even for a moment a
// runner or shutdown could see) and an admitted one is always seen by shutdown.
#include <memory>
#include <utility>

#include "delivery/idempotency.hpp"
#include "delivery/settlement.hpp"
#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/invocation_pool.hpp"
#include "host/messages.hpp"
#include "platform/platform.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::Invocation;
using detail::quoted;

absl::Status HostCore::admit(std::string_view name, Event&& event,
                             std::shared_ptr<detail::CompletionState> completion,
                             const detail::Lineage& lineage) {
  if (absl::Status within = check_event_limits(event, completion != nullptr); !within.ok()) {
    if (has_observers()) notify_refused(name, within, completion == nullptr);
    return within;
  }
  if (lineage.principal != nullptr) {
    absl::Status allowed =
        authorize_call(lineage.principal, Action::kInvoke, ResourceKind::kFunction, name);
    if (!allowed.ok()) {
      if (has_observers()) notify_refused(name, allowed, completion == nullptr);
      return allowed;
    }
  }
  if (!has_observers()) {
    return admit_unobserved(name, std::move(event), std::move(completion), lineage);
  }
  const bool is_async = completion == nullptr;
  absl::Status admitted = admit_unobserved(name, std::move(event), std::move(completion), lineage);
  if (!admitted.ok()) notify_refused(name, admitted, is_async);
  return admitted;
}

void HostCore::notify_refused(std::string_view name, const absl::Status& status,
                              bool is_async) const {
  detail::notify_observers(
      options.observers, &InvocationObserver::on_refused,
      RefusedInvocation{.function = name, .code = status.code(), .is_async = is_async},
      options.observers.size());
}

absl::Status HostCore::admit_unobserved(std::string_view name, Event&& event,
                                        std::shared_ptr<detail::CompletionState> completion,
                                        const detail::Lineage& lineage) {
  if (name.empty()) return absl::InvalidArgumentError("function name must not be empty");
  FunctionSlot* slot = table_.find(name);
  if (slot == nullptr) return detail::not_registered(name);
  Admission admission{.owned = &event, .completion = std::move(completion), .lineage = lineage};
  return admit_to(*slot, admission);  // checks it is registered
}

absl::StatusOr<FunctionSlot*> HostCore::registered_slot(std::string_view name) const {
  FunctionSlot* slot = table_.find(name);
  if (slot == nullptr || slot->live_version.load() == 0) return detail::not_registered(name);
  return slot;
}

absl::Status HostCore::admit_shared(FunctionSlot& slot, const std::shared_ptr<const Event>& event,
                                    const detail::Lineage& lineage, bool* throttled) {
  Admission admission{.shared = &event, .lineage = lineage};
  return admit_or_wait(slot, admission, throttled);
}

absl::Status HostCore::admit_or_wait(FunctionSlot& slot, Admission& admission, bool* throttled) {
  if (throttled != nullptr) *throttled = false;
  admission.keeps_key_when_full = true;
  absl::Status admitted = admit_to(slot, admission);
  if (admitted.ok()) return admitted;
  if (has_observers()) notify_refused(slot.name, admitted, /*is_async=*/true);
  if (admitted.code() != absl::StatusCode::kResourceExhausted) return admitted;
  // Accepted already: a full queue is a throttle, not a refusal.
  std::string data;
  std::shared_ptr<const Event> event;
  if (admission.shared != nullptr) {
    event = *admission.shared;
  } else if (admission.data != nullptr) {
    data = std::move(*admission.data);
  } else if (admission.owned->carries_only_data()) {
    data = std::move(admission.owned->data);
  } else {
    event = detail::make_shared_event(std::move(*admission.owned));
  }
  requeue_throttled(slot, std::move(data), std::move(event), std::move(admission.batch),
                    admission.lineage, std::move(admitted), admission.on_end,
                    admission.on_end_context);
  if (throttled != nullptr) *throttled = true;
  return absl::OkStatus();
}

absl::Status HostCore::claim_idempotency_key(FunctionSlot& slot, const Event& event,
                                             Admission& admission, bool* answered) {
  *answered = false;
  const std::string& key = event.idempotency_key;
  if (key.size() > detail::IdempotencyTable::kMaxKeyBytes) {
    return absl::InvalidArgumentError(
        fmt::format("event for function {}: idempotency_key must be at most {} bytes, got {}",
                    quoted(slot.name), detail::IdempotencyTable::kMaxKeyBytes, key.size()));
  }
  if (slot.idempotency_window_ns.load(std::memory_order_relaxed) <= 0) return absl::OkStatus();
  const bool may_settle_later = admission.completion == nullptr && admission.shared != nullptr;
  detail::IdempotencyTable::Outcome outcome = slot.idempotency_table().claim(
      key, now_ns(), admission.completion, may_settle_later ? admission.shared : nullptr);
  admission.settles_with_owner = outcome.settles_with_owner;
  switch (outcome.claim) {
    case detail::IdempotencyTable::Claim::kOwner:
      admission.lineage.owns_key = true;
      return absl::OkStatus();
    case detail::IdempotencyTable::Claim::kFull:
      return absl::ResourceExhaustedError(fmt::format(
          "function {}: {} events with idempotency keys are in flight, the most one function "
          "tracks; retry later",
          quoted(slot.name), detail::IdempotencyTable::kMaxRecords));
    case detail::IdempotencyTable::Claim::kDone:
      if (admission.completion != nullptr)
        admission.completion->complete(std::move(outcome.result));
      break;
    case detail::IdempotencyTable::Claim::kRunning:
      break;  // a synchronous caller was added as a waiter
  }
  slot.duplicates.fetch_add(1, std::memory_order_relaxed);
  *answered = true;
  return absl::OkStatus();
}

absl::Status HostCore::admit_to(FunctionSlot& slot, Admission& admission) {
  const std::string_view name = slot.name;
  // A trigger or schedule holds the slot of a function that may have been removed since.
  if (slot.live_version.load() == 0) return detail::not_registered(name);
  detail::Lineage& lineage = admission.lineage;
  if (lineage.chain_depth > options.max_chain_depth) {
    return absl::FailedPreconditionError(fmt::format(
        "invocation of {} refused: chain depth {} exceeds max_chain_depth {} (does a handler "
        "call itself, or a destination lead back to its function?)",
        quoted(name), lineage.chain_depth, options.max_chain_depth));
  }
  // Data-only events (the common case) carry no key: one branch decides.
  const Event* attributes = admission.shared != nullptr ? admission.shared->get()
                            : admission.owned != nullptr && !admission.owned->carries_only_data()
                                ? admission.owned
                                : nullptr;
  if (attributes != nullptr && lineage.fresh && !lineage.owns_key &&
      !attributes->idempotency_key.empty()) {
    absl::Status claimed =
        claim_idempotency_key(slot, *attributes, admission, &admission.duplicate);
    if (!claimed.ok()) return claimed;
    if (admission.duplicate) {
      // Answered without running: a tracked event settles as a success now, or (the first
      // still running) as the first does.
      if (admission.shared != nullptr && admission.completion == nullptr &&
          !admission.settles_with_owner) {
        detail::report_settled(*admission.shared, Settlement::kSucceeded, absl::OkStatus(), 0);
      }
      return claimed;
    }
  }
  // A capacity refusal before the count: the key claimed above is given up, unless the caller
  // re-queues the event (it keeps the key while it waits).
  const auto refuse_for_capacity = [&](absl::Status refusal) {
    if (lineage.owns_key && !admission.keeps_key_when_full && lineage.fresh) {
      slot.idempotency_table().fail(attributes->idempotency_key, refusal);
      lineage.owns_key = false;
    }
    return refusal;
  };
  if (slot.rate_gate.limited()) {
    if (const int64_t wait_ns = slot.rate_gate.try_take(now_ns()); wait_ns != 0) {
      slot.throttles.fetch_add(1, std::memory_order_relaxed);
      slot.rate_limited.fetch_add(1, std::memory_order_relaxed);
      limit_counters_.function_rate_limited.fetch_add(1, std::memory_order_relaxed);
      return refuse_for_capacity(detail::rate_limited_error(
          fmt::format("function {}: over its rate_limit; retry after {}", quoted(name),
                      absl::FormatDuration(absl::Nanoseconds(wait_ns))),
          wait_ns));
    }
  }
  // The host-wide bounds, before the function's own (given back if that refuses). An event
  // accepted before (a retry, a throttled or ordered delivery, a batch) was counted while it
  // waited and is counted again here even past a bound: refusing it could only make it wait
  // again, and events that hold the count could then never get back in. New work is refused
  // meanwhile.
  int64_t bytes = 0;
  if (queued_invocations_budget_.enabled() || queued_bytes_budget_.enabled()) {
    bytes = admission.shared != nullptr ? budget_bytes(**admission.shared)
            : admission.data != nullptr ? budget_bytes(*admission.data)
                                        : budget_bytes(*admission.owned);
    if (!lineage.fresh) {
      take_queue_budget_anyway(1, bytes);
    } else if (absl::Status room = take_queue_budget(bytes); !room.ok()) {
      return refuse_for_capacity(std::move(room));
    }
  }
  const int max_queued = slot.max_queued.load(std::memory_order_relaxed);
  const int64_t queue_bound =
      max_queued > 0 ? max_queued : static_cast<int64_t>(FunctionSlot::kQueuedMask);
  // The record is taken (often a cache miss: a worker freed it) and the clock read before the
  // invocation is counted: from the count on, runners may be spinning for the record to reach
  // the queue (take_claimed), so only the moves of what the caller handed over lie between.
  Invocation* invocation = detail::InvocationPool::acquire();
  invocation->begin_admission();
  invocation->slot = &slot;
  invocation->queued_bytes = bytes;
  invocation->is_async = admission.completion == nullptr;
  invocation->on_end = admission.on_end;
  invocation->on_end_context = admission.on_end_context;
  if (observes_runs_) {
    // Whether its records are kept is decided here: one that will be dropped needs no admission
    // time, and the clock read is most of what observability costs the admitting thread.
    invocation->keeps_records = queues_telemetry_ && telemetry_->has_room();
    invocation->admitted_ns = has_observers() || invocation->keeps_records ? now_ns() : 0;
  }
  uint64_t word = slot.state.load();
  bool into_empty_queue = false;
  absl::Status refused;
  for (;;) {
    if (FunctionSlot::is_closed(word)) {
      refused = detail::unavailable_after_shutdown(fmt::format("invocation of {}", quoted(name)));
      break;
    }
    if (FunctionSlot::is_removed(word)) {
      refused = detail::not_registered(name);
      break;
    }
    const int64_t ahead = FunctionSlot::queued_of(word);
    if (ahead >= queue_bound) {
      slot.throttles.fetch_add(1, std::memory_order_relaxed);
      refused = absl::ResourceExhaustedError(
          max_queued > 0
              ? fmt::format("function {}: queue full ({} invocations waiting, max_queued = {}); "
                            "retry later",
                            quoted(name), ahead, max_queued)
              : fmt::format("function {}: queue full ({} invocations waiting, the most one "
                            "function can hold); retry later",
                            quoted(name), ahead));
      break;
    }
    if (slot.state.compare_exchange_weak(word, word + 1)) {
      into_empty_queue = ahead == 0;
      break;
    }
  }
  if (!refused.ok()) {
    invocation->on_end = nullptr;  // never accepted: nothing ends
    detail::InvocationPool::recycle(invocation);
    if (queued_invocations_budget_.enabled() || queued_bytes_budget_.enabled()) {
      give_back_queue_budget(1, bytes);
    }
    const bool keep_key =
        admission.keeps_key_when_full && refused.code() == absl::StatusCode::kResourceExhausted;
    if (lineage.owns_key && !keep_key && lineage.fresh) {
      slot.idempotency_table().fail(attributes->idempotency_key, refused);
      lineage.owns_key = false;
    }
    return refused;
  }
  // Counted: from here the invocation is accepted and must reach the queue (claimers of this
  // count wait for it).
  // Numbered at once: the count's line was just taken by the compare-and-swap above, while
  // the record's lines are still on their way (a worker freed it); a locked add after the
  // stores below would wait for all of them. Counted before the counters FunctionStats
  // subtracts from it (and which it reads first), so a racing reader may see an event accepted
  // a moment early but never pending too few.
  invocation->sequence =
      static_cast<uint64_t>(slot.invocations.fetch_add(1, std::memory_order_relaxed) + 1);
  if (admission.shared != nullptr) {
    invocation->event = *admission.shared;
  } else if (admission.data != nullptr) {
    invocation->data = std::move(*admission.data);
  } else if (attributes == nullptr) {
    invocation->data = std::move(admission.owned->data);
  } else {
    invocation->event = detail::make_shared_event(std::move(*admission.owned));
  }
  invocation->batch = std::move(admission.batch);
  invocation->completion = std::move(admission.completion);
  if (lineage.fresh) {
    lineage.fresh = false;
    // A publish stamps its time once for all its deliveries.
    if (lineage.accepted_ns == 0) lineage.accepted_ns = coarse_now_ns();
    if (!invocation->is_async) slot.sync_invocations.fetch_add(1, std::memory_order_release);
  } else {
    slot.readmissions.fetch_add(1, std::memory_order_release);
  }
  invocation->lineage = lineage;
  if (into_empty_queue) slot.head_accepted_ns.store(lineage.accepted_ns, std::memory_order_relaxed);
  if (has_observers()) {
    // Before it is queued: a runner may start (and end) it at once.
    detail::notify_observers(options.observers, &InvocationObserver::on_admitted,
                             AdmittedInvocation{.function = slot.name,
                                                .number = invocation->sequence,
                                                .is_async = invocation->is_async},
                             options.observers.size());
  }
  slot.queue.enqueue(invocation);
  schedule(slot);
  return absl::OkStatus();
}

absl::Status HostCore::invoke_async_settled(std::string_view name, Event&& event,
                                            SettledCallback on_settled,
                                            const detail::Lineage& lineage) {
  if (on_settled == nullptr) return admit(name, std::move(event), nullptr, lineage);
  if (name.empty()) return absl::InvalidArgumentError("function name must not be empty");
  // The same checks, in the same order, as admit(): a principal denied learns nothing of
  // whether the function exists.
  absl::Status admitted = check_event_limits(event, /*sync=*/false);
  if (admitted.ok()) {
    admitted = authorize_call(lineage.principal, Action::kInvoke, ResourceKind::kFunction, name);
  }
  FunctionSlot* slot = admitted.ok() ? table_.find(name) : nullptr;
  if (admitted.ok() && slot == nullptr) admitted = detail::not_registered(name);
  if (admitted.ok()) {
    auto tracker = std::make_shared<detail::SettleTracker>(std::move(on_settled));
    tracker->add_delivery();
    // Held until after release_hold(): the event's release settles what never reported.
    const std::shared_ptr<const Event> shared =
        detail::make_tracked_event(std::move(event), tracker);
    Admission admission{.shared = &shared, .lineage = lineage};
    admitted = admit_to(*slot, admission);
    if (!admitted.ok()) tracker->disarm();
    tracker->release_hold();
  }
  if (!admitted.ok() && has_observers()) notify_refused(name, admitted, /*is_async=*/true);
  return admitted;
}

Completion HostCore::invoke(std::string_view name, Event&& event, const detail::Lineage& lineage) {
  auto state = std::make_shared<detail::CompletionState>();
  absl::Status admitted = admit(name, std::move(event), state, lineage);
  if (!admitted.ok()) return Completion::ready(std::move(admitted));
  return Completion(std::move(state));
}

}  // namespace fnhost
