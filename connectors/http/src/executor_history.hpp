// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/executor_history.hpp).
// The executor's recent thread counts for the dashboard's chart: a small ring of samples, filled
// by a sampling thread, so that a page opened now already has the last minutes to draw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/sync.hpp"
#include "fnhost/executor.hpp"
#include "fnhost/host.hpp"

namespace fnhost::http::detail {

// One look at the executor.
struct ExecutorSample {
  int64_t unix_ms = 0;  // when, on the system clock (milliseconds since 1970, UTC)
  int64_t threads = 0;
  int64_t busy = 0;
  int64_t queued = 0;
};

ExecutorSample sample_of(const ExecutorStats& stats, absl::Time when);

// Thread-safe. Holds at most kCapacity samples, the newest ones.
class ExecutorHistory {
 public:
  static constexpr size_t kCapacity = 120;

  ExecutorHistory() = default;
  ExecutorHistory(const ExecutorHistory&) = delete;
  ExecutorHistory& operator=(const ExecutorHistory&) = delete;
  // Stops sampling.
  ~ExecutorHistory();

  // Samples host.executor_stats() now and then every `interval` on a thread named
  // "fnhost-http-d", until stop(). ResourceExhausted if the thread cannot be created. Call
  // once; `host` must outlive the sampling.
  [[nodiscard]] absl::Status start(const Host& host, absl::Duration interval);
  // Wakes and joins the sampling thread. Idempotent; blocks for at most one sample.
  void stop();

  // Adds a sample, dropping the oldest beyond kCapacity.
  void record(const ExecutorSample& sample);
  // The samples kept, oldest first.
  [[nodiscard]] std::vector<ExecutorSample> samples() const;

 private:
  void sample_until_stopped(const Host& host, absl::Duration interval);

  mutable fnhost::detail::Mutex mu_;
  fnhost::detail::CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<ExecutorSample> samples_ ABSL_GUARDED_BY(mu_);
  std::thread sampler_;
};

}  // namespace fnhost::http::detail
