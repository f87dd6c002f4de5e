// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/telemetry_queue.hpp).
// The bounded queue between the threads that produce log records and spans and the sinks that
// write them: a slow sink must never stall an invocation. A producer's push never waits — not
// for the sink, and not for a lock the writer holds: the queue is a lock-free ring (a ticket
// per item, Vyukov's bounded queue), so a writer thread preempted while it takes items (it runs
// at the lowest priority) holds up no invocation. When the ring is full the item is dropped and
// the producer counts it. One writer thread per queue, started by the first push and gone after
// a second idle, calls the sinks in ticket order: items pushed one after another, from one
// thread or from threads that waited for each other, are written in that order.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/sync.hpp"
#include "platform/platform.hpp"

namespace fnhost::detail {

class TelemetryQueue {
 public:
  // Writes one queued item to its sink. Runs on the writer thread.
  using Item = absl::AnyInvocable<void() &&>;

  // `capacity`: items queued at most (1..kMaxCapacity). The ring (about 40 bytes an item) is
  // allocated by the first push.
  static constexpr int64_t kMaxCapacity = int64_t{1} << 20;
  explicit TelemetryQueue(size_t capacity)
      : capacity_(static_cast<int64_t>(capacity)), places_(std::max<int64_t>(capacity_, 2)) {}
  // stop().
  ~TelemetryQueue();
  TelemetryQueue(const TelemetryQueue&) = delete;
  TelemetryQueue& operator=(const TelemetryQueue&) = delete;

  // Queues `item`; false (and `item` destroyed unrun) when the queue is full, stopped, or a
  // writer thread cannot be had. Never waits for the writer.
  bool push(Item item);
  // Whether a push now would find room (racy: a hint that spares building an item that would
  // be dropped; push() still decides). It reads a flag that a push which found the queue full
  // sets and the writer clears as it makes room: admission asks this for every invocation, and
  // the flag's line changes only at those moments, where the counts change with every push.
  [[nodiscard]] bool has_room() const { return !full_.load(std::memory_order_relaxed); }
  // Waits until every item pushed before the call was written, or `timeout` passed; returns
  // whether they were. From the writer thread itself (a sink that flushes) it returns false.
  bool flush(absl::Duration timeout);

  // Refuses pushes from now on, waits for the writer to finish the items it is writing and
  // leave, and drops what is still queued (returns how many). Flush first to write them.
  int64_t stop();

  [[nodiscard]] int64_t written() const { return written_.load(std::memory_order_relaxed); }
  [[nodiscard]] int64_t queued() const { return std::max<int64_t>(0, queued_now()); }

 private:
  void run();
  // Starts a writer unless one runs (allocating the ring first); false if none can be had.
  bool ensure_writer();
  // Takes up to `max` items in ticket order into `out`, freeing their places; how many. The
  // writer's alone (and stop()'s, once the writer is gone).
  size_t take(Item* out, size_t max);
  // A push found no room: says so in full_ (unless it already does).
  void note_full();
  // Pushed and not yet taken by the writer: what counts against the capacity.
  [[nodiscard]] int64_t queued_now() const {
    // seq_cst: the writer's last look before it sleeps or leaves pairs with a push's look at
    // writer_waiting_ / writer_alive_ (plain loads on x86 all the same).
    return pushed_.load() - taken_.load();
  }

  // One place of the ring: `ticket` says whose turn it is. Free for the push that draws
  // ticket t when it equals t; holds that push's item when it equals t + 1; free again for
  // ticket t + capacity once the writer has taken the item.
  struct Cell {
    std::atomic<int64_t> ticket{0};
    Item item;
  };

  const int64_t capacity_;
  // Places in the ring: the capacity, but at least 2. With one place, "holds the item of ticket
  // t" (t + 1) and "free for ticket t + 1" (t + places) are the same turn, so a push would take
  // a place whose item the writer has not taken; a queue of capacity 1 has two places and is
  // bounded by its count instead.
  const int64_t places_;
  // Set once, by the first push (under mu_); never freed before the queue.
  std::atomic<Cell*> cells_{nullptr};
  std::unique_ptr<Cell[]> owned_cells_ ABSL_GUARDED_BY(mu_);
  // Tickets drawn by pushes, and items taken by the writer, so far. Producers write the first
  // line, the writer the other.
  alignas(kCacheLine) std::atomic<int64_t> pushed_{0};
  alignas(kCacheLine) std::atomic<int64_t> taken_{0};
  // Set by a push that found no room; cleared by the writer once it took items (see has_room).
  alignas(kCacheLine) std::atomic<bool> full_{false};
  // Items finished: written, thrown by their sink, or dropped by stop(). Off full_'s line: the
  // writer counts every item, and admission reads full_ for every invocation.
  alignas(kCacheLine) std::atomic<int64_t> finished_{0};
  std::atomic<int64_t> written_{0};
  std::atomic<bool> stopped_{false};
  // A writer runs: pushes need not start one. Cleared by a leaving writer (under mu_) before
  // it looks for items one last time.
  std::atomic<bool> writer_alive_{false};
  // The writer sleeps on wake_ (set under mu_): a push must wake it.
  std::atomic<bool> writer_waiting_{false};
  // flush() calls waiting on flushed_: the writer notifies only when there are some.
  std::atomic<int> flush_waiters_{0};
  mutable Mutex mu_;
  CondVar wake_;     // the writer: items or stop
  CondVar flushed_;  // flush(): more finished
  bool writer_running_ ABSL_GUARDED_BY(mu_) = false;
  // The writer that ran last; joined before the next starts, and by stop().
  platform::Thread writer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::detail
