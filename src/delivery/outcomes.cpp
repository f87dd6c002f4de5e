// SPDX-License-Identifier: Apache-2.0
// How an event's attempt ends: a success records its idempotency key and goes to on_success; a
// failed asynchronous attempt waits for a retry (retry classes, backoff with full jitter,
// max_attempts, max_event_age) or a throttle re-queue, or — after its last attempt — goes to
// the dead-letter store and on_failure. Waiting events sit in the retry queue, held by no
// thread, and are admitted again from an executor task when due.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "common/random.hpp"
#include "delivery/destination_record.hpp"
#include "delivery/idempotency.hpp"
#include "delivery/settlement.hpp"
#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/messages.hpp"
#include "platform/deadline.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::Invocation;
using detail::Lineage;
using detail::WaitingDelivery;

namespace {

// Jitter only has to spread retries apart: a per-thread splitmix64, seeded once.
using detail::thread_random_bits;

const std::string& key_of(const Invocation& invocation) {
  return invocation.event->idempotency_key;
}

// How long a throttled event waits: the policy's backoff (jittered), and at least what a rate
// limit's refusal said it needs (a re-queue sooner would only be refused again).
int64_t throttle_delay_ns(const RetryPolicy& policy, int throttles, const absl::Status& refusal) {
  int64_t delay_ns = detail::saturated_ns(retry_delay(policy, throttles, thread_random_bits()));
  if (std::optional<absl::Duration> hint = retry_after(refusal)) {
    delay_ns = std::max(delay_ns, detail::saturated_ns(*hint));
  }
  return delay_ns;
}

// Why an event that waited for a retry ends at shutdown.
absl::Status shut_down_while_waiting(const WaitingDelivery& waiting) {
  return absl::UnavailableError(
      fmt::format("host shut down while the event waited for attempt {}; last error: {}",
                  waiting.lineage.attempt, waiting.last_error.ToString()));
}

}  // namespace

void HostCore::take_event(Invocation& invocation, std::string& data,
                          std::shared_ptr<const Event>& event) {
  if (invocation.event != nullptr) {
    event = std::move(invocation.event);
  } else {
    data = std::move(invocation.data);
  }
}

namespace {
// A copy of an invocation's event as a plain Event (for a destination).
Event copy_event(const Invocation& invocation) {
  return invocation.event != nullptr ? *invocation.event : Event::with_data(invocation.data);
}
}  // namespace

void HostCore::settle_success(Invocation& invocation, const std::string& result) {
  FunctionSlot& slot = *invocation.slot;
  if (invocation.is_async) {
    detail::report_settled(invocation.event, Settlement::kSucceeded, absl::OkStatus(),
                           invocation.lineage.attempt);
  }
  if (invocation.lineage.owns_key) {
    slot.idempotency_table().succeed(key_of(invocation), result, now_ns(),
                                     slot.idempotency_window_ns.load(std::memory_order_relaxed));
  }
  const Destination& destination = invocation.version->spec.on_success;
  if (!invocation.is_async || destination.empty()) return;
  const detail::OutcomeFacts facts{.success = true,
                                   .function = slot.name,
                                   .attempts = invocation.lineage.attempt,
                                   .first_accepted = wall_at(invocation.lineage.accepted_ns),
                                   .last_attempt = wall_now(),
                                   .result = &result};
  Event outcome = detail::make_destination_event(copy_event(invocation), facts, destination.topic);
  inject_span(invocation, outcome);
  send_to_destination(slot, destination, std::move(outcome), invocation.lineage,
                      detail::acting_principal(invocation));
}

