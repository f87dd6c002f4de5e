// SPDX-License-Identifier: Apache-2.0
// Running one claimed invocation: its version (the latest at start), an instance, the handler
// through the guarded path, its deadline, and the one answer it gets — the handler's result, a
// timeout, or shutdown's Unavailable, whichever claims the answer first. Once the handler has
// returned, the runner settles the event (delivery/outcomes.cpp) whoever answered.
#include <algorithm>
#include <memory>
#include <utility>

#include "fmt/format.h"
#include "host/host_core.hpp"
#include "host/messages.hpp"
#include "platform/deadline.hpp"
#include "platform/platform.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::FunctionVersion;
using detail::Invocation;

namespace {
// The span observers are given: with its ids when anything will read them — a program observer
// or a record that is kept, which are exactly when the invocation id is made — else as it is
// (its records are dropped unread).
const InvocationSpan* observed_span(const Invocation& invocation, std::string_view id) {
  if (!invocation.traced) return nullptr;
  return id.empty() ? invocation.span.get() : &invocation.traced_span();
}

InvocationOutcome outcome_of(const Invocation& invocation, bool result_ok) {
  switch (invocation.answered.load(std::memory_order_acquire)) {
    case Invocation::kByResult:
      return result_ok ? InvocationOutcome::kSuccess : InvocationOutcome::kError;
    case Invocation::kByTimeout:
      return InvocationOutcome::kTimeout;
    default:
      return InvocationOutcome::kCancelled;
  }
}
}  // namespace

