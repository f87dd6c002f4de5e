// SPDX-License-Identifier: Apache-2.0
// Schedule: one schedule trigger of a host. Its timer is its base (the host's timer service
// links it like an invocation's deadline). Reference-counted, because three parties may hold it
// at once: the host's table (from schedule() to unsubscribe() or the host's end), a fire on
// its way through the executor, and the invocation it last queued (whose end it waits for
// under OverlapPolicy::kSkip). The last reference deletes it; nothing of the host is touched
// then, so it may outlive the host.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "fnhost/event.hpp"
#include "fnhost/router.hpp"
#include "fnhost/schedule.hpp"
#include "host/timer_service.hpp"

namespace fnhost {
struct HostCore;

namespace detail {

struct FunctionSlot;
struct Principal;

struct Schedule : TimerNode {
  Schedule(TriggerId schedule_id, ScheduleExpression schedule_expression, std::string function,
           FunctionSlot* function_slot, Event event, OverlapPolicy overlap_policy,
           absl::Time start_time, HostCore* owner)
      : id(schedule_id),
        expression(std::move(schedule_expression)),
        function_name(std::move(function)),
        slot(function_slot),
        event_template(std::move(event)),
        overlap(overlap_policy),
        start(start_time),
        host(owner) {}

  // Fixed at creation.
  const TriggerId id;
  const ScheduleExpression expression;
  const std::string function_name;
  // The function's registry slot (slots outlive removal: a fire for a removed function is
  // refused by admission, never dangling).
  FunctionSlot* const slot;
  const Event event_template;
  const OverlapPolicy overlap;
  const absl::Time start;
  HostCore* const host;  // only while in the host's table or firing
  // Whose schedule it is: its runs are made as this principal (null: the host). Set before the
  // schedule is armed.
  const Principal* principal = nullptr;

  // Guarded by the host's schedules_mu_.
  absl::Time next_fire = absl::InfiniteFuture();  // what the timer is armed for
  // What ScheduleInfo::next_fire shows: next_fire, updated once a fire's counters moved, so a
  // reader who sees it move sees that fire counted.
  absl::Time shown_next_fire = absl::InfiniteFuture();
  int64_t fire_number = 0;  // fires so far, skipped ones included
  bool removed = false;     // unsubscribed, or stopped by shutdown

  // Invocations it queued that have not ended (Invocation::on_end).
  std::atomic<int> running{0};
  // Counters (relaxed: metrics).
  std::atomic<int64_t> fired{0};
  std::atomic<int64_t> skipped{0};
  std::atomic<int64_t> missed{0};
  std::atomic<int64_t> refused{0};

  static Schedule* of(TimerNode* node) { return static_cast<Schedule*>(node); }

  void add_reference() { references_.fetch_add(1, std::memory_order_relaxed); }
  // Drops a reference; the last one deletes the schedule.
  void release() {
    if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // Invocation::on_end of a run it queued: the run is over; drops the run's reference.
  static void run_ended(void* context) {
    auto* schedule = static_cast<Schedule*>(context);
    schedule->running.fetch_sub(1);
    schedule->release();
  }

 private:
  std::atomic<int> references_{1};  // the host's table
};

}  // namespace detail
}  // namespace fnhost
