// SPDX-License-Identifier: Apache-2.0
// Shutdown: stop admitting, dead-letter the events waiting for a retry, drain until the
// deadline, then account for everything still there — queued or claimed but not started
// (dropped; asynchronous ones are dead-lettered), or running (unfinished) — so the report is
// exact and final when shutdown() returns.
#include <algorithm>
#include <chrono>
#include <vector>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/invocation_pool.hpp"
#include "platform/deadline.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::Invocation;
using detail::MutexLock;

void HostCore::note_finished() {
  MutexLock lock(drain_mu_);
  drain_cv_.notify_all();
}

int64_t HostCore::outstanding() const {
  int64_t count = 0;
  MutexLock lock(registration_mu_);
  for (const auto& slot : table_.slots()) {
    const uint64_t word = slot->state.load();
    count += FunctionSlot::queued_of(word) + FunctionSlot::running_of(word);
  }
  return count;
}

int64_t HostCore::finished_total() const {
  int64_t count = 0;
  MutexLock lock(registration_mu_);
  for (const auto& slot : table_.slots()) {
    count += slot->sync_successes.load() + slot->events_succeeded.load() + slot->errors.load() +
             slot->timeouts.load();
  }
  return count;
}

namespace {
absl::Status not_started_at_shutdown(const FunctionSlot& slot) {
  return absl::UnavailableError(
      fmt::format("host shut down before invocation of \"{}\" started", slot.name));
}
}  // namespace

ShutdownReport HostCore::shutdown(absl::Duration timeout) {
  {
    MutexLock lock(drain_mu_);
    if (shut_down_) return {};
    shut_down_ = true;
  }
  ShutdownReport report;
  draining_.store(true);
  // Collected batches are accepted events: queued while the functions still take them.
  flush_batches();
  {
    // Under the registration lock, so no function registered after this is left open.
    MutexLock lock(registration_mu_);
    accepting_.store(false);
    for (const auto& slot : table_.slots()) slot->state.fetch_or(FunctionSlot::kClosed);
  }
  // From here every invocation that ends counts as completed during the shutdown.
  const int64_t finished_before = finished_total();
  // No schedule fires from here on, and no event waits for a retry (those waiting are
  // dead-lettered; failures from here on are too): the timer service holds invocations only,
  // as the sweep below assumes.
  stop_schedules();
  stop_batches();
  report.retries_dead_lettered = stop_retries();
  const auto deadline = detail::steady_deadline_after(timeout);
  // Called from a then() callback on a runner: the runner's own turn cannot end while we wait
  // here, so do not wait for it (what of it has not started is dropped below).
  const int64_t own = own_running();
  while (outstanding() > own && std::chrono::steady_clock::now() < deadline) {
    // A ManualExecutor has no threads of its own: pump it while waiting.
    if (executor->help_one()) continue;
    MutexLock lock(drain_mu_);
    // Bounded wait: a finishing invocation notifies, the bound covers one that ended between
    // the outstanding() check and this wait.
    drain_cv_.wait_until(drain_mu_, std::min(deadline, std::chrono::steady_clock::now() +
                                                           std::chrono::milliseconds(10)));
  }
  stopped_.store(true);
  // Runners that announced a claim before seeing the flag are moments from linking its
  // records; after this, every claimed record is linked and no new claim is made.
  detail::Backoff backoff;
  while (claims_in_flight_.load() != 0) backoff.pause();

  for (FunctionSlot* slot : all_slots()) {
    while (Invocation* invocation = take_unstarted(*slot)) {
      ++report.dropped;
      drop(*slot, *invocation, not_started_at_shutdown(*slot));
      invocation->release();
    }
    release_if_removed(*slot);
  }
  // Claimed but not started: dropped (the runner that claimed it lets go of it); running:
  // cancelled and counted unfinished (its late result is dropped).
  std::vector<Invocation*> linked;
  timers_.for_each_linked([&](detail::TimerNode* node) {
    Invocation* invocation = Invocation::of(node);
    invocation->add_reference();
    linked.push_back(invocation);
  });
  for (Invocation* invocation : linked) {
    FunctionSlot& slot = *invocation->slot;
    int expected = Invocation::kClaimed;
    if (invocation->stage.compare_exchange_strong(expected, Invocation::kAbandoned)) {
      ++report.dropped;
      drop(slot, *invocation, not_started_at_shutdown(slot));
    } else if (invocation->try_claim_answer(Invocation::kByShutdown)) {
      ++report.unfinished;
      deliver_abandoned(*invocation,
                        absl::UnavailableError(fmt::format(
                            "host shut down while invocation of \"{}\" was running", slot.name)));
    } else {
      // Its handler or its deadline answered it a moment ago: the answer is on its way (a
      // then() callback of it may be running). Wait, so the report is final.
      // (Unless this thread is the one delivering it: shutdown() from its then() callback.)
      detail::Backoff delivery;
      while (!invocation->delivered.load() && invocation != current_turn().delivering) {
        delivery.pause();
      }
    }
    invocation->release();
  }
  // Deadlines the timer thread took out before the look above are answered by it: wait for
  // those answers too.
  detail::Backoff firing;
  while (timers_.is_firing()) firing.pause();
  report.completed = finished_total() - finished_before;
  detail::InvocationPool::trim_excess();
  // What the shutdown logged (drops, dead letters) is in the sink when it returns.
  const auto left = deadline - std::chrono::steady_clock::now();
  (void)flush_telemetry(std::max(absl::FromChrono(left), absl::Seconds(1)));
  return report;
}

}  // namespace fnhost