HostCore::Executed HostCore::execute(Invocation& invocation, int64_t start_ns, HeldInstance& held,
                                     bool keep_instance) {
  int expected = Invocation::kClaimed;
  if (!invocation.stage.compare_exchange_strong(expected, Invocation::kRunning)) {
    // Shutdown dropped it (and answered and counted it) before it could start.
    release_held(held);
    let_go(invocation);
    return {};
  }
  FunctionSlot& slot = *invocation.slot;
  // Hot swap: an invocation that starts after update_function returned runs the new version,
  // even if its turn was claimed (and pinned) before.
  const FunctionVersion* latest = slot.latest.load(std::memory_order_acquire);
  const bool repinned = latest != invocation.version && latest != nullptr;
  if (repinned) {
    // The held instance belongs to the old version, which the repin may free.
    release_held(held);
    repin_if_swapped(invocation);
  }
  const FunctionSpec& spec = invocation.version->spec;
  // The clock read reused from the previous invocation (or the runner's start) can predate
  // this one's admission: its runner may have been preempted between that read and the claim.
  // What observers and metering see must not start before admission, so they read anew unless
  // the admission time was read and bounds it; a manual clock is read anew always (others
  // move it while this runner waits, and reading it is a load).
  int64_t start = start_ns;
  if (start == 0 || manual_clock_ != nullptr || (observes_runs_ && invocation.admitted_ns == 0)) {
    start = now_ns();
  } else if (observes_runs_) {
    start = std::max(start, invocation.admitted_ns);
  }
  if (invocation.is_async &&
      start - invocation.lineage.accepted_ns > invocation.version->max_event_age_ns) {
    // Older than its function's max_event_age before this attempt could start: it ends here.
    release_held(held);
    expire(invocation);
    return {};
  }
  int64_t deadline = detail::deadline_ns_after(start, spec.timeout);
  // A callee runs within what its caller had left.
  if (invocation.lineage.budget_ns > 0) {
    deadline = std::min(deadline, start + invocation.lineage.budget_ns);
  }
  invocation.begin_run(start, deadline);
  if (tracing()) begin_span(invocation);
  invocation.worker = executor->current_task();
  timers_.arm(&invocation, invocation.deadline_ns);
  // For observers only: what both notifications say, and the thread's CPU clock at start —
  // unless the function's last invocation ran short: reading a thread's CPU clock is a system
  // call (over a microsecond on some virtual machines), dearer than such an invocation, whose
  // CPU time is then taken as its run time (an upper bound). Whether the invocation's records
  // are kept was decided as it was admitted (and START may still find no room). The id is made
  // only when something will read it: making it costs more than the rest of a dropped record's
  // way.
  detail::ShortText<32> id;
  detail::RunFacts run;
  int64_t cpu_start_ns = 0;
  const bool reads_cpu_clock = observes_runs_ && !slot.runs_short.load(std::memory_order_relaxed);
  if (observes_runs_) {
    run.keeps_records = invocation.keeps_records;
    if (run.keeps_records || has_observers()) id = invocation_id_text(invocation);
    run.function = slot.name;
    run.version = invocation.version->number;
    run.invocation_id = id.view();
    run.span = observed_span(invocation, id.view());
    run.start_ns = start;
    run.admitted_ns = invocation.admitted_ns;
    notify_started(invocation, run);
    if (reads_cpu_clock) cpu_start_ns = detail::platform::current_thread_cpu_ns();
  }

  // Always overwritten (by the handler, the validator, or acquire_instance's failure); an empty
  // message keeps this placeholder off the heap.
  Result result{absl::Status(absl::StatusCode::kUnknown, "")};
  if (spec.validator && !passes_validator(invocation, spec, result)) {
    release_held(held);
  } else if (held.instance != nullptr && held.version == invocation.version) {
    invocation.instance = held.instance;
    held = {};
  } else {
    release_held(held);
    invocation.instance = acquire_instance(invocation, result);
  }
  if (invocation.instance != nullptr) {
    Context context(invocation);
    // A data-only event is lent to the handler and taken back: a retry runs on it again.
    Event lent;
    try {
      if (invocation.event != nullptr) {
        result = spec.handler(*invocation.event, context);
      } else {
        lent.data = std::move(invocation.data);
        result = spec.handler(lent, context);
        invocation.data = std::move(lent.data);
      }
    } catch (...) {
      if (invocation.event == nullptr) invocation.data = std::move(lent.data);
      result =
          absl::InternalError(fmt::format("function \"{}\" threw: {}", slot.name,
                                          detail::describe_exception(std::current_exception())));
    }
  }
  const int64_t end_ns = now_ns();
  const int64_t cpu_ns = reads_cpu_clock ? detail::platform::current_thread_cpu_ns() - cpu_start_ns
                                         : (observes_runs_ ? end_ns - invocation.start_ns : 0);
  const bool runs_short = end_ns - invocation.start_ns < kShortInvocationNs;
  if (slot.runs_short.load(std::memory_order_relaxed) != runs_short) {
    slot.runs_short.store(runs_short, std::memory_order_relaxed);
  }
  // Past its deadline (whether or not the timer has fired yet) the instance may be mid-way
  // through anything: it is discarded, never reused.
  const bool overran =
      end_ns > invocation.deadline_ns || invocation.answered.load() == Invocation::kByTimeout;
  // Only instances without init are kept for the next invocation of the batch: one with init
  // is costly to create, and while this runner kept it, another would find the pool empty and
  // start one more (a burst then cold-starts several times as many). And only of the version
  // the turn pinned: the rest of the batch keeps that one alive, not a version repinned to.
  if (keep_instance && !repinned && !overran && invocation.instance != nullptr &&
      !invocation.version->spec.init) {
    held = {invocation.instance, invocation.version};
  } else {
    release_instance(*invocation.version, invocation.instance, overran);
  }
  invocation.instance = nullptr;
  const bool result_ok = result.ok();
  // For observers only: the error, before finish() hands the result on.
  std::string error;
  if (!result_ok && observes_runs_) error = std::string(result.status().message());
  finish(invocation, result, end_ns);
  // Unlinked only now: until its answer is delivered, shutdown must see it (and wait for it).
  // False: the deadline fired; the thread was marked stuck.
  const bool fired = !timers_.unlink(&invocation);
  if (observes_runs_) {
    run.outcome = outcome_of(invocation, result_ok);
    run.end_ns = end_ns;
    run.cpu_ns = cpu_ns;
    run.cold_start = invocation.cold_start;
    run.init_ns = invocation.init_ns;
    run.memory_mb = invocation.version->spec.memory_mb;
    run.is_async = invocation.is_async;
    run.attempt = invocation.lineage.attempt;
    run.error = error;
    notify_finished(invocation, run);
  }
  const FunctionVersion* version = invocation.version;
  invocation.release();
  detail::delete_if_unused(version, version->unpin(1));
  return {.timed_out = fired, .end_ns = end_ns};
}

