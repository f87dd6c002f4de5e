// SPDX-License-Identifier: Apache-2.0
// AutoscalingExecutor::Impl, batches: the worker holding the batch role, in a dense stream of
// short tasks, takes them from the queue up to kBatchTasks at a time and lets a batch gather
// after it drained the queue (see the design comment in autoscaling_impl.hpp).
// The tasks a worker took and has not started are "held" by its slot: anyone may give them
// back (ahead of the queue) when the worker stays in one task.
#include <cstdint>
#include <utility>

#include "common/sync.hpp"
#include "executor/autoscaling_impl.hpp"
#include "platform/platform.hpp"

namespace fnhost {

void AutoscalingExecutor::Impl::note_quick_take(detail::StreamPace& pace) {
  if (pace.quick_takes == 0) pace.first_quick_ns = platform::now_ns();
  if (++pace.quick_takes < detail::kDenseRun) return;
  // Only ever switches batches on: they end in take_batch(), which also gives up the role.
  if (platform::now_ns() - pace.first_quick_ns < detail::kDenseRun * detail::kShortTaskNs) {
    pace.batching = true;
  }
  pace.quick_takes = 0;
}

uint32_t AutoscalingExecutor::Impl::take_batch(WorkerSlot& slot,
                                               moodycamel::ConsumerToken& token,
                                               detail::StreamPace& pace) {
  const auto leave_batch_mode = [&] {
    pace = {};
    release_batch_role(slot);
    return 0u;
  };
  // One worker at a time takes batches: a task that blocks keeps the rest of its batch from
  // other workers until the monitor gives them back, so with several batching workers a stream
  // of tasks that wait for their successors could block every thread up to max_threads.
  if (!takes_batch_role(slot)) return leave_batch_mode();
  if (pace.batch_size > 0) {
    const int64_t now = platform::now_ns();
    if (now - pace.batch_start_ns >= int64_t{pace.batch_size} * detail::kShortTaskNs) {
      return leave_batch_mode();  // not short tasks after all
    }
    if (pace.batch_size < detail::kBatchTasks && !is_stopping()) {
      const int64_t gathered = now + detail::kCoalesceNs;
      while (platform::now_ns() < gathered) detail::cpu_relax();
    }
  }
  uint32_t taken = 0;
  {
    // A give_back() may still be moving the previous batch's unclaimed tasks out.
    MutexLock lock(slot.batch_mu);
    taken = static_cast<uint32_t>(queue.try_dequeue_bulk(token, slot.batch, detail::kBatchTasks));
    // Held before they leave pending_: wait_idle() sees every task in one or the other.
    if (taken > 0) slot.held.store(detail::held_word(taken, 0));
  }
  if (taken == 0) return leave_batch_mode();
  pace.batch_size = taken;
  pace.batch_start_ns = platform::now_ns();
  const int64_t waiting = (pending.fetch_sub(taken) & ~detail::kStoppedBit) - taken;
  // The monitor watches over held tasks (after publishing them: pairs with its retiring).
  if (!monitor_active.load() && (taken > 1 || waiting > 0)) request_monitor();
  if (waiting > 0) notify_work(waiting);
  return taken;
}

bool AutoscalingExecutor::Impl::takes_batch_role(WorkerSlot& slot) {
  const int mine = detail::kBatchRole + slot.index;
  int seen = searching.load(std::memory_order_relaxed);
  if (seen == mine) return true;
  if (seen != 0 || !searching.compare_exchange_strong(seen, mine)) return false;
  // Submits now trust this worker with their tasks: the monitor watches it.
  if (!monitor_active.load()) request_monitor();
  return true;
}

void AutoscalingExecutor::Impl::release_batch_role(WorkerSlot& slot) {
  int mine = detail::kBatchRole + slot.index;
  searching.compare_exchange_strong(mine, 0);
}

bool AutoscalingExecutor::Impl::run_held(WorkerSlot& slot) {
  uint32_t word = slot.held.load(std::memory_order_relaxed);
  if (detail::held_unclaimed(word) == 0) return false;
  // Odd before the task leaves `held`, as before a task leaves pending_.
  begin_task(slot);
  while (detail::held_unclaimed(word) > 0) {
    if (slot.held.compare_exchange_weak(word, word + 1)) {
      run_or_discard(slot, slot.batch[detail::held_next(word)]);
      return true;
    }
  }
  end_task(slot);  // given back meanwhile
  return false;
}

uint32_t AutoscalingExecutor::Impl::give_back(WorkerSlot& slot) {
  uint32_t given = 0;
  // With one thread no other worker could run them, and one submitter's tasks keep their order.
  if (options.max_threads > 1) {
    MutexLock lock(slot.batch_mu);
    uint32_t word = slot.held.load();
    while (detail::held_unclaimed(word) > 0) {
      const uint32_t count = detail::held_unclaimed(word);
      // Counted before they leave the batch, so wait_idle() and shutdown never miss them;
      // until they are in `returned`, workers see them as moments away.
      pending.fetch_add(count);
      const uint32_t size = detail::held_size(word);
      if (slot.held.compare_exchange_strong(word, detail::held_word(size, size))) {
        MutexLock returned_lock(returned_mu);
        for (uint32_t i = detail::held_next(word); i < size; ++i) {
          returned.push_back(std::move(slot.batch[i]));
        }
        returned_count.fetch_add(count);
        given = count;
        break;
      }
      pending.fetch_sub(count);
    }
  }
  release_batch_role(slot);
  return given;
}

bool AutoscalingExecutor::Impl::take_returned(Task& task) {
  MutexLock lock(returned_mu);
  if (returned.empty()) return false;
  task = std::move(returned.front());
  returned.pop_front();
  returned_count.fetch_sub(1);
  return true;
}

int64_t AutoscalingExecutor::Impl::held_count() const {
  int64_t held = 0;
  const int high_water = slot_high_water.load();
  for (int i = 0; i < high_water; ++i) held += detail::held_unclaimed(slots[i].held.load());
  return held;
}

}  // namespace fnhost
