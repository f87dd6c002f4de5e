// SPDX-License-Identifier: Apache-2.0
// ManualExecutor: a FIFO of tasks run by whichever thread calls run_one/run_for/run_pending.
// A mutex-guarded deque keeps strict submission order across producers; a game loop pumps a
// few hundred to a few thousand tasks per frame, far below where the lock would matter.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "common/sync.hpp"
#include "fnhost/executor.hpp"
#include "platform/deadline.hpp"

namespace fnhost {

using detail::CondVar;
using detail::Mutex;
using detail::MutexLock;

namespace detail {

// The ManualExecutors whose tasks the calling thread is running, innermost first: a task may
// pump another executor (or its own, through help_one), so it is a stack, kept in the frames of
// run_one. In detail, not an anonymous namespace: it names the private ManualExecutor::Impl and
// is its friend.
struct RunningFrame {
  const ManualExecutor::Impl* executor;
  const RunningFrame* outer;
};

}  // namespace detail

using detail::RunningFrame;

namespace {

thread_local const RunningFrame* tls_running = nullptr;

}  // namespace

struct ManualExecutor::Impl {
  struct Queued {
    uint64_t sequence;  // submission order, for run_queued()
    Task task;
  };

  mutable Mutex mu;
  CondVar changed;  // a task ended or was queued, or the queue was emptied; for waiters
  std::deque<Queued> tasks ABSL_GUARDED_BY(mu);
  uint64_t next_sequence ABSL_GUARDED_BY(mu) = 0;
  int64_t running ABSL_GUARDED_BY(mu) = 0;
  int waiters ABSL_GUARDED_BY(mu) = 0;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  std::atomic<int64_t> completed{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> discarded{0};
  std::atomic<int64_t> running_now{0};  // `running`, readable without the lock by stats()

  bool is_running_here() const {
    for (const RunningFrame* frame = tls_running; frame != nullptr; frame = frame->outer) {
      if (frame->executor == this) return true;
    }
    return false;
  }

  // Runs the oldest task if it was submitted before `limit`; returns whether one ran.
  bool run_one_before(uint64_t limit) {
    Task task;
    {
      MutexLock lock(mu);
      if (tasks.empty() || tasks.front().sequence >= limit) return false;
      task = std::move(tasks.front().task);
      tasks.pop_front();
      ++running;
      running_now.store(running, std::memory_order_relaxed);
    }
    const RunningFrame frame{this, tls_running};
    tls_running = &frame;
    bool threw = false;
    try {
      task();
    } catch (...) {
      // A raw task has no one to report to; its exception must not unwind the pumping loop.
      threw = true;
    }
    task = nullptr;  // captures are released before the task counts as finished
    tls_running = frame.outer;
    (threw ? failed : completed).fetch_add(1, std::memory_order_relaxed);
    MutexLock lock(mu);
    --running;
    running_now.store(running, std::memory_order_relaxed);
    if (waiters > 0) changed.notify_all();
    return true;
  }

  // Until no task is queued or running (running queued ones here), or `deadline`.
  bool wait_idle_until(std::optional<std::chrono::steady_clock::time_point> deadline) {
    for (;;) {
      if (deadline && std::chrono::steady_clock::now() >= *deadline) return is_idle();
      if (run_one_before(UINT64_MAX)) continue;
      MutexLock lock(mu);
      if (tasks.empty() && running == 0) return true;
      if (!tasks.empty()) continue;
      // Only other threads' tasks are left: wait for one to end (or a new one to queue).
      ++waiters;
      if (deadline) {
        changed.wait_until(mu, *deadline);
      } else {
        changed.wait(mu);
      }
      --waiters;
    }
  }

  bool is_idle() const {
    MutexLock lock(mu);
    return tasks.empty() && running == 0;
  }

  // Waits until tasks running on other threads have ended.
  void wait_running() {
    MutexLock lock(mu);
    ++waiters;
    while (running > 0) changed.wait(mu);
    --waiters;
  }
};

ManualExecutor::ManualExecutor() : impl_(std::make_unique<Impl>()) {}

ManualExecutor::~ManualExecutor() {
  std::deque<Impl::Queued> dropped;
  {
    MutexLock lock(impl_->mu);
    dropped.swap(impl_->tasks);
  }
  // Destroyed here, outside the lock: a task's captures may submit or inspect the executor.
}

absl::Status ManualExecutor::submit(Task task) {
  if (!task) {
    // Running it would call through a null pointer on the pumping thread.
    return absl::InvalidArgumentError("ManualExecutor: task is empty");
  }
  MutexLock lock(impl_->mu);
  if (impl_->stopped) {
    return absl::UnavailableError("ManualExecutor: shut down; task not accepted");
  }
  impl_->tasks.push_back({impl_->next_sequence++, std::move(task)});
  if (impl_->waiters > 0) impl_->changed.notify_all();
  return absl::OkStatus();
}

bool ManualExecutor::run_one() { return impl_->run_one_before(UINT64_MAX); }

int ManualExecutor::run_for(absl::Duration budget) {
  const auto deadline = detail::steady_deadline_after(budget);
  int ran = 0;
  while (std::chrono::steady_clock::now() < deadline && run_one()) ++ran;
  return ran;
}

int ManualExecutor::run_queued() {
  uint64_t limit = 0;
  {
    MutexLock lock(impl_->mu);
    limit = impl_->next_sequence;
  }
  int ran = 0;
  while (impl_->run_one_before(limit)) ++ran;
  return ran;
}

int ManualExecutor::run_pending() {
  int ran = 0;
  while (run_one()) ++ran;
  return ran;
}

absl::Status ManualExecutor::wait_idle() {
  if (impl_->is_running_here()) {
    return absl::FailedPreconditionError(
        "ManualExecutor: wait_idle() called from one of its own tasks, which counts as running: "
        "it would wait for itself");
  }
  impl_->wait_idle_until(std::nullopt);
  return absl::OkStatus();
}

bool ManualExecutor::wait_idle_for(absl::Duration timeout) {
  if (impl_->is_running_here()) return false;
  return impl_->wait_idle_until(detail::steady_deadline_after(timeout));
}

int64_t ManualExecutor::queued() const {
  MutexLock lock(impl_->mu);
  return static_cast<int64_t>(impl_->tasks.size());
}

absl::Status ManualExecutor::shutdown() {
  if (impl_->is_running_here()) {
    return absl::FailedPreconditionError(
        "ManualExecutor: shutdown() called from one of its own tasks; call it from the pumping "
        "loop instead");
  }
  {
    MutexLock lock(impl_->mu);
    impl_->stopped = true;
  }
  run_pending();
  impl_->wait_running();
  return absl::OkStatus();
}

absl::Status ManualExecutor::stop() {
  if (impl_->is_running_here()) {
    return absl::FailedPreconditionError(
        "ManualExecutor: stop() called from one of its own tasks; call it from the pumping loop "
        "instead");
  }
  std::deque<Impl::Queued> dropped;
  {
    MutexLock lock(impl_->mu);
    impl_->stopped = true;
    dropped.swap(impl_->tasks);
  }
  const auto count = static_cast<int64_t>(dropped.size());
  // Destroyed outside the lock: a task's captures may call back into the executor.
  dropped.clear();
  impl_->discarded.fetch_add(count, std::memory_order_relaxed);
  impl_->wait_running();
  return absl::OkStatus();
}

ExecutorStats ManualExecutor::stats() const {
  ExecutorStats result;
  result.queued = queued();
  result.busy = impl_->running_now.load(std::memory_order_relaxed);
  result.completed = impl_->completed.load(std::memory_order_relaxed);
  result.failed = impl_->failed.load(std::memory_order_relaxed);
  result.discarded = impl_->discarded.load(std::memory_order_relaxed);
  return result;
}

}  // namespace fnhost
