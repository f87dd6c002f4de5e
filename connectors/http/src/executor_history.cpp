// SPDX-License-Identifier: Apache-2.0
#include "executor_history.hpp"

#include <pthread.h>

#include <chrono>
#include <system_error>

#include "fmt/format.h"

namespace fnhost::http::detail {

ExecutorSample sample_of(const ExecutorStats& stats, absl::Time when) {
  return {.unix_ms = absl::ToUnixMillis(when),
          .threads = stats.threads,
          .busy = stats.busy,
          .queued = stats.queued};
}

ExecutorHistory::~ExecutorHistory() { stop(); }

absl::Status ExecutorHistory::start(const Host& host, absl::Duration interval) {
  record(sample_of(host.executor_stats(), absl::Now()));
  try {
    sampler_ = std::thread([this, &host, interval] { sample_until_stopped(host, interval); });
    // Named before start() returns, so the thread is known by its name from then on.
    pthread_setname_np(sampler_.native_handle(), "fnhost-http-d");
  } catch (const std::system_error& error) {
    return absl::ResourceExhaustedError(fmt::format(
        "HTTP gateway: cannot start the dashboard's sampling thread: {}", error.what()));
  }
  return absl::OkStatus();
}

void ExecutorHistory::stop() {
  {
    fnhost::detail::MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

void ExecutorHistory::record(const ExecutorSample& sample) {
  fnhost::detail::MutexLock lock(mu_);
  samples_.push_back(sample);
  if (samples_.size() > kCapacity) samples_.pop_front();
}

std::vector<ExecutorSample> ExecutorHistory::samples() const {
  fnhost::detail::MutexLock lock(mu_);
  return {samples_.begin(), samples_.end()};
}

void ExecutorHistory::sample_until_stopped(const Host& host, absl::Duration interval) {
  const auto period = absl::ToChronoNanoseconds(interval);
  // Each sample is due one period after the previous one was due, so the chart's spacing does
  // not drift by the time a sample takes.
  auto due = std::chrono::steady_clock::now() + period;
  for (;;) {
    {
      fnhost::detail::MutexLock lock(mu_);
      while (!stopping_ && wake_.wait_until(mu_, due)) {
      }
      if (stopping_) return;
    }
    // Read outside the lock: executor_stats() is the host's to serialise.
    record(sample_of(host.executor_stats(), absl::Now()));
    due += period;
    // After a long stall (a suspended machine) start afresh instead of sampling in a burst.
    if (const auto now = std::chrono::steady_clock::now(); due < now) due = now + period;
  }
}

}  // namespace fnhost::http::detail
