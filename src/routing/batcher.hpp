// SPDX-License-Identifier: Apache-2.0
// The collector of one batch trigger (TriggerSpec::batch_size): events wait in it until
// batch_size are in (the publisher that adds the last one flushes) or batch_window after the
// first (its timer hands the flush to the executor). Owned by the host for its lifetime, so a
// timer firing after unsubscribe() finds it closed, never freed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/sync.hpp"
#include "host/host_internal.hpp"
#include "host/timer_service.hpp"

namespace fnhost::detail {

struct Principal;

class Batcher : public TimerNode {
 public:
  Batcher(TimerService& timers, FunctionSlot* slot, int batch_size, int64_t window_ns,
          void (*on_window)(TimerNode*))
      : timers_(timers), slot_(slot), batch_size_(batch_size), window_ns_(window_ns) {
    on_due = on_window;
  }

  FunctionSlot& slot() const { return *slot_; }
  // Whose trigger collects it: its batches run as this principal (null: the host). Set before
  // the trigger is added, never changed.
  const Principal* owner = nullptr;
  int batch_size() const { return batch_size_; }
  // Adds `event` (accepted): returns the full batch to flush now, or null. Refused (false) once
  // closed.
  bool add(const std::shared_ptr<const Event>& event, std::shared_ptr<BatchItems>* full);
  // Takes what is collected (null when nothing is), for a flush.
  std::shared_ptr<BatchItems> take();
  // The window timer fired (on the timer thread): it is no longer armed.
  void fired();
  // Refuses new events from now on and takes what is collected (unsubscribe, shutdown).
  std::shared_ptr<BatchItems> close();
  [[nodiscard]] int64_t waiting() const;
  // Batch invocations queued for this trigger.
  std::atomic<int64_t> batches{0};

 private:
  std::shared_ptr<BatchItems> take_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  TimerService& timers_;
  FunctionSlot* const slot_;
  const int batch_size_;
  const int64_t window_ns_;
  mutable Mutex mu_;
  std::shared_ptr<BatchItems> pending_ ABSL_GUARDED_BY(mu_);
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fnhost::detail
