// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/telemetry_queue.hpp).
// The bounded queue between the threads that produce log records and spans and the sinks that
// write them: a slow sink must never stall an invocation. A producer's push never waits for the
// sink; when the queue is full the item is dropped and the producer counts it. One writer
// thread per queue, started on the first push and gone after a second idle, calls the sinks in
// push order (so one thread's records stay in order).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/sync.hpp"
#include "platform/platform.hpp"

namespace fnhost::detail {

class TelemetryQueue {
 public:
  // Writes one queued item to its sink. Runs on the writer thread.
  using Item = absl::AnyInvocable<void() &&>;

  // `capacity`: items queued at most (>= 1).
  explicit TelemetryQueue(size_t capacity) : capacity_(capacity) {}
  // stop().
  ~TelemetryQueue();
  TelemetryQueue(const TelemetryQueue&) = delete;
  TelemetryQueue& operator=(const TelemetryQueue&) = delete;

  // Queues `item`; false (and `item` destroyed unrun) when the queue is full or a writer
  // thread cannot be had. Never waits for the writer.
  bool push(Item item);
  // Whether a push now would find room (racy: a hint that spares building an item that would
  // be dropped; push() still decides).
  [[nodiscard]] bool has_room() const { return size_.load(std::memory_order_relaxed) < capacity_; }
  // Waits until every item pushed before the call was written, or `timeout` passed; returns
  // whether they were. From the writer thread itself (a sink that flushes) it returns false.
  bool flush(absl::Duration timeout);

  // Refuses pushes from now on, drops what is still queued (returns how many), and waits for
  // the writer to finish the item it is writing and leave. Flush first to write them instead.
  int64_t stop();

  [[nodiscard]] int64_t written() const { return written_.load(std::memory_order_relaxed); }
  [[nodiscard]] int64_t queued() const;

 private:
  void run();

  const size_t capacity_;
  mutable Mutex mu_;
  CondVar wake_;     // the writer: items or stop
  CondVar flushed_;  // flush(): more written
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  // Items pushed and items finished (written, or thrown by their sink) so far.
  int64_t pushed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  bool writer_running_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // The writer that ran last; joined before the next starts, and by the destructor.
  platform::Thread writer_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> written_{0};
  std::atomic<size_t> size_{0};  // items_.size(), for has_room()
};

}  // namespace fnhost::detail
