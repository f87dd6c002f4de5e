// SPDX-License-Identifier: Apache-2.0
// AutoscalingExecutor::Impl, submitting: publish a task, then wake a parked worker or create
// one for it when that helps (see the design comment in autoscaling_impl.hpp).
#include <cstdint>
#include <utility>

#include "executor/autoscaling_impl.hpp"

namespace fnhost {

absl::Status AutoscalingExecutor::Impl::submit(Task&& task) {
  if (!task) {
    // Running it would call through a null pointer on a worker and end the process.
    return absl::InvalidArgumentError("AutoscalingExecutor: task is empty");
  }
  bool spawned_for_this = false;
  if ((population.load(std::memory_order_relaxed) & detail::kThreadsMask) == 0 && !is_stopping()) {
    // Scale from zero: make sure a thread exists before publishing, so a task is never
    // accepted by an executor that cannot run it.
    spawned_for_this = spawn_worker();
    if (!spawned_for_this && thread_count() == 0) {
      return absl::ResourceExhaustedError(
          "AutoscalingExecutor: no worker thread is alive and none can be created");
    }
  }
  const int64_t before = pending.fetch_add(1);
  if (before & detail::kStoppedBit) {
    pending.fetch_sub(1);
    wake_idle_waiters();  // a waiter may have seen our count for a moment
    return absl::UnavailableError("AutoscalingExecutor: shut down; task not accepted");
  }
  queue.enqueue(std::move(task));
  if (spawned_for_this) {
    // The thread started for this very task will find it, unless it already looked, found
    // nothing and parked, or even retired (it re-checks pending_ after counting itself idle
    // or gone; we read idle and threads after publishing: one of us sees the other). Do not
    // start a second thread otherwise: that would double every burst that starts from zero.
    if (idle.load() > 0) {
      wake_one();
    } else if (thread_count() == 0) {
      notify_work();
    }
  } else {
    notify_work(/*backlog=*/before);
  }
  return absl::OkStatus();
}

void AutoscalingExecutor::Impl::notify_work(int64_t backlog) {
  const int searcher = searching.load();
  if (searcher == detail::kSpinning) {
    // The searcher takes the next task within its spin. A task that found others waiting
    // means it has not taken them: it was preempted (a kernel thread, a busy hypervisor), and
    // its tasks would wait for its return, hundreds of microseconds on a VM, though a parked
    // worker could take them.
    if (backlog == 0 || idle.load() == 0) return;
  } else if (searcher >= detail::kBatchRole && backlog < detail::kBatchTasks) {
    // The batch role's holder takes them with its next batch. More than a batch waiting: it
    // cannot keep up (or is stuck, which the monitor sees): bring another worker.
    return;
  }
  if (effective_running() >= cpus) {
    request_monitor();
    return;
  }
  if (idle.load() > 0 && wake_one()) return;
  if (!spawn_worker()) request_monitor();
}

bool AutoscalingExecutor::Impl::wake_one() {
  WorkerSlot* slot = nullptr;
  {
    MutexLock lock(idle_mu);
    if (idle_stack.empty()) return false;
    slot = idle_stack.back();
    idle_stack.pop_back();
    // active++ before idle--: a notifier reading both never sees this worker in neither
    // state, which would make it create a thread for work a woken worker is about to take.
    active.fetch_add(1);
    idle.fetch_sub(1);
  }
  MutexLock lock(slot->park_mu);
  slot->wake_signal = true;
  slot->park_cv.notify_one();
  return true;
}

}  // namespace fnhost
