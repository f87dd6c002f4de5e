// SPDX-License-Identifier: Apache-2.0
// Admission: an invocation is counted into its function's queue only once it is admitted. One
// compare-and-swap on the function's state word checks shutdown, removal and max_queued and
// counts the invocation, so a refused call never touches the count (not even for a moment a
// runner or shutdown could see) and an admitted one is always seen by shutdown.
#include <memory>
#include <utility>

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
                             std::shared_ptr<detail::CompletionState> completion) {
  if (!has_observers()) return admit_unobserved(name, std::move(event), std::move(completion));
  const bool is_async = completion == nullptr;
  absl::Status admitted = admit_unobserved(name, std::move(event), std::move(completion));
  if (!admitted.ok()) notify_refused(name, admitted, is_async);
  return admitted;
}

void HostCore::notify_refused(std::string_view name, const absl::Status& status,
                              bool is_async) const {
  detail::notify_observers(
      options.observers, &InvocationObserver::on_refused,
      RefusedInvocation{.function = name, .code = status.code(), .is_async = is_async});
}

absl::Status HostCore::admit_unobserved(std::string_view name, Event&& event,
                                        std::shared_ptr<detail::CompletionState> completion) {
  if (name.empty()) return absl::InvalidArgumentError("function name must not be empty");
  FunctionSlot* slot = table_.find(name);
  if (slot == nullptr) return detail::not_registered(name);
  return admit_to(*slot, &event, nullptr, std::move(completion));  // checks it is registered
}

absl::StatusOr<FunctionSlot*> HostCore::registered_slot(std::string_view name) const {
  FunctionSlot* slot = table_.find(name);
  if (slot == nullptr || slot->live_version.load() == 0) return detail::not_registered(name);
  return slot;
}

absl::Status HostCore::admit_shared(FunctionSlot& slot, const std::shared_ptr<const Event>& event) {
  absl::Status admitted = admit_to(slot, nullptr, &event, nullptr);
  if (!admitted.ok() && has_observers()) notify_refused(slot.name, admitted, /*is_async=*/true);
  return admitted;
}

absl::Status HostCore::admit_to(FunctionSlot& slot, Event* owned,
                                const std::shared_ptr<const Event>* shared,
                                std::shared_ptr<detail::CompletionState> completion,
                                void (*on_end)(void*), void* on_end_context) {
  const std::string_view name = slot.name;
  // A trigger or schedule holds the slot of a function that may have been removed since.
  if (slot.live_version.load() == 0) return detail::not_registered(name);
  const int max_queued = slot.max_queued.load(std::memory_order_relaxed);
  const int64_t queue_bound =
      max_queued > 0 ? max_queued : static_cast<int64_t>(FunctionSlot::kQueuedMask);
  uint64_t word = slot.state.load();
  for (;;) {
    if (FunctionSlot::is_closed(word)) {
      return detail::unavailable_after_shutdown(fmt::format("invocation of {}", quoted(name)));
    }
    if (FunctionSlot::is_removed(word)) return detail::not_registered(name);
    const int64_t ahead = FunctionSlot::queued_of(word);
    if (ahead >= queue_bound) {
      slot.throttles.fetch_add(1, std::memory_order_relaxed);
      return absl::ResourceExhaustedError(
          max_queued > 0
              ? fmt::format("function {}: queue full ({} invocations waiting, max_queued = {}); "
                            "retry later",
                            quoted(name), ahead, max_queued)
              : fmt::format("function {}: queue full ({} invocations waiting, the most one "
                            "function can hold); retry later",
                            quoted(name), ahead));
    }
    if (slot.state.compare_exchange_weak(word, word + 1)) break;
  }
  // Counted: from here the invocation is accepted and must reach the queue (claimers of this
  // count wait for it).
  Invocation* invocation = detail::InvocationPool::acquire();
  invocation->begin_admission();
  invocation->slot = &slot;
  if (shared != nullptr) {
    invocation->event = *shared;
  } else if (owned->carries_only_data()) {
    invocation->data = std::move(owned->data);
  } else {
    invocation->event = std::make_shared<const Event>(std::move(*owned));
  }
  invocation->is_async = completion == nullptr;
  invocation->completion = std::move(completion);
  invocation->on_end = on_end;
  invocation->on_end_context = on_end_context;
  invocation->sequence =
      static_cast<uint64_t>(slot.invocations.fetch_add(1, std::memory_order_relaxed) + 1);
  if (has_observers()) {
    invocation->admitted_ns = now_ns();
    // Before it is queued: a runner may start (and end) it at once.
    detail::notify_observers(options.observers, &InvocationObserver::on_admitted,
                             AdmittedInvocation{.function = slot.name,
                                                .number = invocation->sequence,
                                                .is_async = invocation->is_async});
  }
  slot.queue.enqueue(invocation);
  schedule(slot);
  return absl::OkStatus();
}

Completion HostCore::invoke(std::string_view name, Event&& event) {
  auto state = std::make_shared<detail::CompletionState>();
  absl::Status admitted = admit(name, std::move(event), state);
  if (!admitted.ok()) return Completion::ready(std::move(admitted));
  return Completion(std::move(state));
}

}  // namespace fnhost
