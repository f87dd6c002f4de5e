// SPDX-License-Identifier: Apache-2.0
// AutoscalingExecutor::Impl, the worker loop: run tasks, search for work, park, narrow at a task
// boundary; and the accounting that keeps blocked/stuck/computing in step with a slot's marks.
// Per task the worker touches only its own slot and pending_; the shared counts move when a
// worker starts or ends a run of back-to-back tasks, or a mark changes.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <utility>

#include "common/sync.hpp"
#include "executor/autoscaling_impl.hpp"
#include "fmt/format.h"
#include "platform/deadline.hpp"
#include "platform/platform.hpp"

namespace fnhost {

void AutoscalingExecutor::Impl::account_marks(uint32_t before, uint32_t after) {
  const auto category = [](uint32_t marks) {
    if (marks & detail::kStuck) return 2;
    return (marks & detail::kBlockedMarks) ? 1 : 0;
  };
  const auto is_computing = [&](uint32_t marks) {
    return (marks & detail::kInRun) != 0 && category(marks) == 0;
  };
  const int was = category(before);
  const int now = category(after);
  if (was != now) {
    if (was == 1) blocked.fetch_sub(1);
    if (was == 2) stuck.fetch_sub(1);
    if (now == 1) blocked.fetch_add(1);
    if (now == 2) stuck.fetch_add(1);
  }
  const bool was_computing = is_computing(before);
  const bool now_computing = is_computing(after);
  if (now_computing && !was_computing) {
    raise_peak(peak_running, computing.fetch_add(1) + 1);
  } else if (was_computing && !now_computing) {
    computing.fetch_sub(1);
  }
}

void AutoscalingExecutor::Impl::set_mark(WorkerSlot& slot, uint32_t mark) {
  const uint32_t before = slot.marks.fetch_or(mark);
  account_marks(before, before | mark);
}

void AutoscalingExecutor::Impl::clear_mark(WorkerSlot& slot, uint32_t mark) {
  const uint32_t before = slot.marks.fetch_and(~mark);
  account_marks(before, before & ~mark);
}

void AutoscalingExecutor::Impl::worker_main(WorkerSlot& slot) {
  detail::tls_worker = &slot;
  platform::set_current_thread_name(fmt::format("{}{}", options.thread_name_prefix, slot.index));
  // Our own priority, not the one of whichever thread created us (it passed its nice on).
  if (options.nice) platform::set_current_thread_nice(*options.nice);
  slot.cpu_clock.store(platform::current_thread_cpu_clock());
  slot.tid.store(platform::current_thread_id());
  spawn_from_debt(2);

  moodycamel::ConsumerToken token(queue);
  Task task;
  detail::StreamPace pace;
  ParkOutcome outcome = ParkOutcome::kWork;
  detail::Backoff backoff;
  // Narrowing: too many workers compute at once (blocked ones woke up); this one steps aside at
  // a task boundary, holding no tasks. The monitor wakes it if the others block.
  const auto narrow = [&] {
    pace = {};
    release_batch_role(slot);
    request_monitor();
    outcome = park(slot, /*narrowing=*/true);
    return outcome == ParkOutcome::kWork;
  };
  for (;;) {
    if (run_held(slot)) continue;
    if (pace.batching && returned_count.load(std::memory_order_relaxed) == 0) {
      if (should_narrow()) {
        if (!narrow()) break;
        continue;
      }
      if (take_batch(slot, token, pace) > 0) {
        backoff = {};
        continue;
      }
    }
    if (dequeue(token, task)) {
      backoff = {};
      begin_task(slot);
      // More work waits: if no monitor watches over it, bring a worker or the monitor now.
      // (A submit that saw a searcher relied on it; the searcher may have given up and
      // come here through park's re-check, and this task may block.)
      if (pending.fetch_sub(1) > 1 && !monitor_active.load()) notify_work();
      note_quick_take(pace);
      run_or_discard(slot, task);
      if (should_narrow() && !narrow()) break;
      continue;
    }
    if (pending_count() > 0) {
      // Published but not yet visible in the queue (the producer is between its count
      // increment and its enqueue): the task is moments away.
      backoff.pause();
      continue;
    }
    wake_idle_waiters();
    if (is_stopping()) {
      outcome = ParkOutcome::kStop;
      break;
    }
    // Out of work: whatever the pace said, the role goes (submits must not trust a worker
    // about to park).
    pace.batching = false;
    if (holds_batch_role(slot)) release_batch_role(slot);
    bool quick = false;
    if (search(token, task, quick)) {
      begin_task(slot);
      pending.fetch_sub(1);
      if (pending_count() > 0) notify_work();
      if (quick) {
        note_quick_take(pace);
      } else {
        pace.quick_takes = 0;
      }
      run_or_discard(slot, task);
      continue;
    }
    pace = {};
    outcome = park(slot, /*narrowing=*/false);
    if (outcome != ParkOutcome::kWork) break;
  }
  leave_run(slot);
  exit_worker(slot, outcome);
}

void AutoscalingExecutor::Impl::begin_task(WorkerSlot& slot) {
  // Odd before the task leaves pending_ (the decrement that follows publishes this store):
  // wait_idle() sees every accepted task either counted in pending_ or in an odd slot.
  slot.task_seq.store(slot.task_seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if ((slot.marks.load(std::memory_order_relaxed) & detail::kInRun) == 0) {
    set_mark(slot, detail::kInRun);
  }
}

void AutoscalingExecutor::Impl::end_task(WorkerSlot& slot) {
  // seq_cst: mark_stuck() marks, then re-reads the sequence; we publish the end, then read
  // the marks. One of us sees the other, so a stuck mark never outlives its task.
  slot.task_seq.store(slot.task_seq.load(std::memory_order_relaxed) + 1);
  if (slot.marks.load(std::memory_order_relaxed) & (detail::kStuck | detail::kHintedBlocked)) {
    clear_mark(slot, detail::kStuck | detail::kHintedBlocked);
  }
}

void AutoscalingExecutor::Impl::leave_run(WorkerSlot& slot) {
  if (slot.marks.load(std::memory_order_relaxed) & detail::kInRun) {
    clear_mark(slot, detail::kInRun);
  }
}

void AutoscalingExecutor::Impl::run_or_discard(WorkerSlot& slot, Task& task) {
  if (discarding.load(std::memory_order_relaxed)) {
    discard(task);
  } else {
    run_task(slot, task);
  }
  end_task(slot);
}

void AutoscalingExecutor::Impl::discard(Task& task) {
  task = nullptr;
  discarded.fetch_add(1, std::memory_order_relaxed);
}

void AutoscalingExecutor::Impl::run_task(WorkerSlot& slot, Task& task) {
  bool threw = false;
  try {
    task();
  } catch (...) {
    // A raw task has no one to report to; the exception is dropped so it never reaches
    // the worker's frame, and counted. Host invocations catch and report their own.
    threw = true;
  }
  task = nullptr;  // captured state is destroyed inside the task's accounting window
  std::atomic<int64_t>& count = threw ? slot.failed : slot.completed;
  count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

bool AutoscalingExecutor::Impl::search(moodycamel::ConsumerToken& token, Task& task,
                                       bool& quick) {
  int expected = 0;
  if (!searching.compare_exchange_strong(expected, detail::kSpinning)) return false;
  const int64_t give_up = platform::now_ns() + search_spin_ns.load(std::memory_order_relaxed);
  bool found = false;
  // Found within this many rounds (a microsecond or two): the stream is dense.
  constexpr int kQuickRounds = 64;
  for (int round = 0;; ++round) {
    if (pending_count() > 0 && dequeue(token, task)) {
      found = true;
      quick = round < kQuickRounds;
      break;
    }
    if (is_stopping() && pending_count() == 0) break;
    if ((round & 63) == 63 && platform::now_ns() >= give_up) break;
    detail::cpu_relax();
  }
  searching.store(0);
  return found;
}

AutoscalingExecutor::Impl::ParkOutcome AutoscalingExecutor::Impl::park(WorkerSlot& slot,
                                                                       bool narrowing) {
  leave_run(slot);
  if (slot.marks.load() & detail::kDetectedBlocked) clear_mark(slot, detail::kDetectedBlocked);
  {
    MutexLock lock(idle_mu);
    idle_stack.push_back(&slot);
    // idle++ before active--, as in wake_one: a parking worker is never in neither state (a
    // snapshot may show it in both for a moment; ExecutorStats allows that).
    idle.fetch_add(1);
    active.fetch_sub(1);
  }
  slot.parks.store(slot.parks.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  slot.parked.store(true);
  const int64_t parked_at = platform::now_ns();
  for (;;) {
    // Re-check after publishing that we park: a submit that missed us saw pending_ first. Work
    // a searcher is trusted with (see notify_work) is left to it.
    const int64_t waiting = pending_count();
    const int searcher = searching.load();
    const bool trusted = searcher == detail::kSpinning ||
                         (searcher >= detail::kBatchRole && waiting < detail::kBatchTasks);
    const bool work_waits =
        waiting > 0 && !trusted && (!narrowing || effective_running() < cpus);
    if ((work_waits || is_stopping()) && unpark_self(slot)) break;
    narrowing = false;

    const bool may_exit = thread_count() > options.min_threads;
    bool signaled = false;
    {
      MutexLock lock(slot.park_mu);
      if (may_exit) {
        const auto deadline = detail::steady_deadline_after(options.idle_timeout);
        while (!slot.wake_signal && slot.park_cv.wait_until(slot.park_mu, deadline)) {
        }
      } else {
        while (!slot.wake_signal) slot.park_cv.wait(slot.park_mu);
      }
      signaled = std::exchange(slot.wake_signal, false);
    }
    if (signaled) {
      adapt_search_spin(platform::now_ns() - parked_at);
      break;
    }
    // Timed out. Leave the idle stack unless a waker popped us meanwhile (then its signal
    // is on the way: wait for it).
    if (!unpark_self(slot)) {
      MutexLock lock(slot.park_mu);
      while (!slot.wake_signal) slot.park_cv.wait(slot.park_mu);
      slot.wake_signal = false;
      break;
    }
    if (try_retire()) {
      slot.parked.store(false);
      return ParkOutcome::kRetired;
    }
    // Could not retire (min_threads, or work arrived): park again.
    {
      MutexLock lock(idle_mu);
      idle_stack.push_back(&slot);
      idle.fetch_add(1);
      active.fetch_sub(1);
    }
  }
  slot.parked.store(false);
  return is_stopping_and_drained() ? ParkOutcome::kStop : ParkOutcome::kWork;
}

void AutoscalingExecutor::Impl::adapt_search_spin(int64_t parked_ns) {
  const int64_t spin = search_spin_ns.load(std::memory_order_relaxed);
  if (parked_ns < detail::kShortParkNs) {
    search_spin_ns.store(std::min(spin * 2, detail::kMaxSearchSpinNs), std::memory_order_relaxed);
  } else if (parked_ns > detail::kLongParkNs) {
    search_spin_ns.store(std::max(spin / 2, detail::kMinSearchSpinNs), std::memory_order_relaxed);
  }
}

bool AutoscalingExecutor::Impl::unpark_self(WorkerSlot& slot) {
  MutexLock lock(idle_mu);
  auto it = std::find(idle_stack.begin(), idle_stack.end(), &slot);
  if (it == idle_stack.end()) return false;
  idle_stack.erase(it);
  active.fetch_add(1);
  idle.fetch_sub(1);
  return true;
}

}  // namespace fnhost
