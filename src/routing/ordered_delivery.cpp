// SPDX-License-Identifier: Apache-2.0
// Delivering events of a trigger with an ordering key: one event per key in flight, the others
// waiting in their key's group (see routing/ordering.hpp); each event's end admits the next.
#include <memory>
#include <utility>

#include "host/host_core.hpp"
#include "host/messages.hpp"
#include "routing/ordering.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::Lineage;
using detail::OrderingGroup;
using detail::OrderingTable;

absl::Status HostCore::deliver_ordered(detail::Trigger& trigger,
                                       const std::shared_ptr<const Event>& event,
                                       const Lineage& lineage, bool* throttled) {
  *throttled = false;
  OrderingTable& table = *trigger.ordering;
  const std::optional<std::string_view> key = table.key_of(*event);
  if (!key) return admit_shared(*trigger.slot, event, lineage, throttled);
  FunctionSlot& slot = *trigger.slot;
  if (slot.live_version.load() == 0) return detail::not_registered(slot.name);
  Lineage accepted = lineage;
  // An idempotency key is checked as the event is accepted, not when it leaves its queue.
  if (!event->idempotency_key.empty()) {
    Admission probe{.shared = &event, .lineage = accepted};
    bool answered = false;
    absl::Status claimed = claim_idempotency_key(slot, *event, probe, &answered);
    if (!claimed.ok() || answered) return claimed;
    accepted.owns_key = probe.lineage.owns_key;
  }
  Lineage waiting = accepted;
  waiting.fresh = false;
  if (waiting.accepted_ns == 0) waiting.accepted_ns = coarse_now_ns();  // publish stamps it
  // Counted before it can be taken out and admitted (which counts it as a re-admission); and
  // against the host's queue bounds while it waits (advance_ordered gives that back), so a
  // flood of one key cannot grow the process without bound.
  slot.accepted_waiting.fetch_add(1, std::memory_order_relaxed);
  const int64_t bytes = budget_bytes(*event);
  take_queue_budget_anyway(1, bytes);
  bool first = false;
  OrderingGroup* group = table.enter(*key, event, waiting, &first);
  if (!first) return absl::OkStatus();
  give_back_queue_budget(1, bytes);
  slot.accepted_waiting.fetch_sub(1, std::memory_order_relaxed);
  Admission admission{.shared = &event,
                      .on_end = &HostCore::on_ordered_end,
                      .on_end_context = group,
                      .lineage = accepted};
  absl::Status admitted = admit_or_wait(slot, admission, throttled);
  // Not taken: the key's next event (one may have arrived meanwhile) goes now.
  if (!admitted.ok()) advance_ordered(group);
  return admitted;
}

void HostCore::on_ordered_end(void* context) {
  auto* group = static_cast<OrderingGroup*>(context);
  HostCore& host = group->table->host();
  // Admission runs observers (user code): never on the timer thread.
  if (detail::TimerService::in_callback()) {
    host.run_off_timer([&host, group] { host.advance_ordered(group); });
  } else {
    host.advance_ordered(group);
  }
}

void HostCore::advance_ordered(OrderingGroup* group) {
  // The group may be deleted by next(): keep its table (and through it the slot) here.
  const std::shared_ptr<OrderingTable> table = group->table;
  FunctionSlot& slot = table->slot();
  std::shared_ptr<const Event> event;
  Lineage lineage;
  while (table->next(group, event, lineage)) {
    give_back_queue_budget(1, budget_bytes(*event));
    Admission admission{.shared = &event,
                        .on_end = &HostCore::on_ordered_end,
                        .on_end_context = group,
                        .lineage = lineage};
    absl::Status admitted = admit_or_wait(slot, admission);
    if (admitted.ok()) return;  // its end continues the chain
    // Accepted, then refused (its function removed, or shutting down): it ends here.
    dead_letter(slot, {}, std::move(event), lineage, 0, admitted, /*last_attempt_ns=*/0);
  }
}

}  // namespace fnhost