void HostCore::settle_failure(Invocation& invocation, const absl::Status& error, int64_t end_ns) {
  FunctionSlot& slot = *invocation.slot;
  const Lineage& lineage = invocation.lineage;
  if (!invocation.is_async) {
    // Never retried: the caller has the error; a duplicate may try again.
    if (lineage.owns_key) slot.idempotency_table().fail(key_of(invocation), error);
    return;
  }
  if (invocation.batch != nullptr) {
    settle_batch(invocation, &error, end_ns);
    return;
  }
  const RetryPolicy& policy = invocation.version->spec.retry;
  const RetryClass retry = retry_class(error);
  const bool throttle = retry == RetryClass::kThrottle;
  // Once shutdown began nothing waits for a retry: the event is dead-lettered now.
  if (accepting_.load() &&
      (throttle || (retry == RetryClass::kRetry && lineage.attempt < policy.max_attempts))) {
    const int64_t delay_ns =
        throttle ? throttle_delay_ns(policy, lineage.throttles + 1, error)
                 : detail::saturated_ns(retry_delay(policy, lineage.attempt, thread_random_bits()));
    // A retry that would start after max_event_age is not made: this failure is the last.
    if (end_ns + delay_ns - lineage.accepted_ns <= invocation.version->max_event_age_ns) {
      auto waiting = std::make_unique<WaitingDelivery>();
      waiting->slot = &slot;
      take_event(invocation, waiting->data, waiting->event);
      carry_span(invocation, waiting->data, waiting->event);
      waiting->lineage = lineage;
      if (throttle) {
        ++waiting->lineage.throttles;
      } else {
        ++waiting->lineage.attempt;
      }
      waiting->last_error = error;
      waiting->last_attempt_ns = end_ns;
      // The run is not over while its event waits (a schedule's overlap policy looks at it).
      waiting->on_end = std::exchange(invocation.on_end, nullptr);
      waiting->on_end_context = invocation.on_end_context;
      if (options.log_sink != nullptr) {
        log(LogLevel::kWarning, slot.name, invocation_id(invocation),
            fmt::format("attempt {} of {} failed: {}; {} in {}", lineage.attempt,
                        policy.max_attempts, error.ToString(),
                        throttle ? "re-queued (throttled, no attempt used)" : "retrying",
                        absl::FormatDuration(absl::Nanoseconds(delay_ns))));
      }
      wait_to_retry(std::move(waiting), delay_ns, throttle);
      return;
    }
  }
  // The last attempt failed.
  const Destination& destination = invocation.version->spec.on_failure;
  Event outcome;
  if (!destination.empty()) {
    const detail::OutcomeFacts facts{.success = false,
                                     .function = slot.name,
                                     .attempts = lineage.attempt,
                                     .first_accepted = wall_at(lineage.accepted_ns),
                                     .last_attempt = wall_at(end_ns),
                                     .error = &error};
    outcome = detail::make_destination_event(copy_event(invocation), facts, destination.topic);
    inject_span(invocation, outcome);
  }
  std::string data;
  std::shared_ptr<const Event> event;
  take_event(invocation, data, event);
  dead_letter(slot, std::move(data), std::move(event), lineage, lineage.attempt, error, end_ns,
              invocation_id(invocation));
  if (!destination.empty()) {
    send_to_destination(slot, destination, std::move(outcome), lineage,
                        detail::acting_principal(invocation));
  }
}

