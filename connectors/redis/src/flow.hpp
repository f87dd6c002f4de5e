// SPDX-License-Identifier: Apache-2.0
// Internal: the state the reading thread, the acknowledging thread, the host's settlement
// callbacks and stop() share. Held by shared_ptr: a callback that fires after the trigger is
// gone (an entry left pending at stop) still finds it, and finds it closed.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/sync.hpp"
#include "entries.hpp"
#include "fnhost/delivery.hpp"
#include "fnhost/redis/stream_trigger.hpp"

namespace fnhost::redis::detail {

using fnhost::detail::CondVar;
using fnhost::detail::Mutex;
using fnhost::detail::MutexLock;

// How one entry ended in the host, as the acknowledging thread needs it. The error is kept as
// its code and text: an absl::Status is not shared across threads.
struct SettledEntry {
  std::string id;
  Settlement outcome = Settlement::kSucceeded;
  absl::StatusCode error_code = absl::StatusCode::kOk;
  std::string error_message;
  int attempts = 0;
};

struct Counters {
  std::atomic<int64_t> read{0};
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> succeeded{0};
  std::atomic<int64_t> dead_lettered{0};
  std::atomic<int64_t> invalid{0};
  std::atomic<int64_t> reclaimed{0};
  std::atomic<int64_t> redelivered{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> left_pending{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> reconnects{0};
  std::atomic<int64_t> peak_in_flight{0};
};

struct Flow {
  Mutex mu;
  // Entries read and not yet acknowledged or left, by id, with their fields (for the
  // dead-letter stream). Its size is what max_in_flight bounds.
  absl::flat_hash_map<std::string, Fields> in_flight ABSL_GUARDED_BY(mu);
  // Settled entries waiting for the acknowledging thread, in settlement order.
  std::deque<SettledEntry> settled ABSL_GUARDED_BY(mu);
  // Set by stop(): the reader stops reading; then the acknowledger stops once it has tried the
  // settled entries one last time; then the flow is closed and late settlements are ignored.
  bool stop_reading ABSL_GUARDED_BY(mu) = false;
  bool stop_acking ABSL_GUARDED_BY(mu) = false;
  bool closed ABSL_GUARDED_BY(mu) = false;
  // Signalled when `settled` grows or a stop flag is set (the acknowledger waits on it).
  CondVar settled_changed;
  // Signalled when `in_flight` shrinks or a stop flag is set (the reader and stop() wait).
  CondVar in_flight_changed;

  Counters counters;
  // False once the reading thread has left: no entry is read after that.
  std::atomic<bool> reading{true};

  // Records an entry's settlement for the acknowledger (what a SettledCallback calls).
  void settle(SettledEntry entry) {
    MutexLock lock(mu);
    if (closed) return;
    settled.push_back(std::move(entry));
    settled_changed.notify_one();
  }

  // Counts an entry as read and in flight; false if it already is (a redelivery of an entry
  // this consumer is still working on).
  bool admit(std::string id, Fields fields) {
    MutexLock lock(mu);
    if (!in_flight.try_emplace(std::move(id), std::move(fields)).second) return false;
    const auto size = static_cast<int64_t>(in_flight.size());
    if (size > counters.peak_in_flight.load(std::memory_order_relaxed)) {
      counters.peak_in_flight.store(size, std::memory_order_relaxed);
    }
    return true;
  }

  // Forgets entries that were acknowledged or left pending.
  template <class Ids>
  void release(const Ids& ids) {
    MutexLock lock(mu);
    for (const auto& id : ids) in_flight.erase(id);
    in_flight_changed.notify_all();
  }

  [[nodiscard]] int64_t in_flight_count() {
    MutexLock lock(mu);
    return static_cast<int64_t>(in_flight.size());
  }
};

}  // namespace fnhost::redis::detail
