// SPDX-License-Identifier: Apache-2.0
#include "host/queue_budget.hpp"

#include <algorithm>

namespace fnhost::detail {

QueueBudget::QueueBudget(int64_t limit) : limit_(limit) {
  if (limit_ <= 0) return;
  for (int i = 0; i < kStripes; ++i) {
    stripes_[static_cast<size_t>(i)].available.store(
        limit_ / kStripes + (i < limit_ % kStripes ? 1 : 0), std::memory_order_relaxed);
  }
}

int QueueBudget::home_stripe() {
  static std::atomic<int> next{0};
  thread_local const int home = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return home;
}

int64_t QueueBudget::take_up_to(int64_t amount) {
  const int home = home_stripe();
  std::atomic<int64_t>& own = stripes_[static_cast<size_t>(home)].available;
  int64_t have = own.load(std::memory_order_relaxed);
  while (have >= amount) {
    if (own.compare_exchange_weak(have, have - amount, std::memory_order_relaxed)) return amount;
  }
  // Short here: gather from every stripe (this one again last, it may have been refilled),
  // taking what is missing or half a stripe, whichever is more, so the next takes stay home.
  int64_t gathered = 0;
  for (int step = 1; step <= kStripes && gathered < amount; ++step) {
    std::atomic<int64_t>& other = stripes_[static_cast<size_t>((home + step) % kStripes)].available;
    int64_t there = other.load(std::memory_order_relaxed);
    while (there > 0) {
      const int64_t take = std::min(there, std::max(amount - gathered, there / 2));
      if (other.compare_exchange_weak(there, there - take, std::memory_order_relaxed)) {
        gathered += take;
        break;
      }
    }
  }
  if (gathered <= amount) return gathered;
  own.fetch_add(gathered - amount, std::memory_order_relaxed);
  return amount;
}

bool QueueBudget::try_take(int64_t amount) {
  // In debt (take_anyway went past the bound): nothing new until it is repaid.
  if (debt_.load(std::memory_order_relaxed) > 0) return false;
  const int64_t taken = take_up_to(amount);
  if (taken == amount) return true;
  if (taken > 0) {
    stripes_[static_cast<size_t>(home_stripe())].available.fetch_add(taken,
                                                                     std::memory_order_relaxed);
  }
  return false;
}

void QueueBudget::take_anyway(int64_t amount) {
  const int64_t taken = take_up_to(amount);
  if (taken < amount) debt_.fetch_add(amount - taken, std::memory_order_relaxed);
}

void QueueBudget::give_back(int64_t amount) {
  if (amount == 0) return;
  // Repay a debt first, so try_take refuses until the count is back under the bound.
  int64_t debt = debt_.load(std::memory_order_relaxed);
  while (debt > 0) {
    const int64_t repay = std::min(debt, amount);
    if (debt_.compare_exchange_weak(debt, debt - repay, std::memory_order_relaxed)) {
      amount -= repay;
      break;
    }
  }
  if (amount == 0) return;
  stripes_[static_cast<size_t>(home_stripe())].available.fetch_add(amount,
                                                                   std::memory_order_relaxed);
}

int64_t QueueBudget::in_use() const {
  if (limit_ <= 0) return 0;
  int64_t available = 0;
  for (const Stripe& stripe : stripes_)
    available += stripe.available.load(std::memory_order_relaxed);
  return std::max<int64_t>(limit_ - available + debt_.load(std::memory_order_relaxed), 0);
}

}  // namespace fnhost::detail