void HostCore::settle_batch(Invocation& invocation, const absl::Status* whole, int64_t end_ns) {
  FunctionSlot& slot = *invocation.slot;
  const detail::BatchItems& items = *invocation.batch;
  detail::ItemFailures failures;
  if (whole != nullptr) {
    for (size_t i = 0; i < items.size(); ++i) failures.emplace_back(i, *whole);
  } else if (invocation.item_failures != nullptr) {
    failures = std::move(*invocation.item_failures);
  }
  slot.events_succeeded.fetch_add(static_cast<int64_t>(items.size() - failures.size()),
                                  std::memory_order_relaxed);
  const Lineage& lineage = invocation.lineage;
  report_batch_successes(items, failures, lineage.attempt);
  if (failures.empty()) return;
  const RetryPolicy& policy = invocation.version->spec.retry;
  // The failed items wait together: a retry if any failure is a retryable error, a throttle
  // re-queue if all are throttles.
  bool any_retry = false;
  for (const auto& [index, error] : failures) {
    any_retry = any_retry || retry_class(error) == RetryClass::kRetry;
  }
  const int64_t delay_ns = detail::saturated_ns(retry_delay(
      policy, any_retry ? lineage.attempt : lineage.throttles + 1, thread_random_bits()));
  const bool in_time =
      end_ns + delay_ns - lineage.accepted_ns <= invocation.version->max_event_age_ns;
  auto again = std::make_shared<detail::BatchItems>();
  absl::Status last;
  const std::string id = invocation_id(invocation);
  for (auto& [index, error] : failures) {
    const RetryClass retry = retry_class(error);
    const bool waits = accepting_.load() && in_time &&
                       (retry == RetryClass::kThrottle ||
                        (retry == RetryClass::kRetry && lineage.attempt < policy.max_attempts));
    if (waits) {
      again->push_back(items[index]);
      last = error;
    } else {
      dead_letter(slot, {}, items[index], lineage, lineage.attempt, error, end_ns, id);
    }
  }
  if (again->empty()) return;
  auto waiting = std::make_unique<WaitingDelivery>();
  waiting->slot = &slot;
  waiting->event = invocation.event;  // the summary
  waiting->batch = std::move(again);
  waiting->lineage = lineage;
  if (any_retry) {
    ++waiting->lineage.attempt;
  } else {
    ++waiting->lineage.throttles;
  }
  waiting->last_error = std::move(last);
  waiting->last_attempt_ns = end_ns;
  if (options.log_sink != nullptr) {
    log(LogLevel::kWarning, slot.name, id,
        fmt::format("batch attempt {}: {} of {} items failed; {} wait {} to be retried",
                    lineage.attempt, failures.size(), items.size(), waiting->batch->size(),
                    absl::FormatDuration(absl::Nanoseconds(delay_ns))));
  }
  wait_to_retry(std::move(waiting), delay_ns, /*throttle=*/!any_retry);
}

void HostCore::report_batch_successes(const detail::BatchItems& items,
                                      const detail::ItemFailures& failures, int attempts) {
  std::vector<bool> failed(items.size(), false);
  for (const auto& [index, error] : failures) {
    if (index < failed.size()) failed[index] = true;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (!failed[i]) {
      detail::report_settled(items[i], Settlement::kSucceeded, absl::OkStatus(), attempts);
    }
  }
}

void HostCore::settle_unstarted(Invocation& invocation, const absl::Status& error) {
  FunctionSlot& slot = *invocation.slot;
  const Lineage& lineage = invocation.lineage;
  if (!invocation.is_async) {
    if (lineage.owns_key) slot.idempotency_table().fail(key_of(invocation), error);
    return;
  }
  std::string data;
  std::shared_ptr<const Event> event;
  take_event(invocation, data, event);
  // This attempt never ran.
  dead_letter_each(slot, std::move(data), std::move(event), invocation.batch.get(), lineage,
                   lineage.attempt - 1, error, /*last_attempt_ns=*/0, invocation_id(invocation));
}

void HostCore::wait_to_retry(std::unique_ptr<WaitingDelivery> waiting, int64_t delay_ns,
                             bool throttle) {
  FunctionSlot& slot = *waiting->slot;
  std::atomic<int64_t>& counter = throttle ? slot.throttle_requeues : slot.retries;
  // Due from now, and counted only once queued: whoever sees the count and then advances a
  // manual clock past the backoff finds the event due.
  waiting->due_ns = now_ns() + delay_ns;
  // A waiting event counts against the host's queue bounds as a queued one does (even past
  // them: it was accepted), so retries of a failing function cannot grow the process without
  // bound; new work is refused meanwhile.
  waiting->budget_bytes =
      waiting->event != nullptr ? budget_bytes(*waiting->event) : budget_bytes(waiting->data);
  take_queue_budget_anyway(1, waiting->budget_bytes);
  const bool accepting = accepting_.load();
  if (accepting) waiting = retries_.push(std::move(waiting), options.max_pending_retries);
  counter.fetch_add(1, std::memory_order_relaxed);
  if (waiting == nullptr) return;
  give_back_queue_budget(1, waiting->budget_bytes);
  const absl::Status refusal =
      accepting && accepting_.load()
          ? absl::ResourceExhaustedError(
                fmt::format("not retried: {} events already wait for a retry, the host's "
                            "max_pending_retries; last error: {}",
                            options.max_pending_retries, waiting->last_error.ToString()))
          : shut_down_while_waiting(*waiting);
  end_waiting(std::move(waiting), refusal);
}

