// SPDX-License-Identifier: Apache-2.0
// ManualExecutor: a FIFO of tasks run by whichever thread calls run_one/run_for/run_pending.
// A mutex-guarded deque keeps strict submission order across producers; a game loop pumps a
// few hundred to a few thousand tasks per frame, far below where the lock would matter.
#include <atomic>
#include <chrono>
#include <deque>
#include <utility>

#include "common/sync.hpp"
#include "fnhost/executor.hpp"

namespace fnhost {

using detail::Mutex;
using detail::MutexLock;

struct ManualExecutor::Impl {
  mutable Mutex mu;
  std::deque<Task> tasks ABSL_GUARDED_BY(mu);
  bool stopped ABSL_GUARDED_BY(mu) = false;
  std::atomic<int64_t> completed{0};
  std::atomic<int64_t> running{0};
};

ManualExecutor::ManualExecutor() : impl_(std::make_unique<Impl>()) {}

ManualExecutor::~ManualExecutor() {
  std::deque<Task> dropped;
  {
    MutexLock lock(impl_->mu);
    dropped.swap(impl_->tasks);
  }
  // Destroyed here, outside the lock: a task's captures may submit or inspect the executor.
}

absl::Status ManualExecutor::submit(Task task) {
  MutexLock lock(impl_->mu);
  if (impl_->stopped) {
    return absl::UnavailableError("ManualExecutor: shut down; task not accepted");
  }
  impl_->tasks.push_back(std::move(task));
  return absl::OkStatus();
}

bool ManualExecutor::run_one() {
  Task task;
  {
    MutexLock lock(impl_->mu);
    if (impl_->tasks.empty()) return false;
    task = std::move(impl_->tasks.front());
    impl_->tasks.pop_front();
  }
  impl_->running.fetch_add(1, std::memory_order_relaxed);
  try {
    task();
  } catch (...) {
    // A raw task has no one to report to; its exception must not unwind the pumping loop.
  }
  task = nullptr;
  impl_->running.fetch_sub(1, std::memory_order_relaxed);
  impl_->completed.fetch_add(1, std::memory_order_relaxed);
  return true;
}

int ManualExecutor::run_for(absl::Duration budget) {
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(budget);
  int ran = 0;
  while (std::chrono::steady_clock::now() < deadline && run_one()) ++ran;
  return ran;
}

int ManualExecutor::run_pending() {
  int ran = 0;
  while (run_one()) ++ran;
  return ran;
}

int64_t ManualExecutor::queued() const {
  MutexLock lock(impl_->mu);
  return static_cast<int64_t>(impl_->tasks.size());
}

void ManualExecutor::shutdown() {
  {
    MutexLock lock(impl_->mu);
    impl_->stopped = true;
  }
  run_pending();
}

ExecutorStats ManualExecutor::stats() const {
  ExecutorStats result;
  result.queued = queued();
  result.busy = impl_->running.load(std::memory_order_relaxed);
  result.completed = impl_->completed.load(std::memory_order_relaxed);
  return result;
}

}  // namespace fnhost
