// SPDX-License-Identifier: Apache-2.0
// AutoscalingExecutor::Impl, worker threads: starting them (directly or from the monitor's
// spawn debt), retiring idle ones, and a worker's exit and slot reuse.
#include <algorithm>
#include <cstdint>
#include <utility>

#include "common/sync.hpp"
#include "executor/autoscaling_impl.hpp"
#include "platform/platform.hpp"

namespace fnhost {

bool AutoscalingExecutor::Impl::spawn_worker() {
  // Counted alive and spawned in one step, before the thread exists: it can run (and show in
  // `busy`) before this function returns.
  int64_t word = population.load();
  do {
    if ((word & detail::kThreadsMask) >= options.max_threads) return false;
  } while (!population.compare_exchange_weak(word, word + 1 + detail::kSpawnedUnit));
  raise_peak(peak_threads, (word & detail::kThreadsMask) + 1);
  int index = -1;
  detail::Backoff backoff;
  while (index < 0) {
    {
      MutexLock lock(slots_mu);
      if (slots_closed) {
        population.fetch_sub(1 + detail::kSpawnedUnit);
        return false;
      }
      if (!free_slots.empty()) {
        index = free_slots.back();
        free_slots.pop_back();
        // A slot freed by an exited worker still holds its thread handle: join it (it has
        // returned from its body, so this does not wait for long) before reuse.
        slots[index].thread.join();
        slots[index].handle_stored = false;
        slots[index].exited_early = false;
        slots[index].live.store(true);
        ++spawns_in_progress;
        break;
      }
    }
    // No free slot although we hold a thread count below max_threads: a retiring worker
    // gave back its count and is a few instructions from giving back its slot. Wait for it
    // rather than refuse a thread the executor may have.
    backoff.pause();
  }
  active.fetch_add(1);
  WorkerSlot& slot = slots[index];
  raise_high_water(index + 1);
  // Thread creation is slow (tens of microseconds): outside the lock.
  platform::Thread thread;
  absl::Status started = thread.start(options.stack_size, [this, &slot] { worker_main(slot); });
  {
    MutexLock lock(slots_mu);
    --spawns_in_progress;
    if (started.ok()) {
      slot.thread = std::move(thread);
      slot.handle_stored = true;
      if (slot.exited_early) free_slots.push_back(index);
    } else {
      free_slots.push_back(index);
    }
  }
  if (!started.ok()) {
    slot.live.store(false);
    active.fetch_sub(1);
    // Not alive and never spawned: both counts go back together.
    population.fetch_sub(1 + detail::kSpawnedUnit);
    spawn_debt.store(0);
    return false;
  }
  return true;
}

void AutoscalingExecutor::Impl::raise_high_water(int value) {
  int seen = slot_high_water.load();
  while (value > seen && !slot_high_water.compare_exchange_weak(seen, value)) {
  }
}

void AutoscalingExecutor::Impl::spawn_from_debt(int limit) {
  for (int i = 0; i < limit; ++i) {
    int debt = spawn_debt.load();
    do {
      if (debt <= 0) return;
    } while (!spawn_debt.compare_exchange_weak(debt, debt - 1));
    if (!spawn_worker()) {
      spawn_debt.store(0);
      return;
    }
  }
}

void AutoscalingExecutor::Impl::add_workers(int count) {
  while (count > 0 && idle.load() > 0 && wake_one()) --count;
  if (count <= 0) return;
  const int room = options.max_threads - thread_count();
  count = std::min(count, room);
  if (count <= 0) return;
  spawn_debt.fetch_add(count - 1);
  if (!spawn_worker()) spawn_debt.store(0);
}

bool AutoscalingExecutor::Impl::try_retire() {
  int64_t word = population.load();
  do {
    if ((word & detail::kThreadsMask) <= options.min_threads) return false;
  } while (!population.compare_exchange_weak(word, word - 1));
  if (pending_count() > 0 && !is_stopping()) {
    population.fetch_add(1);
    return false;
  }
  // After the thread count went down: every snapshot has spawned >= threads + reclaimed.
  reclaimed.fetch_add(1);
  return true;
}

void AutoscalingExecutor::Impl::exit_worker(WorkerSlot& slot, ParkOutcome outcome) {
  // A retired worker gave back its thread count in try_retire; one leaving at shutdown
  // gives it back here. Both were counted active.
  if (outcome != ParkOutcome::kRetired) population.fetch_sub(1);
  const uint32_t marks = slot.marks.exchange(0);
  account_marks(marks, 0);
  active.fetch_sub(1);
  detail::tls_worker = nullptr;
  slot.tid.store(0);
  {
    // The handle stays in the slot until it is reused or the executor is destroyed;
    // joining then waits only for this thread's last instructions.
    MutexLock lock(slots_mu);
    if (slot.handle_stored) {
      free_slots.push_back(slot.index);
    } else {
      slot.exited_early = true;
    }
  }
  slot.live.store(false);  // last: shutdown treats a non-live slot as joinable at once
}

}  // namespace fnhost