void HostCore::end_waiting(std::unique_ptr<WaitingDelivery> waiting, const absl::Status& error) {
  // The attempt it waited for never ran.
  dead_letter_each(*waiting->slot, std::move(waiting->data), std::move(waiting->event),
                   waiting->batch.get(), waiting->lineage, waiting->lineage.attempt - 1, error,
                   waiting->last_attempt_ns, {});
  if (waiting->on_end != nullptr) waiting->on_end(waiting->on_end_context);
}

void HostCore::dead_letter_each(FunctionSlot& slot, std::string data,
                                std::shared_ptr<const Event> event, const detail::BatchItems* batch,
                                const Lineage& lineage, int attempts, const absl::Status& error,
                                int64_t last_attempt_ns, std::string_view invocation) {
  if (batch == nullptr) {
    dead_letter(slot, std::move(data), std::move(event), lineage, attempts, error, last_attempt_ns,
                invocation);
    return;
  }
  for (const std::shared_ptr<const Event>& item : *batch) {
    dead_letter(slot, {}, item, lineage, attempts, error, last_attempt_ns, invocation);
  }
}

void HostCore::requeue_throttled(FunctionSlot& slot, std::string data,
                                 std::shared_ptr<const Event> event,
                                 std::shared_ptr<const detail::BatchItems> batch,
                                 const Lineage& lineage, absl::Status refusal,
                                 void (*on_end)(void*), void* on_end_context) {
  auto waiting = std::make_unique<WaitingDelivery>();
  waiting->slot = &slot;
  waiting->data = std::move(data);
  waiting->event = std::move(event);
  waiting->batch = std::move(batch);
  waiting->lineage = lineage;
  if (waiting->lineage.fresh) {
    // Accepted here, though no queue took it yet.
    waiting->lineage.fresh = false;
    if (waiting->lineage.accepted_ns == 0) waiting->lineage.accepted_ns = coarse_now_ns();
    slot.accepted_waiting.fetch_add(1, std::memory_order_relaxed);
  }
  ++waiting->lineage.throttles;
  waiting->last_error = std::move(refusal);
  waiting->on_end = on_end;
  waiting->on_end_context = on_end_context;
  const int64_t delay_ns =
      throttle_delay_ns(slot.retry_policy(), waiting->lineage.throttles, waiting->last_error);
  wait_to_retry(std::move(waiting), delay_ns, /*throttle=*/true);
}

void HostCore::on_retries_due(void* context) {
  auto& host = *static_cast<HostCore*>(context);
  // Counted before the hand-off: shutdown waits for it (after the timer stopped firing).
  host.retry_handoffs_.fetch_add(1);
  host.run_off_timer([&host] {
    host.redeliver_due();
    host.retry_handoffs_.fetch_sub(1);
  });
}

void HostCore::redeliver_due() {
  for (std::unique_ptr<WaitingDelivery>& waiting : retries_.take_due(now_ns())) {
    redeliver(std::move(waiting));
  }
}

void HostCore::redeliver(std::unique_ptr<WaitingDelivery> waiting) {
  FunctionSlot& slot = *waiting->slot;
  give_back_queue_budget(1, waiting->budget_bytes);  // admission counts it again
  Admission admission{.on_end = waiting->on_end,
                      .on_end_context = waiting->on_end_context,
                      .lineage = waiting->lineage,
                      .batch = waiting->batch};
  if (waiting->event != nullptr) {
    admission.shared = &waiting->event;
  } else {
    admission.data = &waiting->data;
  }
  absl::Status admitted = admit_to(slot, admission);
  if (admitted.ok()) return;  // the invocation took the event and its on_end
  if (has_observers()) notify_refused(slot.name, admitted, /*is_async=*/true);
  if (admitted.code() == absl::StatusCode::kResourceExhausted) {
    ++waiting->lineage.throttles;
    waiting->last_error = std::move(admitted);
    const int64_t delay_ns =
        throttle_delay_ns(slot.retry_policy(), waiting->lineage.throttles, waiting->last_error);
    wait_to_retry(std::move(waiting), delay_ns, /*throttle=*/true);
    return;
  }
  // Removed meanwhile, or shutting down: it ends here.
  end_waiting(std::move(waiting), admitted);
}

