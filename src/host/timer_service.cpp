// SPDX-License-Identifier: Apache-2.0
#include "host/timer_service.hpp"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "platform/deadline.hpp"

namespace fnhost::detail {

namespace {
// Spreads threads over shards round-robin, in the order they first link. (Hashing a
// thread-local's address does not spread them: thread stacks sit a fixed, large power-of-two-
// ish stride apart, so every worker landed on one shard and they contended on its lock.)
int shard_of_current_thread(int shards) {
  static std::atomic<int> next_shard{0};
  thread_local const int shard = next_shard.fetch_add(1, std::memory_order_relaxed);
  return shard % shards;
}

constexpr std::size_t kTimerStackSize = 128 * 1024;

thread_local bool firing_on_this_thread = false;
}  // namespace

bool TimerService::in_callback() { return firing_on_this_thread; }

TimerService::TimerService(Options options) : options_(options) {}

TimerService::~TimerService() {
  platform::Thread thread;
  {
    MutexLock lock(mu_);
    stop_ = true;
    thread = std::move(thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
}

int64_t TimerService::now_ns() const {
  return options_.manual_clock != nullptr ? options_.manual_clock->now_ns() : platform::now_ns();
}

bool TimerService::has_thread() const {
  MutexLock lock(mu_);
  return thread_running_;
}

void TimerService::link(TimerNode* node) {
  const int index = shard_of_current_thread(kShards);
  Shard& shard = shards_[static_cast<size_t>(index)];
  node->home = index;
  node->due_ns.store(TimerNode::kNotArmed, std::memory_order_relaxed);
  SpinLockHolder lock(shard.mu);
  node->shard = index;
  node->prev = nullptr;
  node->next = shard.head;
  if (shard.head != nullptr) shard.head->prev = node;
  shard.head = node;
}

void TimerService::arm(TimerNode* node, int64_t due_ns) {
  // seq_cst pairs with run(): it resets next_wake_ns_ before scanning the shards, so either its
  // scan sees this due time or we see its reset here and wake it.
  node->due_ns.store(due_ns);
  // Load first: under load this stays a read of a line nobody writes.
  if (!node->long_lived && !short_lived_armed_.load()) short_lived_armed_.store(true);
  if (due_ns >= next_wake_ns_.load() || options_.manual_clock != nullptr) return;
  MutexLock lock(mu_);
  if (due_ns >= next_wake_ns_.load() || stop_) return;
  next_wake_ns_.store(due_ns);
  if (thread_running_) {
    cv_.notify_one();
    return;
  }
  // No thread: start one (joining the one that left, which no longer needs mu_).
  if (thread_.joinable()) thread_.join();
  thread_running_ = true;
  if (!thread_.start(kTimerStackSize, [this] { run(); }).ok()) {
    // Out of threads: the next arm() tries again; until then the node fires late (its owner
    // checks deadlines itself too).
    thread_running_ = false;
    next_wake_ns_.store(kNever);
  }
}

void TimerService::unlink_locked(Shard& shard, TimerNode* node) {
  if (node->prev != nullptr) {
    node->prev->next = node->next;
  } else {
    shard.head = node->next;
  }
  if (node->next != nullptr) node->next->prev = node->prev;
  node->prev = node->next = nullptr;
  node->shard = -1;
}

bool TimerService::unlink(TimerNode* node) {
  // home is written by the linking thread and never by the timer thread, so it needs no lock;
  // shard says, under the shard's lock, whether the timer thread already took the node out.
  Shard& shard = shards_[static_cast<size_t>(node->home)];
  {
    SpinLockHolder lock(shard.mu);
    if (node->shard < 0) return false;
    unlink_locked(shard, node);
  }
  if (node->long_lived && options_.manual_clock == nullptr) {
    // The thread may sleep until this node's due time (it looks every linger only for
    // short-lived ones): have it look now, so it leaves if nothing else is pending. Rare
    // (unsubscribe), so the lock is fine here.
    MutexLock lock(mu_);
    if (thread_running_ && !stop_) {
      next_wake_ns_.store(platform::now_ns());
      cv_.notify_one();
    }
  }
  return true;
}

int64_t TimerService::scan(int64_t now, int& fired) {
  // Announced before anything is unlinked (seq_cst), withdrawn after every on_due ran.
  firing_.fetch_add(1);
  scans_.fetch_add(1, std::memory_order_relaxed);
  // Reset before looking (seq_cst), as next_wake_ns_: an arm() after this sets it again.
  short_lived_armed_.store(false);
  bool short_lived = false;
  std::vector<TimerNode*> due;
  int64_t earliest = kNever;
  for (Shard& shard : shards_) {
    SpinLockHolder lock(shard.mu);
    TimerNode* it = shard.head;
    while (it != nullptr) {
      TimerNode* next = it->next;
      const int64_t due_ns = it->due_ns.load();
      if (due_ns <= now) {
        unlink_locked(shard, it);
        if (it->on_taken != nullptr) it->on_taken(it);
        due.push_back(it);
      } else if (due_ns != TimerNode::kNotArmed) {
        earliest = std::min(earliest, due_ns);
        short_lived = short_lived || !it->long_lived;
      } else {
        short_lived = short_lived || !it->long_lived;  // linked, about to be armed
      }
      it = next;
    }
  }
  if (short_lived) short_lived_armed_.store(true);
  const bool outer = firing_on_this_thread;
  firing_on_this_thread = true;
  for (TimerNode* node : due) node->on_due(node);
  firing_on_this_thread = outer;
  firing_.fetch_sub(1);
  fired += static_cast<int>(due.size());
  return earliest;
}

int TimerService::fire_due() {
  int fired = 0;
  scan(now_ns(), fired);
  return fired;
}

void TimerService::run() {
  platform::set_current_thread_name("fnhost-timer");
  const int64_t linger_ns = saturated_ns(options_.linger);
  int fired = 0;
  for (;;) {
    {
      MutexLock lock(mu_);
      int64_t idle_since = 0;
      bool idle_hook_ran = false;
      for (;;) {
        if (stop_) return;
        const int64_t wake = next_wake_ns_.load();
        const int64_t now = platform::now_ns();
        if (wake <= now) break;
        if (wake == kNever) {
          // Nothing pending: linger a while (a busy host arms timers constantly), then leave.
          if (idle_since == 0) idle_since = now;
          if (now - idle_since >= linger_ns) {
            if (options_.on_idle != nullptr && !idle_hook_ran) {
              // Unlocked: the hook may take a while, and arm() must not wait for it. Something
              // armed meanwhile is seen when the loop looks again.
              idle_hook_ran = true;
              mu_.unlock();
              options_.on_idle();
              mu_.lock();
              continue;
            }
            thread_running_ = false;
            return;
          }
          cv_.wait_until(mu_, std::chrono::steady_clock::time_point(
                                  std::chrono::nanoseconds(idle_since + linger_ns)));
        } else {
          idle_since = 0;
          idle_hook_ran = false;
          // Timers are usually unlinked long before they are due (the invocation ended), and
          // nobody tells this thread: so it looks again at least every `linger`, and leaves
          // once it finds nothing pending, rather than sleep until a deadline that is gone.
          // With only long-lived timers pending (schedules) it sleeps until the earliest.
          const int64_t until = short_lived_armed_.load() ? std::min(wake, now + linger_ns) : wake;
          cv_.wait_until(mu_,
                         std::chrono::steady_clock::time_point(std::chrono::nanoseconds(until)));
          if (platform::now_ns() >= until) break;
        }
      }
      next_wake_ns_.store(kNever);
    }
    const int64_t earliest = scan(platform::now_ns(), fired);
    if (earliest != kNever) {
      MutexLock lock(mu_);
      if (earliest < next_wake_ns_.load()) next_wake_ns_.store(earliest);
    }
  }
}

}  // namespace fnhost::detail
