// SPDX-License-Identifier: Apache-2.0
// Fires invocation deadlines. Running invocations are linked into sharded lists (one lock per
// shard, picked by the running thread, so workers rarely contend); one thread sleeps until the
// earliest deadline it knows of and is woken early only when an invocation with an earlier
// deadline starts. With nothing running it sleeps without a timer.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "fnhost/detail/sync.hpp"
#include "host/host_internal.hpp"
#include "platform/platform.hpp"

namespace fnhost::detail {

class DeadlineWatcher {
 public:
  // `on_expired` runs on the watcher thread, outside every lock, once per invocation whose
  // deadline passed while it was watched; it receives a reference it must release.
  explicit DeadlineWatcher(absl::AnyInvocable<void(Invocation*)> on_expired);
  // Stops the thread; invocations still watched are not expired.
  ~DeadlineWatcher();
  DeadlineWatcher(const DeadlineWatcher&) = delete;
  DeadlineWatcher& operator=(const DeadlineWatcher&) = delete;

  // Watches `invocation` until unwatch(); its deadline_ns must be set. The caller keeps a
  // reference until unwatch() returns.
  void watch(Invocation* invocation);
  // Stops watching; false if the deadline already fired (the watcher took it out).
  bool unwatch(Invocation* invocation);
  // The invocations being watched now, each with a reference the caller must release.
  std::vector<Invocation*> snapshot();

 private:
  static constexpr int kShards = 16;
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  struct alignas(kCacheLine) Shard {
    SpinLock mu;
    Invocation* head ABSL_GUARDED_BY(mu) = nullptr;
  };

  void run();
  static void unlink(Shard& shard, Invocation* invocation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  absl::AnyInvocable<void(Invocation*)> on_expired_;
  std::array<Shard, kShards> shards_;
  alignas(kCacheLine) std::atomic<int64_t> next_wake_ns_{kNever};
  Mutex mu_;
  CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  platform::Thread thread_;
};

}  // namespace fnhost::detail
