// SPDX-License-Identifier: Apache-2.0
#include "observability/telemetry_queue.hpp"

#include <chrono>
#include <utility>

#include "platform/deadline.hpp"

namespace fnhost::detail {

namespace {
// A writer with nothing to write lingers this long, then leaves: an idle host keeps no thread.
constexpr auto kWriterLinger = std::chrono::seconds(1);
// The queue whose writer is the calling thread, if any: its flush() must not wait for itself.
thread_local const TelemetryQueue* writing_for = nullptr;
}  // namespace

TelemetryQueue::~TelemetryQueue() { (void)stop(); }

int64_t TelemetryQueue::stop() {
  platform::Thread writer;
  std::deque<Item> dropped;
  {
    MutexLock lock(mu_);
    stop_ = true;
    dropped.swap(items_);
    size_.store(0, std::memory_order_relaxed);
    finished_ += static_cast<int64_t>(dropped.size());
    writer = std::move(writer_);
  }
  wake_.notify_all();
  flushed_.notify_all();
  if (writer.joinable()) writer.join();
  return static_cast<int64_t>(dropped.size());
}

bool TelemetryQueue::push(Item item) {
  MutexLock lock(mu_);
  if (stop_ || items_.size() >= capacity_) return false;
  if (!writer_running_) {
    // The last writer has left (or is leaving: it no longer needs the lock).
    if (writer_.joinable()) writer_.join();
    if (!writer_.start(0, [this] { run(); }).ok()) return false;
    writer_running_ = true;
  }
  items_.push_back(std::move(item));
  size_.store(items_.size(), std::memory_order_relaxed);
  ++pushed_;
  // Only a writer that may be waiting needs the wake-up: it empties the queue before it waits.
  if (items_.size() == 1) wake_.notify_one();
  return true;
}

int64_t TelemetryQueue::queued() const {
  MutexLock lock(mu_);
  return static_cast<int64_t>(items_.size());
}

bool TelemetryQueue::flush(absl::Duration timeout) {
  if (writing_for == this) return false;
  const auto deadline = steady_deadline_after(timeout);
  MutexLock lock(mu_);
  const int64_t target = pushed_;
  while (finished_ < target) {
    if (!writer_running_) return false;  // nothing will write them
    if (!flushed_.wait_until(mu_, deadline) && std::chrono::steady_clock::now() >= deadline) {
      return finished_ >= target;
    }
  }
  return true;
}

void TelemetryQueue::run() {
  platform::set_current_thread_name("fnhost-export");
  // Telemetry yields the CPU to invocations: when both want it, records wait (and past the
  // queue's capacity are dropped and counted) rather than invocations.
  (void)platform::set_current_thread_background();
  writing_for = this;
  std::deque<Item> batch;
  MutexLock lock(mu_);
  for (;;) {
    if (items_.empty()) {
      if (stop_) break;
      const auto idle_until = std::chrono::steady_clock::now() + kWriterLinger;
      while (items_.empty() && !stop_ && std::chrono::steady_clock::now() < idle_until) {
        wake_.wait_until(mu_, idle_until);
      }
      if (items_.empty()) break;
    }
    batch.swap(items_);
    size_.store(0, std::memory_order_relaxed);
    mu_.unlock();
    int64_t done = 0;
    for (Item& item : batch) {
      try {
        std::move(item)();
      } catch (...) {
        // A failing sink loses its record, not the writer.
      }
      ++done;
    }
    written_.fetch_add(done, std::memory_order_relaxed);
    batch.clear();
    mu_.lock();
    finished_ += done;
    flushed_.notify_all();
  }
  writer_running_ = false;
  flushed_.notify_all();
}

}  // namespace fnhost::detail
