// SPDX-License-Identifier: Apache-2.0
// Asynchronous events waiting out a backoff — a retry after a failed attempt, or a re-queue
// after a capacity refusal — held by no thread. They sit in one min-heap by due time behind a
// single node of the host's timer service, armed for the earliest: so a million waiting
// retries cost the timer thread one node, not a million, and each costs its record and a heap
// slot (see kBytesPerWaiting).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/sync.hpp"
#include "host/host_internal.hpp"
#include "host/timer_service.hpp"

namespace fnhost::detail {

// One event waiting for its next attempt at one function.
struct WaitingDelivery {
  FunctionSlot* slot = nullptr;
  // The event, as the invocation held it: data only, or shared and immutable.
  std::string data;
  std::shared_ptr<const Event> event;
  std::shared_ptr<const BatchItems> batch;  // a batch's items still to do (event: its summary)
  Lineage lineage;  // attempt is the number of the attempt it waits for
  // Why it waits (the last attempt's error, or the refusal), and when that attempt ended.
  absl::Status last_error;
  int64_t last_attempt_ns = 0;
  int64_t due_ns = 0;
  // What it counts against the host's queue bounds while it waits (HostLimits): one
  // invocation and these bytes.
  int64_t budget_bytes = 0;
  // The invocation's on_end hook, handed on to the next attempt (a schedule's run is not over
  // while its event waits for a retry).
  void (*on_end)(void*) = nullptr;
  void* on_end_context = nullptr;
};

class RetryQueue {
 public:
  using Batch = std::vector<std::unique_ptr<WaitingDelivery>>;

  // What one waiting event costs with a payload that fits a std::string inline: the record, the
  // allocator's header, and its heap slot.
  static constexpr size_t kBytesPerWaiting = sizeof(WaitingDelivery) + 16 + sizeof(void*);

  // `on_due(context)` is called on the timer thread (or a ManualClock's advance()) when the
  // earliest waiting event is due: it must only hand the work to an executor, which calls
  // take_due().
  RetryQueue(TimerService& timers, void (*on_due)(void* context), void* context);
  RetryQueue(const RetryQueue&) = delete;
  RetryQueue& operator=(const RetryQueue&) = delete;

  // Keeps `waiting` until its due_ns. Gives it back if the queue is stopped or already holds
  // `capacity` events: the caller ends it otherwise.
  std::unique_ptr<WaitingDelivery> push(std::unique_ptr<WaitingDelivery> waiting, int64_t capacity);
  // Takes out every event due by `now_ns`, earliest first, and arms the timer for the rest.
  Batch take_due(int64_t now_ns);
  // Takes out everything and stops: push() gives every event back from now on. The timer node
  // is unlinked when this returns, or being fired (the caller waits for the timer service's
  // is_firing() to clear before it lets the queue go).
  Batch stop();
  [[nodiscard]] int64_t size() const;

 private:
  struct Node : TimerNode {
    RetryQueue* queue = nullptr;
  };
  static void on_timer(TimerNode* node);
  // Links (or moves earlier) the node for the heap's earliest due time.
  void arm_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  TimerService& timers_;
  void (*const on_due_)(void*);
  void* const context_;
  Node node_;
  mutable Mutex mu_;
  Batch heap_ ABSL_GUARDED_BY(mu_);  // min-heap by due_ns
  bool linked_ ABSL_GUARDED_BY(mu_) = false;
  int64_t armed_ns_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fnhost::detail
