// SPDX-License-Identifier: Apache-2.0
#include "delivery/idempotency.hpp"

#include <utility>

#include "delivery/settlement.hpp"

namespace fnhost::detail {

namespace {
absl::string_view key_view(std::string_view key) { return {key.data(), key.size()}; }
}  // namespace

IdempotencyTable& FunctionSlot::idempotency_table() {
  IdempotencyTable* table = idempotency.load(std::memory_order_acquire);
  if (table != nullptr) return *table;
  auto fresh = std::make_unique<IdempotencyTable>();
  if (idempotency.compare_exchange_strong(table, fresh.get())) return *fresh.release();
  return *table;
}

void IdempotencyTable::prune_locked(int64_t now_ns, bool make_room) {
  while (!expiries_.empty()) {
    auto& [expires_ns, key] = expiries_.front();
    if (expires_ns > now_ns && !(make_room && records_.size() >= kMaxRecords)) break;
    auto it = records_.find(key);
    if (it != records_.end() && it->second.done && it->second.expires_ns == expires_ns) {
      records_.erase(it);
    }
    expiries_.pop_front();
  }
}

IdempotencyTable::Outcome IdempotencyTable::claim(std::string_view key, int64_t now_ns,
                                                  std::shared_ptr<CompletionState> waiter,
                                                  const std::shared_ptr<const Event>* duplicate) {
  MutexLock lock(mu_);
  prune_locked(now_ns, /*make_room=*/false);
  auto it = records_.find(key_view(key));
  if (it != records_.end()) {
    Record& record = it->second;
    if (record.done && record.expires_ns > now_ns) return {Claim::kDone, record.result};
    if (!record.done) {
      if (waiter != nullptr) record.waiters.push_back(std::move(waiter));
      // Acknowledging a broker's redelivery before the first copy's work is done would lose
      // it if the process died now: the duplicate settles when the owner does.
      if (duplicate != nullptr && tracker_of(*duplicate) != nullptr) {
        record.settle_waiters.push_back(*duplicate);
        return {Claim::kRunning, {}, /*settles_with_owner=*/true};
      }
      return {Claim::kRunning, {}};
    }
    records_.erase(it);  // expired, not yet pruned
  }
  if (records_.size() >= kMaxRecords) {
    prune_locked(now_ns, /*make_room=*/true);
    if (records_.size() >= kMaxRecords) return {Claim::kFull, {}};
  }
  records_.emplace(std::string(key), Record{});
  return {Claim::kOwner, {}};
}

void IdempotencyTable::succeed(std::string_view key, const std::string& result, int64_t now_ns,
                               int64_t window_ns) {
  std::vector<std::shared_ptr<CompletionState>> waiters;
  std::vector<std::shared_ptr<const Event>> settle_waiters;
  {
    MutexLock lock(mu_);
    auto it = records_.find(key_view(key));
    if (it == records_.end()) return;
    Record& record = it->second;
    waiters.swap(record.waiters);
    settle_waiters.swap(record.settle_waiters);
    record.done = true;
    record.result = result;
    record.expires_ns = now_ns + window_ns;
    expiries_.emplace_back(record.expires_ns, std::string(key));
  }
  // Outside the lock: their callbacks are user code.
  for (auto& waiter : waiters) waiter->complete(result);
  for (const auto& duplicate : settle_waiters) {
    report_settled(duplicate, Settlement::kSucceeded, absl::OkStatus(), 0);
  }
}

void IdempotencyTable::fail(std::string_view key, const absl::Status& error, Settlement outcome) {
  std::vector<std::shared_ptr<CompletionState>> waiters;
  std::vector<std::shared_ptr<const Event>> settle_waiters;
  {
    MutexLock lock(mu_);
    auto it = records_.find(key_view(key));
    if (it == records_.end() || it->second.done) return;
    waiters.swap(it->second.waiters);
    settle_waiters.swap(it->second.settle_waiters);
    records_.erase(it);
  }
  for (auto& waiter : waiters) waiter->complete(error);
  for (const auto& duplicate : settle_waiters) report_settled(duplicate, outcome, error, 0);
}

size_t IdempotencyTable::size() const {
  MutexLock lock(mu_);
  return records_.size();
}

}  // namespace fnhost::detail
