// SPDX-License-Identifier: Apache-2.0
// Batch triggers: a trigger's events are collected (routing/batcher.hpp) and flushed as one
// invocation whose Context::batch() holds them. Each collected event is an accepted event of
// the function; the batch's end settles each (delivery/outcomes.cpp, settle_batch).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/invocation_pool.hpp"
#include "host/messages.hpp"
#include "routing/batcher.hpp"

namespace fnhost {

using detail::Batcher;
using detail::BatchItems;
using detail::FunctionSlot;
using detail::MutexLock;

absl::Status HostCore::deliver_batched(detail::Trigger& trigger,
                                       const std::shared_ptr<const Event>& event) {
  Batcher& batcher = *trigger.batcher;
  FunctionSlot& slot = batcher.slot();
  if (slot.live_version.load() == 0) return detail::not_registered(slot.name);
  // Counted before a flush can admit (and count) its batch.
  slot.accepted_waiting.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<BatchItems> full;
  if (!batcher.add(event, &full)) {
    slot.accepted_waiting.fetch_sub(1, std::memory_order_relaxed);
    // Closed by unsubscribe (a publish that matched it just before) or by shutdown.
    return absl::UnavailableError(
        fmt::format("batch trigger {} of function {} was unsubscribed or stopped: event not taken",
                    trigger.id, detail::quoted(slot.name)));
  }
  if (full != nullptr) flush_batch(batcher, std::move(full));
  return absl::OkStatus();
}

void HostCore::flush_batch(Batcher& batcher, std::shared_ptr<BatchItems> items) {
  FunctionSlot& slot = batcher.slot();
  const std::shared_ptr<const Event> summary =
      detail::make_shared_event(Event{.type = "fnhost.batch",
                                      .topic = items->front()->topic,
                                      .data = std::to_string(items->size())});
  // Accepted already (each item when it was collected): admitted as a re-admission.
  detail::Lineage lineage{
      .accepted_ns = coarse_now_ns(), .fresh = false, .principal = batcher.owner};
  Admission admission{.shared = &summary, .lineage = lineage, .batch = std::move(items)};
  const std::shared_ptr<const BatchItems> kept = admission.batch;
  // Counted before the hand-over: whoever sees the batch's handler run sees it counted.
  batcher.batches.fetch_add(1, std::memory_order_relaxed);
  absl::Status admitted = admit_or_wait(slot, admission);
  if (admitted.ok()) return;
  // Its function was removed, or shutdown closed it: every item ends here.
  dead_letter_each(slot, {}, nullptr, kept.get(), lineage, 0, admitted, /*last_attempt_ns=*/0, {});
}

void HostCore::on_batch_window(detail::TimerNode* node) {
  auto& batcher = *static_cast<Batcher*>(node);
  batcher.fired();
  HostCore& host = *batcher.slot().host;
  // On the timer thread: the flush (admission, observers) runs on the executor.
  host.run_off_timer([&host, &batcher] {
    if (std::shared_ptr<BatchItems> items = batcher.take()) {
      host.flush_batch(batcher, std::move(items));
    }
  });
}

std::vector<Batcher*> HostCore::all_batchers() {
  // Batchers live as long as the host: the pointers stay valid outside the lock, where the
  // flushes run (admission runs observers, which may subscribe).
  std::vector<Batcher*> batchers;
  MutexLock lock(batchers_mu_);
  for (const std::unique_ptr<Batcher>& batcher : batchers_) batchers.push_back(batcher.get());
  return batchers;
}

void HostCore::flush_batches() {
  for (Batcher* batcher : all_batchers()) {
    if (std::shared_ptr<BatchItems> items = batcher->take())
      flush_batch(*batcher, std::move(items));
  }
}

void HostCore::stop_batches() {
  for (Batcher* batcher : all_batchers()) {
    // Closed slots refuse the flush: its items are dead-lettered.
    if (std::shared_ptr<BatchItems> items = batcher->close())
      flush_batch(*batcher, std::move(items));
  }
}

}  // namespace fnhost