void HostCore::dead_letter(FunctionSlot& slot, std::string data, std::shared_ptr<const Event> event,
                           const Lineage& lineage, int attempts, const absl::Status& error,
                           int64_t last_attempt_ns, std::string_view invocation) {
  // Once shutdown began, a failure is not final for a broker: it should deliver it again.
  const Settlement outcome = accepting_.load() ? Settlement::kDeadLettered : Settlement::kDropped;
  if (lineage.owns_key) slot.idempotency_table().fail(event->idempotency_key, error, outcome);
  bool kept = false;
  uint64_t id = 0;
  if (options.dead_letter_store != nullptr) {
    DeadLetter letter{
        .function = slot.name,
        .event = event != nullptr ? *event : Event::with_data(std::move(data)),
        .error = error,
        .attempts = attempts,
        .first_accepted = wall_at(lineage.accepted_ns),
        .last_attempt = last_attempt_ns != 0 ? wall_at(last_attempt_ns) : absl::InfinitePast()};
    try {
      absl::StatusOr<uint64_t> put = options.dead_letter_store->put(std::move(letter));
      kept = put.ok();
      if (kept) id = *put;
    } catch (...) {
      // A throwing store loses the letter, visibly (counted below), not the host.
    }
  }
  if (!kept) slot.dead_letters_lost.fetch_add(1, std::memory_order_relaxed);
  // Counted once the letter is in the store: whoever sees the count can find it.
  slot.events_dead_lettered.fetch_add(1, std::memory_order_relaxed);
  detail::report_settled(event, outcome, error, attempts);
  if (options.log_sink != nullptr) {
    log(LogLevel::kError, slot.name, invocation,
        kept ? fmt::format("dead-lettered (id {}) after {} attempt(s): {}", id, attempts,
                           error.ToString())
             : fmt::format("dead letter LOST (the store did not keep it) after {} attempt(s): {}",
                           attempts, error.ToString()));
  }
}

void HostCore::send_to_destination(FunctionSlot& slot, const Destination& destination,
                                   Event outcome, const Lineage& lineage,
                                   const detail::Principal* sender) {
  // A new event, one level deeper: a destination leading back to its function cannot loop
  // for ever. Sent as the function's principal, checked like its handler's own calls.
  const Lineage next{.chain_depth = lineage.chain_depth + 1, .principal = sender};
  absl::Status sent;
  if (!destination.function.empty()) {
    sent = authorize_call(sender, Action::kInvoke, ResourceKind::kFunction, destination.function);
    FunctionSlot* target = sent.ok() ? table_.find(destination.function) : nullptr;
    if (sent.ok() && target == nullptr) sent = detail::not_registered(destination.function);
    if (target != nullptr) {
      Admission admission{.owned = &outcome, .lineage = next};
      sent = admit_or_wait(*target, admission);
    }
  } else {
    sent = publish(std::move(outcome), next);
  }
  if (sent.ok()) return;
  slot.destination_errors.fetch_add(1, std::memory_order_relaxed);
  if (options.log_sink != nullptr) {
    log(LogLevel::kError, slot.name, "",
        fmt::format("destination {} refused the outcome: {}",
                    destination.function.empty()
                        ? "topic " + detail::quoted(destination.topic)
                        : "function " + detail::quoted(destination.function),
                    sent.ToString()));
  }
}

int64_t HostCore::stop_retries() {
  detail::RetryQueue::Batch waiting = retries_.stop();
  for (std::unique_ptr<WaitingDelivery>& ended : waiting) {
    give_back_queue_budget(1, ended->budget_bytes);
    const absl::Status refusal = shut_down_while_waiting(*ended);
    end_waiting(std::move(ended), refusal);
  }
  // A hand-off the timer made before the queue stopped is counted once the timer is done
  // firing; wait for those to end (they find the queue empty, or admit into closed queues and
  // dead-letter), pumping a ManualExecutor.
  detail::Backoff firing;
  while (timers_.is_firing()) firing.pause();
  while (retry_handoffs_.load() != 0) {
    if (!executor->help_one()) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return static_cast<int64_t>(waiting.size());
}

}  // namespace fnhost