bool HostCore::passes_validator(Invocation& invocation, const FunctionSpec& spec, Result& result) {
  absl::Status valid;
  // A data-only event is lent as an Event and taken back, as for the handler.
  Event lent;
  try {
    if (invocation.event != nullptr) {
      valid = spec.validator(*invocation.event);
    } else {
      lent.data = std::move(invocation.data);
      valid = spec.validator(lent);
      invocation.data = std::move(lent.data);
    }
  } catch (...) {
    if (invocation.event == nullptr) invocation.data = std::move(lent.data);
    valid = absl::InvalidArgumentError(
        fmt::format("threw: {}", detail::describe_exception(std::current_exception())));
  }
  if (valid.ok()) return true;
  FunctionSlot& slot = *invocation.slot;
  slot.validation_failures.fetch_add(1, std::memory_order_relaxed);
  result = not_retryable(absl::InvalidArgumentError(
      fmt::format("the validator of function {} refused the event: {}", detail::quoted(slot.name),
                  detail::std_view(valid.message()))));
  return false;
}

void HostCore::notify_started(const Invocation& invocation, detail::RunFacts& run) const {
  if (has_observers()) {
    detail::notify_observers(
        options.observers, &InvocationObserver::on_started,
        StartedInvocation{.function = run.function,
                          .version = run.version,
                          .number = invocation.sequence,
                          .queue_wait = absl::Nanoseconds(run.start_ns - run.admitted_ns),
                          .invocation_id = run.invocation_id,
                          .span = run.span});
  }
  try {
    // Only the records start with the run; metering looks at its end.
    if (run_telemetry_ != nullptr) run.keeps_records = run_telemetry_->run_started(run);
  } catch (...) {
    // Out of memory for a record: the invocation goes on without it.
  }
}

void HostCore::notify_finished(const Invocation& invocation, const detail::RunFacts& run) const {
  if (has_observers()) {
    detail::notify_observers(
        options.observers, &InvocationObserver::on_finished,
        FinishedInvocation{.function = run.function,
                           .version = run.version,
                           .number = invocation.sequence,
                           .outcome = run.outcome,
                           .duration = absl::Nanoseconds(run.end_ns - run.start_ns),
                           .queue_wait = absl::Nanoseconds(run.start_ns - run.admitted_ns),
                           .cold_start = run.cold_start,
                           .init_duration = absl::Nanoseconds(run.init_ns),
                           .invocation_id = run.invocation_id,
                           .cpu_time = absl::Nanoseconds(run.cpu_ns),
                           .memory_mb = run.memory_mb,
                           .is_async = run.is_async,
                           .attempt = run.attempt,
                           .start_time = wall_at(run.start_ns),
                           .error = run.error,
                           .span = run.span});
  }
  try {
    // Called by type, not through HostObserver: these calls are most of what observability
    // costs a short invocation, and direct ones can be inlined.
    if (meter_ != nullptr) meter_->run_finished(run);
    if (run_telemetry_ != nullptr) run_telemetry_->run_finished(run);
  } catch (...) {
    // Out of memory for a record: it is lost, the invocation is not.
  }
}

