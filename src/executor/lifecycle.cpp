// SPDX-License-Identifier: Apache-2.0
// AutoscalingExecutor::Impl, lifecycle: construction, accepted-task accounting and wait_idle,
// shutdown/stop (drain or discard, join every thread), and stats.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/sync.hpp"
#include "executor/autoscaling_impl.hpp"
#include "fmt/format.h"
#include "platform/platform.hpp"

namespace fnhost {

AutoscalingExecutor::Impl::Impl(ExecutorOptions resolved)
    : options(std::move(resolved)),
      cpus(options.cpu_count),
      slots(new WorkerSlot[static_cast<size_t>(options.max_threads)]) {
  for (int i = 0; i < options.max_threads; ++i) {
    slots[i].owner = this;
    slots[i].index = i;
  }
  MutexLock lock(slots_mu);
  free_slots.reserve(static_cast<size_t>(options.max_threads));
  for (int i = options.max_threads - 1; i >= 0; --i) free_slots.push_back(i);
  MutexLock idle_lock(idle_mu);
  idle_stack.reserve(static_cast<size_t>(options.max_threads));
}

void AutoscalingExecutor::Impl::wake_idle_waiters() {
  // seq_cst after the caller's seq_cst end of work (a slot's sequence, pending_): pairs with
  // wait_idle's "count myself a waiter, then look", so one of the two sees the other.
  if (idle_waiters.load() > 0) {
    MutexLock lock(idle_wait_mu);
    idle_wait_cv.notify_all();
  }
}

absl::Status AutoscalingExecutor::Impl::shutdown(bool discard) {
  if (on_own_worker()) {
    return absl::FailedPreconditionError(fmt::format(
        "AutoscalingExecutor: {}() called from one of its own tasks, which it would wait for; "
        "call it from a thread outside the executor",
        discard ? "stop" : "shutdown"));
  }
  if (discard) discarding.store(true);
  {
    MutexLock lock(shutdown_mu);
    if (shut_down) {
      while (!shutdown_done) shutdown_cv.wait(shutdown_mu);
      return absl::OkStatus();
    }
    shut_down = true;
  }
  pending.fetch_or(detail::kStoppedBit);
  if (discard) discard_queued();
  join_all();
  {
    MutexLock lock(shutdown_mu);
    shutdown_done = true;
    shutdown_cv.notify_all();
  }
  return absl::OkStatus();
}

void AutoscalingExecutor::Impl::discard_queued() {
  Task task;
  detail::Backoff backoff;
  while (pending_count() > 0) {
    if (take_returned(task) || queue.try_dequeue(task)) {
      discard(task);  // before it leaves pending_: until then wait_idle() counts it
      pending.fetch_sub(1);
      backoff = {};
    } else {
      // Counted but not yet enqueued by a submit that raced with the stop: moments away.
      // (Or a worker took it and is discarding it.)
      backoff.pause();
    }
  }
  wake_idle_waiters();
}

void AutoscalingExecutor::Impl::join_all() {
  // Wake everyone: parked workers see the stop flag, run what is left, and exit.
  for (;;) {
    if (!wake_one()) break;
  }
  if (pending_count() > 0 && thread_count() == 0) spawn_worker();
  // Wait for the workers to drain the queue and exit, waking any that park meanwhile.
  // Shutdown is rare, so a short poll here is simpler than another wake-up channel.
  for (;;) {
    while (wake_one()) {
    }
    if (!any_live_worker()) {
      if (pending_count() > 0) {
        // Every worker retired just before the last tasks arrived: run them on a new one.
        spawn_worker();
      } else {
        MutexLock lock(slots_mu);
        if (!any_live_worker() && spawns_in_progress == 0) {
          slots_closed = true;
          for (int i = 0; i < options.max_threads; ++i) slots[i].thread.join();
          break;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  {
    MutexLock lock(monitor_mu);
    monitor_stop = true;
    monitor_cv.notify_all();
  }
  platform::Thread monitor;
  {
    MutexLock lock(monitor_mu);
    monitor = std::move(monitor_thread);
  }
  monitor.join();
}

bool AutoscalingExecutor::Impl::is_idle() const {
  if (pending_count() != 0) return false;
  const int high_water = slot_high_water.load();
  // Per slot, its held batch word and its sequence: a task leaves pending_ into `held` and
  // leaves `held` with an odd sequence, each published before the next step.
  struct Seen {
    uint32_t held;
    uint64_t seq;
  };
  std::vector<Seen> seen(static_cast<size_t>(high_water));
  for (int i = 0; i < high_water; ++i) {
    Seen& slot = seen[static_cast<size_t>(i)];
    slot.held = slots[i].held.load();
    slot.seq = slots[i].task_seq.load();
    if (detail::held_unclaimed(slot.held) != 0 || (slot.seq & 1) != 0) return false;
  }
  if (pending_count() != 0 || slot_high_water.load() != high_water) return false;
  for (int i = 0; i < high_water; ++i) {
    const Seen& slot = seen[static_cast<size_t>(i)];
    if (slots[i].held.load() != slot.held || slots[i].task_seq.load() != slot.seq) return false;
  }
  return true;
}

bool AutoscalingExecutor::Impl::wait_idle_until(
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (is_idle()) return true;
  idle_waiters.fetch_add(1);
  bool idle_now = true;
  {
    MutexLock lock(idle_wait_mu);
    while (!is_idle()) {
      if (!deadline) {
        idle_wait_cv.wait(idle_wait_mu);
      } else if (!idle_wait_cv.wait_until(idle_wait_mu, *deadline)) {
        idle_now = is_idle();
        break;
      }
    }
  }
  idle_waiters.fetch_sub(1);
  return idle_now;
}

bool AutoscalingExecutor::Impl::any_live_worker() const {
  const int high_water = slot_high_water.load();
  for (int i = 0; i < high_water; ++i) {
    if (slots[i].live.load()) return true;
  }
  return false;
}

ExecutorStats AutoscalingExecutor::Impl::stats() const {
  ExecutorStats result;
  // Order matters (see ExecutorStats): reclaimed before the population word, so that
  // spawned >= threads + reclaimed holds in the snapshot. seq_cst loads keep the order.
  result.reclaimed = reclaimed.load();
  const int64_t word = population.load();
  result.threads = word & detail::kThreadsMask;
  result.spawned = word / detail::kSpawnedUnit;
  // A thread counted alive may not have raised the peak yet; it is a value threads had.
  result.peak_threads = std::max(peak_threads.load(), result.threads);
  result.idle = idle.load(std::memory_order_relaxed);
  // The spinning searcher is not busy; the batch role's holder runs its batches.
  const bool spinning = searching.load(std::memory_order_relaxed) == detail::kSpinning;
  result.busy = std::max<int64_t>(0, active.load(std::memory_order_relaxed) - (spinning ? 1 : 0));
  result.blocked = blocked.load(std::memory_order_relaxed);
  result.stuck = stuck.load(std::memory_order_relaxed);
  result.queued = pending_count() + held_count();
  result.peak_running = peak_running.load(std::memory_order_relaxed);
  result.discarded = discarded.load(std::memory_order_relaxed);
  const int high_water = slot_high_water.load();
  for (int i = 0; i < high_water; ++i) {
    result.completed += slots[i].completed.load(std::memory_order_relaxed);
    result.failed += slots[i].failed.load(std::memory_order_relaxed);
  }
  return result;
}

}  // namespace fnhost
