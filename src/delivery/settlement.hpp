// SPDX-License-Identifier: Apache-2.0
// Settlement callbacks (Host::invoke_async / publish with `on_settled`): how a caller learns
// that every delivery of an accepted event has ended, and how.
//
// The tracker rides on the event itself: the shared immutable copy every delivery of a tracked
// event holds is made with a deleter that owns the tracker. So whatever path a delivery takes
// (fan-out, ordering groups, batches, retries, throttle re-queues, shutdown) it carries the
// tracker without any of those paths knowing, and the two places a delivery ends — a success
// and a dead letter — report to it. A delivery that ends without reporting can only be one the
// host let go of; when the event's last holder goes, the tracker settles it as dropped.
#pragma once

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "common/sync.hpp"
#include "fnhost/delivery.hpp"
#include "fnhost/event.hpp"

namespace fnhost::detail {

class SettleTracker {
 public:
  // Starts with one hold: the caller's, while it hands out deliveries.
  explicit SettleTracker(SettledCallback callback) : callback_(std::move(callback)) {}
  SettleTracker(const SettleTracker&) = delete;
  SettleTracker& operator=(const SettleTracker&) = delete;

  // One more delivery will report (call before handing it out, so it cannot report first).
  void add_delivery() { pending_.fetch_add(1, std::memory_order_relaxed); }
  // A delivery ended: folds its outcome in; the last one settles the event.
  void report(Settlement outcome, const absl::Status& error, int attempts);
  // A delivery added but refused at once (it took nothing): it counts for nothing.
  void withdraw_delivery() { finish_one(); }
  // The caller is done handing out deliveries.
  void release_hold() { finish_one(); }
  // The caller's call refused the event: the callback is never called.
  void disarm() { settled_.store(true, std::memory_order_relaxed); }
  // The tracked event's last holder let go: deliveries that never reported were dropped.
  void event_released();

 private:
  void finish_one();
  void settle();

  std::atomic<int> pending_{1};
  std::atomic<bool> settled_{false};
  SpinLock mu_;
  SettledEvent result_ ABSL_GUARDED_BY(mu_);
  SettledCallback callback_;
};

// The shared immutable copy of `event` that carries `tracker` to every delivery.
[[nodiscard]] std::shared_ptr<const Event> make_tracked_event(
    Event&& event, std::shared_ptr<SettleTracker> tracker);

// The tracker `event` carries (made by make_tracked_event), or null.
[[nodiscard]] SettleTracker* tracker_of(const std::shared_ptr<const Event>& event);

// Reports a delivery of `event` ending, if it is tracked.
inline void report_settled(const std::shared_ptr<const Event>& event, Settlement outcome,
                           const absl::Status& error, int attempts) {
  if (event == nullptr) return;
  if (SettleTracker* tracker = tracker_of(event)) tracker->report(outcome, error, attempts);
}

}  // namespace fnhost::detail