void HostCore::notify_dropped(const Invocation& invocation) const {
  detail::notify_observers(
      options.observers, &InvocationObserver::on_finished,
      FinishedInvocation{.function = invocation.slot->name,
                         .number = invocation.sequence,
                         .outcome = InvocationOutcome::kDropped,
                         .queue_wait = absl::Nanoseconds(now_ns() - invocation.admitted_ns),
                         .invocation_id = invocation_id(invocation),
                         .is_async = invocation.is_async,
                         .attempt = invocation.lineage.attempt,
                         .start_time = wall_now()});
}

void HostCore::repin_if_swapped(Invocation& invocation) {
  const FunctionVersion* pinned = ring_.pin_latest(*invocation.slot);
  if (pinned == nullptr) return;  // removed meanwhile: runs on the version it was claimed on
  const FunctionVersion* previous = invocation.version;
  invocation.version = pinned;
  detail::delete_if_unused(previous, previous->unpin(1));
}

void HostCore::let_go(Invocation& invocation) {
  timers_.unlink(&invocation);
  const FunctionVersion* version = invocation.version;
  invocation.release();
  detail::delete_if_unused(version, version->unpin(1));
}

void HostCore::finish(Invocation& invocation, Result& result, int64_t end_ns) {
  FunctionSlot& slot = *invocation.slot;
  const int64_t duration_ns = end_ns - invocation.start_ns;
  // An invocation that ends after its deadline timed out, whether or not the timer got there
  // first: the answer never depends on how promptly the timer thread ran.
  const bool overran = end_ns > invocation.deadline_ns;
  if (invocation.try_claim_answer(overran ? Invocation::kByTimeout : Invocation::kByResult)) {
    if (overran) {
      deliver_timeout(invocation, /*on_timer_thread=*/false);
      settle_failure(invocation, timeout_status(invocation), end_ns);
      return;
    }
    slot.duration.record(duration_ns);
    if (result.ok()) {
      if (invocation.batch != nullptr) {
        settle_batch(invocation, nullptr, end_ns);
      } else {
        (invocation.is_async ? slot.events_succeeded : slot.sync_successes)
            .fetch_add(1, std::memory_order_relaxed);
        // Destinations and idempotency only when asked for: the common case pays one branch.
        // (An async event with attributes may carry a settlement callback.)
        if (invocation.lineage.owns_key || invocation.version->has_destination ||
            (invocation.is_async && invocation.event != nullptr)) {
          settle_success(invocation, *result);
        }
      }
    } else {
      slot.errors.fetch_add(1, std::memory_order_relaxed);
      settle_failure(invocation, result.status(), end_ns);
    }
    if (invocation.completion != nullptr) {
      CurrentTurn& turn = current_turn();
      const detail::Invocation* outer = turn.delivering;
      turn.delivering = &invocation;
      invocation.completion->complete(std::move(result));
      turn.delivering = outer;
    }
    invocation.delivered.store(true);
    return;
  }
  // The deadline or shutdown answered already (or the handler overran): this result is late
  // and goes nowhere.
  slot.late_results.fetch_add(1, std::memory_order_relaxed);
  if (options.log_sink != nullptr) {
    log(LogLevel::kWarning, slot.name, invocation_id(invocation),
        fmt::format("late result dropped: the invocation timed out or was cancelled; the "
                    "handler returned after {}",
                    absl::FormatDuration(absl::Nanoseconds(duration_ns))));
  }
  // Its event is settled now that the handler gave it back: as the answer it got says.
  settle_failure(invocation,
                 invocation.answered.load() == Invocation::kByTimeout
                     ? timeout_status(invocation)
                     : absl::UnavailableError(fmt::format(
                           "host shut down while invocation of \"{}\" was running", slot.name)),
                 end_ns);
}

absl::Status HostCore::timeout_status(const Invocation& invocation) {
  return absl::DeadlineExceededError(fmt::format(
      "function \"{}\" timed out after {}", invocation.slot->name,
      absl::FormatDuration(absl::Nanoseconds(invocation.deadline_ns - invocation.start_ns))));
}

