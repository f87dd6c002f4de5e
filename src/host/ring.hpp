// SPDX-License-Identifier: Apache-2.0
// The scheduler's ring: functions with invocations that may start now, each listed once. A
// runner takes the head, claims invocations of it and, in the same critical section, puts it
// back at the tail if it has more, so functions take turns whatever their backlog. Strict FIFO
// is the point, so this is a locked deque rather than moodycamel's queue (FIFO only per
// producer).
//
// The ring's lock also guards which version a claim pins: claims read a function's latest
// version and pin it under the lock, and the registry swaps the latest version under it, so a
// retired version is never pinned again after its last use freed it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>

#include "common/sync.hpp"
#include "host/host_internal.hpp"

namespace fnhost::detail {

class Ring {
 public:
  void push(FunctionSlot* slot) {
    SpinLockHolder lock(mu_);
    slots_.push_back(slot);
  }
  bool empty() const {
    SpinLockHolder lock(mu_);
    return slots_.empty();
  }

  struct Turn {
    FunctionSlot* slot = nullptr;              // null: nothing to start
    int count = 0;                             // invocations claimed
    const FunctionVersion* version = nullptr;  // pinned `count` times
  };

  // Claims invocations (queued -> running) of the first listed function that has any it may
  // start, pins its latest version for each, and returns them; functions left with nothing to
  // start are un-listed. One invocation per turn, or up to `max_batch` when taking more is
  // harmless: the function has no concurrency limit and its invocations are short, so a batch
  // delays the others by about as little as one turn does.
  Turn take_turn(int max_batch) {
    for (;;) {
      Turn turn;
      {
        SpinLockHolder lock(mu_);
        if (slots_.empty()) return {};
        turn.slot = slots_.front();
        slots_.pop_front();
        FunctionSlot* slot = turn.slot;
        const int limit = slot->max_concurrency.load(std::memory_order_relaxed);
        const bool batch =
            max_batch > 1 && limit <= 0 && slot->runs_short.load(std::memory_order_relaxed);
        uint64_t word = slot->state.load();
        for (;;) {
          const int64_t startable = FunctionSlot::startable(word, limit);
          if (startable <= 0) break;
          const int take = batch ? static_cast<int>(std::min<int64_t>(startable, max_batch)) : 1;
          const uint64_t claim = uint64_t(take) * FunctionSlot::kOneRunning - uint64_t(take);
          if (slot->state.compare_exchange_weak(word, word + claim)) {
            turn.count = take;
            word += claim;
            break;
          }
        }
        if (turn.count > 0) {
          turn.version = slot->latest.load(std::memory_order_acquire);
          turn.version->pin(turn.count);
          if (FunctionSlot::startable(word, limit) > 0) {
            slots_.push_back(slot);
            return turn;
          }
        }
      }
      // Un-list, then re-check: an admission meanwhile saw in_ring set and did not list it.
      FunctionSlot* slot = turn.slot;
      slot->in_ring.store(false);
      if (FunctionSlot::startable(slot->state.load(),
                                  slot->max_concurrency.load(std::memory_order_relaxed)) > 0 &&
          !slot->in_ring.exchange(true)) {
        push(slot);
      }
      if (turn.count > 0) return turn;
    }
  }

  // Makes `version` (may be null) the latest of `slot`; returns the one it replaces.
  const FunctionVersion* swap_latest(FunctionSlot& slot, const FunctionVersion* version) {
    SpinLockHolder lock(mu_);
    return slot.latest.exchange(version);
  }

  // Pins `slot`'s latest version once, for an invocation that found a newer version than the
  // one its turn pinned; null (nothing pinned) if the function was removed meanwhile.
  const FunctionVersion* pin_latest(FunctionSlot& slot) {
    SpinLockHolder lock(mu_);
    const FunctionVersion* version = slot.latest.load(std::memory_order_acquire);
    if (version != nullptr) version->pin(1);
    return version;
  }

 private:
  mutable SpinLock mu_;
  std::deque<FunctionSlot*> slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::detail
