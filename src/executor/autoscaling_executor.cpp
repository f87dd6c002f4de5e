// SPDX-License-Identifier: Apache-2.0
// The public AutoscalingExecutor: option validation and create(), the members that forward to
// Impl, current_task/mark_stuck, and BlockingScope. The design is described in
// autoscaling_impl.hpp.
#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "executor/autoscaling_impl.hpp"
#include "fmt/format.h"
#include "platform/deadline.hpp"
#include "platform/platform.hpp"

namespace fnhost {

// -------------------------------------------------------------------------------------------
namespace {

absl::Status validate(const ExecutorOptions& options) {
  const auto invalid = [](std::string message) {
    return absl::InvalidArgumentError(fmt::format("ExecutorOptions: {}", message));
  };
  if (options.max_threads < 1 || options.max_threads > 4096) {
    return invalid(fmt::format("max_threads must be in 1..4096, got {}", options.max_threads));
  }
  if (options.min_threads < 0 || options.min_threads > options.max_threads) {
    return invalid(fmt::format("min_threads must be in 0..max_threads ({}), got {}",
                               options.max_threads, options.min_threads));
  }
  if (options.idle_timeout <= absl::ZeroDuration()) {
    return invalid(fmt::format("idle_timeout must be > 0, got {}",
                               absl::FormatDuration(options.idle_timeout)));
  }
  if (options.stack_size != 0 && options.stack_size < 64 * 1024) {
    return invalid(fmt::format("stack_size must be 0 (default) or >= 65536 bytes, got {}",
                               options.stack_size));
  }
  if (options.cpu_count < 0) {
    return invalid(fmt::format("cpu_count must be >= 0 (0 detects), got {}", options.cpu_count));
  }
  if (options.monitor_interval < absl::Microseconds(100) ||
      options.monitor_interval > absl::Seconds(1)) {
    return invalid(fmt::format("monitor_interval must be in 100us..1s, got {}",
                               absl::FormatDuration(options.monitor_interval)));
  }
  if (options.nice && (*options.nice < -20 || *options.nice > 19)) {
    return invalid(fmt::format("nice must be in -20..19 or unset, got {}", *options.nice));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AutoscalingExecutor>> AutoscalingExecutor::create(
    ExecutorOptions options) {
  if (absl::Status status = validate(options); !status.ok()) return status;
  if (options.cpu_count == 0) options.cpu_count = platform::available_cpus();
  // Workers take the creator's priority, not that of whichever thread later makes them.
  if (!options.nice) options.nice = platform::current_thread_nice();
  auto impl = std::make_unique<Impl>(std::move(options));
  std::unique_ptr<AutoscalingExecutor> executor(new AutoscalingExecutor(std::move(impl)));
  for (int i = 0; i < executor->impl_->options.min_threads; ++i) {
    if (!executor->impl_->spawn_worker()) {
      // The executor's destructor joins the threads that did start.
      return absl::ResourceExhaustedError(
          fmt::format("AutoscalingExecutor: could not start min_threads ({}) threads: the "
                      "system refused a thread (lower min_threads or stack_size, or raise the "
                      "process's thread limit)",
                      executor->impl_->options.min_threads));
    }
  }
  return executor;
}

AutoscalingExecutor::AutoscalingExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AutoscalingExecutor::~AutoscalingExecutor() {
  if (!impl_) return;
  const absl::Status status = impl_->shutdown(/*discard=*/false);
  // Refused only on one of our own workers: joining would wait for this very thread.
  assert(status.ok());
  (void)status;
}

absl::Status AutoscalingExecutor::submit(Task task) { return impl_->submit(std::move(task)); }

ExecutorStats AutoscalingExecutor::stats() const { return impl_->stats(); }

absl::Status AutoscalingExecutor::shutdown() { return impl_->shutdown(/*discard=*/false); }

absl::Status AutoscalingExecutor::stop() { return impl_->shutdown(/*discard=*/true); }

absl::Status AutoscalingExecutor::wait_idle() {
  if (impl_->on_own_worker()) {
    return absl::FailedPreconditionError(
        "AutoscalingExecutor: wait_idle() called from one of its own tasks, which counts as "
        "running: it would wait for itself");
  }
  impl_->wait_idle_until(std::nullopt);
  return absl::OkStatus();
}

bool AutoscalingExecutor::wait_idle_for(absl::Duration timeout) {
  if (impl_->on_own_worker()) return false;
  return impl_->wait_idle_until(detail::steady_deadline_after(timeout));
}

const ExecutorOptions& AutoscalingExecutor::options() const { return impl_->options; }

// -------------------------------------------------------------------------------------------
BlockingScope::BlockingScope() : worker_(detail::tls_worker) {
  auto* slot = static_cast<WorkerSlot*>(worker_);
  if (slot == nullptr) return;
  if (slot->hint_depth++ > 0) return;
  AutoscalingExecutor::Impl& impl = *slot->owner;
  impl.set_mark(*slot, detail::kHintedBlocked);
  // The tasks it took with this one would wait for the block: others run them.
  impl.give_back(*slot);
  if (impl.pending_count() > 0) impl.notify_work();
}

BlockingScope::~BlockingScope() {
  auto* slot = static_cast<WorkerSlot*>(worker_);
  if (slot == nullptr) return;
  if (--slot->hint_depth > 0) return;
  slot->owner->clear_mark(*slot, detail::kHintedBlocked);
}

ExecutorTraits AutoscalingExecutor::traits() const {
  return {.pumped = false, .tracks_stuck_tasks = true};
}

RunningTask AutoscalingExecutor::current_task() const {
  WorkerSlot* slot = detail::tls_worker;
  if (slot == nullptr || slot->owner != impl_.get()) return {};
  return {slot, slot->task_seq.load(std::memory_order_relaxed)};
}

void AutoscalingExecutor::mark_stuck(const RunningTask& task) {
  if (!task) return;
  // const_cast: the handle was made from one of this executor's own (mutable) slots.
  WorkerSlot& slot = *static_cast<WorkerSlot*>(const_cast<void*>(task.worker));
  if (slot.owner != impl_.get() || slot.task_seq.load() != task.sequence) return;
  Impl& impl = *impl_;
  impl.set_mark(slot, detail::kStuck);
  // The task may have ended between the check and the mark; its worker clears kStuck at the
  // end of a task, so undo only if we are sure it is gone.
  if (slot.task_seq.load() != task.sequence) {
    impl.clear_mark(slot, detail::kStuck);
    return;
  }
  impl.give_back(slot);
  if (impl.pending_count() > 0) impl.notify_work();
}

}  // namespace fnhost
