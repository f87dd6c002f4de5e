// SPDX-License-Identifier: Apache-2.0
#include "host/deadline_watcher.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

namespace fnhost::detail {

namespace {
// Spreads threads over shards round-robin, in the order they first watch. (Hashing a
// thread-local's address does not spread them: thread stacks sit a fixed, large power-of-two-
// ish stride apart, so every worker landed on one shard and they contended on its lock.)
int shard_of_current_thread(int shards) {
  static std::atomic<int> next_shard{0};
  thread_local const int shard = next_shard.fetch_add(1, std::memory_order_relaxed);
  return shard % shards;
}
}  // namespace

DeadlineWatcher::DeadlineWatcher(absl::AnyInvocable<void(Invocation*)> on_expired)
    : on_expired_(std::move(on_expired)) {
  absl::Status started = thread_.start(128 * 1024, [this] { run(); });
  // Without the thread deadlines would never fire; a process that cannot create one more
  // thread at start-up cannot run functions either.
  if (!started.ok()) std::abort();
}

DeadlineWatcher::~DeadlineWatcher() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DeadlineWatcher::watch(Invocation* invocation) {
  const int index = shard_of_current_thread(kShards);
  Shard& shard = shards_[static_cast<size_t>(index)];
  invocation->watch_home = index;
  {
    SpinLockHolder lock(shard.mu);
    invocation->watch_shard = index;
    invocation->watch_prev = nullptr;
    invocation->watch_next = shard.head;
    if (shard.head != nullptr) shard.head->watch_prev = invocation;
    shard.head = invocation;
  }
  // seq_cst pairs with run(): it resets next_wake_ns_ before scanning the shards, so either it
  // sees this invocation in its scan or we see its reset here and wake it.
  const int64_t deadline = invocation->deadline_ns;
  if (deadline < next_wake_ns_.load()) {
    MutexLock lock(mu_);
    if (deadline < next_wake_ns_.load()) {
      next_wake_ns_.store(deadline);
      cv_.notify_one();
    }
  }
}

void DeadlineWatcher::unlink(Shard& shard, Invocation* invocation) {
  if (invocation->watch_prev != nullptr) {
    invocation->watch_prev->watch_next = invocation->watch_next;
  } else {
    shard.head = invocation->watch_next;
  }
  if (invocation->watch_next != nullptr) invocation->watch_next->watch_prev = invocation->watch_prev;
  invocation->watch_prev = invocation->watch_next = nullptr;
  invocation->watch_shard = -1;
}

bool DeadlineWatcher::unwatch(Invocation* invocation) {
  // watch_home is written by this thread in watch() and never by the watcher, so it needs no
  // lock; watch_shard says, under the shard's lock, whether the watcher already took it out.
  Shard& shard = shards_[static_cast<size_t>(invocation->watch_home)];
  SpinLockHolder lock(shard.mu);
  if (invocation->watch_shard < 0) return false;
  unlink(shard, invocation);
  return true;
}

std::vector<Invocation*> DeadlineWatcher::snapshot() {
  std::vector<Invocation*> watched;
  for (Shard& shard : shards_) {
    SpinLockHolder lock(shard.mu);
    for (Invocation* it = shard.head; it != nullptr; it = it->watch_next) {
      it->add_reference();
      watched.push_back(it);
    }
  }
  return watched;
}

void DeadlineWatcher::run() {
  platform::set_current_thread_name("fnhost-timer");
  std::vector<Invocation*> expired;
  for (;;) {
    {
      MutexLock lock(mu_);
      for (;;) {
        if (stop_) return;
        const int64_t wake = next_wake_ns_.load();
        const int64_t now = platform::now_ns();
        if (wake <= now) break;
        if (wake == kNever) {
          cv_.wait(mu_);
        } else {
          cv_.wait_until(mu_, std::chrono::steady_clock::time_point(
                                  std::chrono::nanoseconds(wake)));
        }
      }
      next_wake_ns_.store(kNever);
    }
    const int64_t now = platform::now_ns();
    int64_t earliest = kNever;
    for (Shard& shard : shards_) {
      SpinLockHolder lock(shard.mu);
      Invocation* it = shard.head;
      while (it != nullptr) {
        Invocation* next = it->watch_next;
        if (it->deadline_ns <= now) {
          unlink(shard, it);
          it->add_reference();
          expired.push_back(it);
        } else {
          earliest = std::min(earliest, it->deadline_ns);
        }
        it = next;
      }
    }
    if (earliest != kNever) {
      MutexLock lock(mu_);
      if (earliest < next_wake_ns_.load()) next_wake_ns_.store(earliest);
    }
    for (Invocation* invocation : expired) on_expired_(invocation);
    expired.clear();
  }
}

}  // namespace fnhost::detail
