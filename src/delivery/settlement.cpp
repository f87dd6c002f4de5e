// SPDX-License-Identifier: Apache-2.0
#include "delivery/settlement.hpp"

#include <algorithm>
#include <utility>

namespace fnhost::detail {
namespace {

// Owns the tracker for as long as any delivery holds the event.
struct TrackedEventDeleter {
  std::shared_ptr<SettleTracker> tracker;

  void operator()(const Event* event) const {
    delete event;
    tracker->event_released();
  }
};

// Dropped outranks dead-lettered outranks succeeded: the caller must act on the worst.
int severity(Settlement outcome) {
  switch (outcome) {
    case Settlement::kSucceeded:
      return 0;
    case Settlement::kDeadLettered:
      return 1;
    case Settlement::kDropped:
      return 2;
  }
  return 2;
}

}  // namespace

void SettleTracker::report(Settlement outcome, const absl::Status& error, int attempts) {
  {
    SpinLockHolder lock(mu_);
    if (severity(outcome) > severity(result_.outcome)) {
      result_.outcome = outcome;
      result_.error = error;
    }
    result_.attempts = std::max(result_.attempts, attempts);
  }
  finish_one();
}

void SettleTracker::finish_one() {
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) settle();
}

void SettleTracker::event_released() {
  if (pending_.load(std::memory_order_acquire) == 0) return;
  {
    SpinLockHolder lock(mu_);
    result_.outcome = Settlement::kDropped;
    result_.error = absl::UnavailableError(
        "the host let go of the event without an outcome (shut down before it ended)");
  }
  settle();
}

void SettleTracker::settle() {
  if (settled_.exchange(true, std::memory_order_acq_rel)) return;
  SettledEvent result;
  {
    SpinLockHolder lock(mu_);
    result = std::move(result_);
  }
  try {
    callback_(result);
  } catch (...) {
    // Documented: an exception from the callback is dropped; the host goes on.
  }
  callback_ = nullptr;  // what it captured goes now, not with the last copy of the event
}

std::shared_ptr<const Event> make_tracked_event(Event&& event,
                                                std::shared_ptr<SettleTracker> tracker) {
  return std::shared_ptr<const Event>(new Event(std::move(event)),
                                      TrackedEventDeleter{std::move(tracker)});
}

SettleTracker* tracker_of(const std::shared_ptr<const Event>& event) {
  const auto* deleter = std::get_deleter<TrackedEventDeleter>(event);
  return deleter != nullptr ? deleter->tracker.get() : nullptr;
}

}  // namespace fnhost::detail
