// SPDX-License-Identifier: Apache-2.0
// The host's one timer service: invocation deadlines, schedules and retry backoffs (one node
// for all of them: see delivery/retry_queue.hpp). Timers are intrusive nodes their owners embed (no allocation per timer), kept
// in sharded lists (one lock per shard, picked by the calling thread, so workers rarely
// contend). One thread sleeps until the earliest due time it knows of, but at most `linger`
// at a time (unlinking a timer does not wake it); it exists only while a timer is pending and
// leaves after `linger` with nothing pending, so an idle host has no thread at all. The thread
// never runs user code: a node's on_due must only flip flags and hand anything longer (callbacks,
// logging) to an executor.
//
// With a manual clock there is no thread: tests advance the clock and call fire_due() (the public
// fnhost::ManualClock's advance() does both for every host using it), so timing logic is tested
// deterministically and instantly.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>

#include "absl/time/time.h"
#include "common/sync.hpp"
#include "platform/platform.hpp"

namespace fnhost::detail {

// Where the timer service reads the time: the steady clock, or a clock a test moves by hand.
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual int64_t now_ns() const = 0;
};

// A clock that stands still until advance() moves it. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ns = 0) : now_(start_ns) {}
  [[nodiscard]] int64_t now_ns() const override { return now_.load(); }
  void advance(absl::Duration by) { now_.fetch_add(absl::ToInt64Nanoseconds(by)); }

 private:
  std::atomic<int64_t> now_;
};

// One timer, embedded in its owner. Linked (tracked by the service) between link() and
// unlink() or its firing; armed once it has a due time.
struct TimerNode {
  static constexpr int64_t kNotArmed = std::numeric_limits<int64_t>::max();

  // Called once on the timer thread (or fire_due's caller) when the node is due, after the
  // service unlinked it, outside every lock.
  void (*on_due)(TimerNode* node) = nullptr;
  // Optional; called under the shard's lock as the node is taken out to fire, before anyone can
  // see it unlinked: where an owner pins itself so that it outlives on_due. Must be trivial.
  void (*on_taken)(TimerNode* node) = nullptr;

  // Set by owners that stay armed for long and are rarely unlinked early (schedules): while
  // only such nodes are pending the thread sleeps until the earliest of them instead of
  // looking again every `linger`. Set before link().
  bool long_lived = false;

  // Written by arm(), read by the timer thread's scan (hence atomic).
  std::atomic<int64_t> due_ns{kNotArmed};
  // Linkage, guarded by the shard's lock.
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  int shard = -1;  // -1 once unlinked
  int home = 0;    // the shard link() used; read by unlink() without the lock
};

class TimerService {
 public:
  struct Options {
    // Null: the steady clock, with a thread that fires timers. Otherwise this clock, with no
    // thread (call fire_due()). Must outlive the service.
    const Clock* manual_clock = nullptr;
    // How long the thread stays with nothing pending before it exits.
    absl::Duration linger = absl::Milliseconds(100);
    // Called by the thread (outside every lock) once it has lingered with nothing pending,
    // just before it leaves: the owner's moment for idle housekeeping. Must run no user code.
    void (*on_idle)() = nullptr;
  };

  TimerService() : TimerService(Options{}) {}
  explicit TimerService(Options options);
  // Joins the thread; nodes still linked are left unfired.
  ~TimerService();
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  [[nodiscard]] int64_t now_ns() const;

  // Starts tracking `node`, not yet armed (it will not fire until arm()). The caller keeps the
  // node alive until unlink() returns or on_due ran.
  void link(TimerNode* node);
  // Gives a linked node its due time (absolute, in this service's clock); it fires at or after
  // it. Called once per link, by the thread that linked it or one ordered after it — or again,
  // under the owner's own lock, to move the due time earlier (the node then fires at either
  // time: its on_due must look at what is due itself, as the retry queue's does). Starts the
  // timer thread if none runs; if that fails the node still fires at the next fire_due() or
  // when a later arm() starts the thread — callers must not rely on the thread alone (the host
  // also checks each invocation's end against its deadline).
  void arm(TimerNode* node, int64_t due_ns);
  // link() and arm() in one.
  void schedule(TimerNode* node, int64_t due_ns) {
    link(node);
    arm(node, due_ns);
  }
  // Stops tracking `node`; false if it already fired (or is firing). For a long_lived node it
  // also has the thread look again at once (it may be sleeping until this node's due time).
  bool unlink(TimerNode* node);
  // Calls visit(node) for every linked node, under its shard's lock: visit must be short and
  // must not call back into the service.
  template <class Visit>
  void for_each_linked(Visit&& visit) {
    for (Shard& shard : shards_) {
      SpinLockHolder lock(shard.mu);
      for (TimerNode* it = shard.head; it != nullptr; it = it->next) visit(it);
    }
  }
  // Fires every node due by now on the calling thread; returns how many fired.
  int fire_due();
  // Whether the calling thread is running a node's on_due (the timer thread, or a manual
  // clock's advance()): code that may end up there hands user code to an executor instead.
  [[nodiscard]] static bool in_callback();
  // Whether a scan is taking due nodes out or firing them now: a node unlinked by it may not
  // have had on_due yet.
  [[nodiscard]] bool is_firing() const { return firing_.load() != 0; }
  // Whether the timer thread exists now (for tests of scale-to-zero).
  [[nodiscard]] bool has_thread() const;
  // How many times the thread (or fire_due) looked at the timers (for tests of wake-ups).
  [[nodiscard]] int64_t scans() const { return scans_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kShards = 16;
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  struct alignas(kCacheLine) Shard {
    SpinLock mu;
    TimerNode* head ABSL_GUARDED_BY(mu) = nullptr;
  };

  void run();
  // Unlinks the due nodes and fires them; returns the earliest due time left (kNever if none).
  int64_t scan(int64_t now, int& fired);
  static void unlink_locked(Shard& shard, TimerNode* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const Options options_;
  std::array<Shard, kShards> shards_;
  alignas(kCacheLine) std::atomic<int64_t> next_wake_ns_{kNever};
  // Whether a node that is not long_lived may be armed: then the thread looks again every
  // `linger` (such nodes are usually unlinked long before they are due, unannounced).
  std::atomic<bool> short_lived_armed_{false};
  std::atomic<int> firing_{0};  // scans in progress (see is_firing)
  std::atomic<int64_t> scans_{0};
  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool thread_running_ ABSL_GUARDED_BY(mu_) = false;
  // The thread that ran last; an exited one is joined before the next starts.
  platform::Thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::detail