void HostCore::expire(Invocation& invocation) {
  FunctionSlot& slot = *invocation.slot;
  invocation.try_claim_answer(Invocation::kByResult);
  settle_unstarted(
      invocation,
      absl::DeadlineExceededError(fmt::format(
          "event for function \"{}\" expired: it waited longer than max_event_age ({}) since "
          "it was accepted",
          slot.name, absl::FormatDuration(invocation.version->spec.retry.max_event_age))));
  invocation.delivered.store(true);
  if (has_observers()) notify_dropped(invocation);
  let_go(invocation);
}

void HostCore::pin_for_firing(detail::TimerNode* node) { Invocation::of(node)->add_reference(); }

void HostCore::on_deadline(detail::TimerNode* node) {
  Invocation& invocation = *Invocation::of(node);
  if (invocation.try_claim_answer(Invocation::kByTimeout)) {
    invocation.slot->host->deliver_timeout(invocation, /*on_timer_thread=*/true);
  }
  invocation.release();
}

void HostCore::deliver_timeout(Invocation& invocation, bool on_timer_thread) {
  FunctionSlot& slot = *invocation.slot;
  slot.timeouts.fetch_add(1, std::memory_order_relaxed);
  invocation.cancel.cancel();
  // An asynchronous invocation's event is settled (retried, dead-lettered) by its runner once
  // the handler has returned and given the event back; only a caller waits here.
  if (invocation.completion != nullptr) {
    if (!on_timer_thread) {
      invocation.completion->complete(timeout_status(invocation));
    } else {
      // Waiters are answered now; callbacks (user code) run on the executor.
      std::shared_ptr<detail::CompletionState> completion = invocation.completion;
      detail::CompletionState::Callbacks callbacks =
          completion->complete_without_callbacks(timeout_status(invocation));
      if (!callbacks.empty()) {
        run_off_timer(
            [completion = std::move(completion), callbacks = std::move(callbacks)]() mutable {
              completion->run_callbacks(callbacks);
            });
      }
    }
  }
  if (on_timer_thread) {
    // The handler still runs: its thread no longer counts as capacity.
    executor->mark_stuck(invocation.worker);
    // Said now, not when the handler returns (the log sink is user code: not on this thread).
    if (invocation.is_async && options.log_sink != nullptr) {
      run_off_timer([this, name = slot.name, id = invocation_id(invocation),
                     message = fmt::format("{}; the event is retried or dead-lettered once the "
                                           "handler returns",
                                           timeout_status(invocation).ToString())] {
        log(LogLevel::kError, name, id, message);
      });
    }
  }
  invocation.delivered.store(true);
  if (draining_.load(std::memory_order_relaxed)) note_finished();
}

void HostCore::run_off_timer(Task task) {
  live_tasks_.fetch_add(1);
  auto shared = std::make_shared<Task>(std::move(task));
  absl::Status submitted = executor->submit([this, shared] {
    (*shared)();
    live_tasks_.fetch_sub(1);
  });
  if (submitted.ok()) return;
  // A shared executor that was shut down runs nothing more: run it here rather than lose it.
  (*shared)();
  live_tasks_.fetch_sub(1);
}

void HostCore::drop(FunctionSlot& slot, Invocation& invocation, absl::Status status) {
  slot.dropped.fetch_add(1, std::memory_order_relaxed);
  if (invocation.try_claim_answer(Invocation::kByShutdown)) {
    invocation.cancel.cancel();
    // Never started: its event is in the record, to be dead-lettered.
    settle_unstarted(invocation, status);
    if (invocation.completion != nullptr) invocation.completion->complete(std::move(status));
  }
  if (has_observers()) notify_dropped(invocation);
}

void HostCore::deliver_abandoned(Invocation& invocation, absl::Status status) {
  // Its handler runs: its runner settles the event when the handler returns.
  invocation.cancel.cancel();
  if (invocation.completion != nullptr) invocation.completion->complete(std::move(status));
}

}  // namespace fnhost
