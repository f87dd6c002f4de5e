// SPDX-License-Identifier: Apache-2.0
// One function's idempotency records: for each Event::idempotency_key, whether an event with it
// is running or succeeded (and its result, until the window ends). Admission consults it only
// for events that carry a key; the invocation that claimed a key settles it when the event
// ends, so a duplicate is answered with the first outcome instead of running again.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/sync.hpp"
#include "fnhost/delivery.hpp"
#include "host/host_internal.hpp"

namespace fnhost::detail {

class IdempotencyTable {
 public:
  // Records kept per function at most; past it the oldest success is forgotten early.
  static constexpr size_t kMaxRecords = 100'000;
  static constexpr size_t kMaxKeyBytes = 256;

  enum class Claim {
    kOwner,    // no live record: the caller runs the event and must settle the key
    kDone,     // succeeded within the window: `result` is the first result
    kRunning,  // an event with this key is running (or waiting for a retry)
    kFull,     // kMaxRecords events with keys are running: refuse
  };
  struct Outcome {
    Claim claim = Claim::kOwner;
    std::string result;
    // kRunning: the duplicate's settlement waits for the owner's (see claim()).
    bool settles_with_owner = false;
  };

  // Claims `key` at host time `now_ns`. With kRunning, a non-null `waiter` (a synchronous
  // duplicate) is answered when the owner settles, and so is an asynchronous duplicate's
  // settlement callback (`duplicate`, when it carries one): it settles as the owner does.
  Outcome claim(std::string_view key, int64_t now_ns, std::shared_ptr<CompletionState> waiter,
                const std::shared_ptr<const Event>* duplicate = nullptr);
  // The owner succeeded: duplicates until now_ns + window_ns get `result`.
  void succeed(std::string_view key, const std::string& result, int64_t now_ns, int64_t window_ns);
  // The owner failed for good (or was refused): the key is forgotten, so the event may be sent
  // again; waiting duplicates get `error`, and settle as `outcome` (a duplicate of an owner that
  // never ended its work is dropped: sent again, it runs).
  void fail(std::string_view key, const absl::Status& error,
            Settlement outcome = Settlement::kDropped);
  [[nodiscard]] size_t size() const;

 private:
  struct Record {
    bool done = false;
    std::string result;
    int64_t expires_ns = 0;
    std::vector<std::shared_ptr<CompletionState>> waiters;
    // Asynchronous duplicates with settlement callbacks (delivery/settlement.hpp).
    std::vector<std::shared_ptr<const Event>> settle_waiters;
  };
  // Drops the records whose window ended, and (when full) the oldest successes.
  void prune_locked(int64_t now_ns, bool make_room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  absl::flat_hash_map<std::string, Record> records_ ABSL_GUARDED_BY(mu_);
  // Successes in the order they were recorded, with their expiry: a record is pruned only if
  // its expiry still matches (the key may have been claimed again since).
  std::deque<std::pair<int64_t, std::string>> expiries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::detail
