// SPDX-License-Identifier: Apache-2.0
#include "observability/telemetry_queue.hpp"

#include <array>
#include <chrono>
#include <thread>
#include <utility>

#include "platform/deadline.hpp"

namespace fnhost::detail {

namespace {
// A writer with nothing to write lingers this long, then leaves: an idle host keeps no thread.
constexpr auto kWriterLinger = std::chrono::seconds(1);
// Items the writer takes at once.
constexpr size_t kBatch = 256;
// The queue whose writer is the calling thread, if any: its flush() must not wait for itself.
thread_local const TelemetryQueue* writing_for = nullptr;
}  // namespace

TelemetryQueue::~TelemetryQueue() { (void)stop(); }

bool TelemetryQueue::push(Item item) {
  if (stopped_.load(std::memory_order_acquire)) return false;
  Cell* cells = cells_.load(std::memory_order_acquire);
  if (cells == nullptr) {
    if (!ensure_writer()) return false;
    cells = cells_.load(std::memory_order_acquire);
  }
  // Draw a ticket whose place is free; a place still holding an item a lap behind means full.
  int64_t ticket = pushed_.load(std::memory_order_relaxed);
  Cell* cell = nullptr;
  for (;;) {
    cell = &cells[ticket % places_];
    const int64_t turn = cell->ticket.load(std::memory_order_acquire);
    if (turn == ticket) {
      if (places_ != capacity_ && ticket - taken_.load() >= capacity_) {
        note_full();
        return false;
      }
      if (pushed_.compare_exchange_weak(ticket, ticket + 1)) break;
    } else if (turn < ticket) {
      note_full();
      return false;
    } else {
      ticket = pushed_.load(std::memory_order_relaxed);
    }
  }
  cell->item = std::move(item);
  cell->ticket.store(ticket + 1, std::memory_order_release);
  // The ticket was drawn before this look (both seq_cst): a leaving writer either sees the
  // item and stays, or this push sees it gone and starts another. If none can be had, the
  // item waits for the next push that can start one (or for stop(), which drops it).
  if (!writer_alive_.load()) {
    (void)ensure_writer();
  } else if (writer_waiting_.load()) {
    MutexLock lock(mu_);
    wake_.notify_one();
  }
  return true;
}

bool TelemetryQueue::ensure_writer() {
  MutexLock lock(mu_);
  if (writer_running_) return true;
  if (stopped_.load()) return false;
  if (owned_cells_ == nullptr) {
    owned_cells_ = std::make_unique<Cell[]>(static_cast<size_t>(places_));
    for (int64_t i = 0; i < places_; ++i) {
      owned_cells_[static_cast<size_t>(i)].ticket.store(i, std::memory_order_relaxed);
    }
    cells_.store(owned_cells_.get(), std::memory_order_release);
  }
  // The last writer has left (or is leaving: it no longer needs the lock).
  if (writer_.joinable()) writer_.join();
  if (!writer_.start(0, [this] { run(); }).ok()) return false;
  writer_running_ = true;
  writer_alive_.store(true);
  return true;
}

size_t TelemetryQueue::take(Item* out, size_t max) {
  Cell* const cells = cells_.load(std::memory_order_acquire);
  if (cells == nullptr) return 0;
  int64_t next = taken_.load(std::memory_order_relaxed);
  size_t count = 0;
  while (count < max) {
    Cell& cell = cells[next % places_];
    // Not yet filled: empty, or its push has drawn the ticket and is still storing the item.
    if (cell.ticket.load(std::memory_order_acquire) != next + 1) break;
    out[count++] = std::move(cell.item);
    cell.item = nullptr;
    cell.ticket.store(next + places_, std::memory_order_release);
    ++next;
  }
  if (count > 0) {
    taken_.store(next);
    // seq_cst, after the store above: a push setting the flag either sees the room made here
    // (note_full) or has its flag seen and cleared here.
    if (full_.load()) full_.store(false);
  }
  return count;
}

void TelemetryQueue::note_full() {
  if (full_.load(std::memory_order_relaxed)) return;
  full_.store(true);
  // The writer may have made room since this push looked, before the flag was set, and seen no
  // flag to clear: look again (seq_cst, after the store).
  if (queued_now() < capacity_) full_.store(false);
}

bool TelemetryQueue::flush(absl::Duration timeout) {
  if (writing_for == this) return false;
  const auto deadline = steady_deadline_after(timeout);
  const int64_t target = pushed_.load();
  MutexLock lock(mu_);
  flush_waiters_.fetch_add(1);
  bool done = finished_.load() >= target;
  while (!done) {
    if (!writer_running_) break;  // nothing will write them
    const bool notified = flushed_.wait_until(mu_, deadline);
    done = finished_.load() >= target;
    if (!notified && std::chrono::steady_clock::now() >= deadline) break;
  }
  flush_waiters_.fetch_sub(1);
  return done;
}

int64_t TelemetryQueue::stop() {
  stopped_.store(true);
  platform::Thread writer;
  {
    MutexLock lock(mu_);
    writer = std::move(writer_);
    wake_.notify_all();
  }
  if (writer.joinable()) writer.join();
  // The writer is gone: what is still queued is dropped here. (A push that passed the stop
  // check just before it was set may still add one; the next stop(), at the latest the
  // destructor's, drops that.)
  int64_t dropped = 0;
  std::array<Item, kBatch> batch;
  for (size_t count = take(batch.data(), kBatch); count > 0; count = take(batch.data(), kBatch)) {
    for (size_t i = 0; i < count; ++i) batch[i] = nullptr;
    dropped += static_cast<int64_t>(count);
  }
  finished_.fetch_add(dropped);
  MutexLock lock(mu_);
  writer_running_ = false;
  flushed_.notify_all();
  return dropped;
}

void TelemetryQueue::run() {
  platform::set_current_thread_name("fnhost-export");
  // Telemetry yields the CPU to invocations: when both want it, records wait (and past the
  // queue's capacity are dropped and counted) rather than invocations.
  (void)platform::set_current_thread_background();
  writing_for = this;
  std::array<Item, kBatch> batch;
  for (;;) {
    // Stopped: what is still queued is stop()'s to drop.
    if (stopped_.load()) break;
    const size_t count = take(batch.data(), kBatch);
    if (count > 0) {
      for (size_t i = 0; i < count; ++i) {
        try {
          std::move(batch[i])();
        } catch (...) {
          // A failing sink loses its record, not the writer.
        }
        batch[i] = nullptr;
      }
      written_.fetch_add(static_cast<int64_t>(count), std::memory_order_relaxed);
      finished_.fetch_add(static_cast<int64_t>(count));
      if (flush_waiters_.load() > 0) {
        MutexLock lock(mu_);
        flushed_.notify_all();
      }
      continue;
    }
    if (queued_now() > 0) {
      // A push drew the next ticket and is still storing its item: a moment.
      std::this_thread::yield();
      continue;
    }
    MutexLock lock(mu_);
    // Sleep until a push or stop, at most the linger. Said before looking (both seq_cst): a
    // push either sees the writer waiting and wakes it, or is seen here. (A drawn ticket whose
    // item is still being stored counts as queued: the writer looks again at once.)
    writer_waiting_.store(true);
    const auto idle_until = std::chrono::steady_clock::now() + kWriterLinger;
    while (queued_now() == 0 && !stopped_.load() && std::chrono::steady_clock::now() < idle_until) {
      wake_.wait_until(mu_, idle_until);
    }
    writer_waiting_.store(false);
    if (queued_now() > 0 || stopped_.load()) continue;
    // Idle for the whole linger: leave — unless a push drew a ticket meanwhile (it saw the
    // writer alive, so it will not start another).
    writer_alive_.store(false);
    if (queued_now() > 0) {
      writer_alive_.store(true);
      continue;
    }
    writer_running_ = false;
    flushed_.notify_all();
    return;
  }
  MutexLock lock(mu_);
  writer_alive_.store(false);
  writer_running_ = false;
  flushed_.notify_all();
}

}  // namespace fnhost::detail
