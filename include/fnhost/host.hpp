// SPDX-License-Identifier: Apache-2.0
// File: fnhost/host.hpp
// `Host`: the object a program creates. It owns the function registry, an executor (an
// AutoscalingExecutor unless you pass your own), per-function queues and instances, the
// deadline timer, and the counters.
//
//   auto host = fnhost::Host::create().value();
//   absl::Status registered = host.register_function({
//       .name = "echo",
//       .handler = [](const fnhost::Event& event, fnhost::Context&) -> fnhost::Result {
//         return event.data;
//       }});
//   fnhost::Result result = host.invoke("echo", fnhost::Event::with_data("hi")).get();
//   absl::Status queued = host.invoke_async("echo", fnhost::Event::with_data("later"));
//   fnhost::ShutdownReport report = host.shutdown(absl::Seconds(5));
//
// Re-entrancy: a handler may call any Host method except shutdown() and the destructor (use
// Context::invoke to call another function and wait for it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/caller.hpp"
#include "fnhost/clock.hpp"
#include "fnhost/completion.hpp"
#include "fnhost/delivery.hpp"
#include "fnhost/event.hpp"
#include "fnhost/executor.hpp"
#include "fnhost/function.hpp"
#include "fnhost/limits.hpp"
#include "fnhost/metering.hpp"
#include "fnhost/metrics.hpp"
#include "fnhost/observability.hpp"
#include "fnhost/policy.hpp"
#include "fnhost/router.hpp"
#include "fnhost/tracing.hpp"

namespace fnhost {

// Configuration of a Host. Validated by Host::create().
struct HostOptions {
  // Options of the AutoscalingExecutor the host creates when `executor` is null.
  ExecutorOptions executor_options;
  // Run invocations on this executor instead (e.g. a ManualExecutor pumped by a game loop, or
  // one AutoscalingExecutor shared by several hosts). The host keeps a reference; it never
  // shuts down an executor it did not create. While shutdown() or the destructor waits, it
  // pumps a ManualExecutor itself (help_one).
  std::shared_ptr<Executor> executor;
  // Where log records go. Null discards them. Default: one logfmt line per record on stderr.
  std::shared_ptr<LogSink> log_sink = make_stderr_log_sink();
  // How long the destructor lets queued and running invocations finish. >= 0;
  // absl::InfiniteDuration() waits for all of them.
  absl::Duration drain_timeout = absl::Seconds(30);
  // Told about every invocation (see InvocationObserver), in this order. Empty costs nothing.
  std::vector<std::shared_ptr<InvocationObserver>> observers;
  // Where the host reads the time. Null: real time. A ManualClock makes everything timed
  // follow it (deadlines, Context::remaining(), schedules, retry backoffs, timestamps): see
  // fnhost/clock.hpp.
  std::shared_ptr<ManualClock> clock;
  // Where asynchronous events go after their last attempt. Default: in memory, 10,000 letters
  // (beyond that a dead letter is counted in FunctionStats::dead_letters_lost and logged).
  // Null: dead letters are counted and logged only.
  std::shared_ptr<DeadLetterStore> dead_letter_store = make_memory_dead_letter_store();
  // How deep handlers may chain calls (Context::invoke, invoke_async, publish, and
  // destinations): a call at a greater depth is refused with FailedPrecondition. 1..1000.
  int max_chain_depth = 16;
  // Events waiting for a retry or a throttle re-queue, host-wide, at most (each ~240 bytes
  // plus a payload over 15 bytes). One more is dead-lettered with ResourceExhausted. >= 1.
  int64_t max_pending_retries = 1'000'000;
  // Writes START, END and REPORT records (Lambda's, with duration, billed duration, memory
  // size, init duration on a cold start, CPU time and outcome) to log_sink for every
  // invocation that starts. Off by default: it costs an observer's work per invocation.
  bool invocation_logs = false;
  // Log records (and spans, see `tracing`) wait for their sink in a queue of this many places (a
  // record each; an invocation's END, REPORT and span share one); when it is full, new ones are
  // dropped and counted (HostMetrics::telemetry), so a slow sink never stalls an invocation.
  // 1..1,048,576.
  int64_t telemetry_queue_capacity = 16'384;
  // Spans for every invocation, W3C trace context on events (see fnhost/tracing.hpp). Off
  // unless tracing.span_sink is set.
  TracingOptions tracing;
  // Billed duration, GB-seconds, CPU time and cost per function (see fnhost/metering.hpp,
  // Host::cost_report()). Off unless metering.enabled.
  MeteringOptions metering;
  // Largest events and attributes, and the host-wide bound on queued invocations and their
  // bytes (see fnhost/limits.hpp).
  HostLimits limits;
  // The rate limit every principal other than the host gets (each its own bucket), unless
  // Host::set_rate_limit gives it another. Default: none.
  RateLimit principal_rate_limit;
};

// What shutdown() found. Every invocation accepted before shutdown is in exactly one of the
// host's counters: it succeeded or failed (FunctionStats), or it is counted here as dropped or
// unfinished.
struct ShutdownReport {
  int64_t completed = 0;   // invocations that finished while shutdown waited
  int64_t dropped = 0;     // still queued at the deadline: never ran, callers got Unavailable
  int64_t unfinished = 0;  // still running at the deadline: cancelled, callers got Unavailable
  // Asynchronous events that were waiting for a retry (or a throttle re-queue) when shutdown
  // began: dead-lettered with Unavailable, to be redriven by a later host if the store keeps
  // them.
  int64_t retries_dead_lettered = 0;
  // True when nothing was dropped, left running or left waiting for a retry.
  [[nodiscard]] bool drained() const {
    return dropped == 0 && unfinished == 0 && retries_dead_lettered == 0;
  }
};

// The in-process function host. Thread-safe: every method may be called from any thread.
class Host {
 public:
  // Creates a host. InvalidArgument names a bad option.
  [[nodiscard]] static absl::StatusOr<Host> create(HostOptions options = {});

  // A moved-from Host may only be destroyed or assigned to; any other call on it is undefined.
  Host(Host&&) noexcept;
  Host& operator=(Host&&) noexcept;
  // Drains like shutdown(options.drain_timeout), then waits for handlers still running to
  // return (they were cancelled) and stops the executor the host created.
  ~Host();

  // Registers a function as version 1 and initialises its `min_instances` on this thread.
  // InvalidArgument for a bad spec (the message names the field), AlreadyExists for a taken
  // name, Internal if a provisioned instance's init fails (nothing is registered),
  // Unavailable after shutdown.
  [[nodiscard]] absl::Status register_function(FunctionSpec spec);

  // Hot swap: atomically replaces the handler and configuration of `spec.name` with a new
  // version. Invocations already running finish on the old code; the ones that start after
  // this returns use the new one (queued ones included). Instances of the old version are not
  // reused. NotFound if no such function; otherwise as register_function.
  [[nodiscard]] absl::Status update_function(FunctionSpec spec);

  // Removes a function: new calls get NotFound, queued and running invocations finish.
  // NotFound if no such function.
  [[nodiscard]] absl::Status remove_function(std::string_view name);

  // Whether `name` is registered now.
  [[nodiscard]] bool has_function(std::string_view name) const;
  // Names of the registered functions, sorted.
  [[nodiscard]] std::vector<std::string> function_names() const;

  // Request/response invocation: queues `event` for `name` and returns a Completion with the
  // handler's result or a status. Never retried. Refusals come back as an already-answered
  // Completion: NotFound (no such function), InvalidArgument (empty name), ResourceExhausted
  // (the function's queue is full), Unavailable (shutting down). Later answers: Internal (the
  // handler failed or threw; its message), DeadlineExceeded (at the deadline, at once), or the
  // handler's own status. Never blocks; the handler runs on the executor.
  [[nodiscard]] Completion invoke(std::string_view name, Event event);

  // Event invocation: queues `event` for `name` and returns at once. OK means accepted: the
  // event ends exactly once, as a success or a dead letter, after the attempts its function's
  // RetryPolicy allows (README, "Reliable delivery"); a duplicate of an idempotency key is
  // answered OK without running. Refusals as for invoke(). Never blocks.
  [[nodiscard]] absl::Status invoke_async(std::string_view name, Event event);
  // As invoke_async(name, event), and once the accepted event ends `on_settled` is told how
  // (SettledEvent: succeeded, dead-lettered, or dropped at shutdown) — after its retries, on
  // whichever host thread ended it. Not called when this returns a refusal. What connectors
  // acknowledge a broker's message on.
  [[nodiscard]] absl::Status invoke_async(std::string_view name, Event event,
                                          SettledCallback on_settled);

  // Binds a topic pattern (and filter) to a function: every event published to a matching
  // topic that passes the filter is queued for the function, asynchronously. Returns the
  // trigger's id. InvalidArgument for a bad pattern or filter (the message names the byte),
  // NotFound if the function is not registered, ResourceExhausted past 1,000,000 triggers,
  // Unavailable after shutdown. Takes effect for publishes that start after it returns.
  [[nodiscard]] absl::StatusOr<TriggerId> subscribe(TriggerSpec spec);
  // Removes a trigger or a schedule. A trigger: it waits for publishes delivering to it (a few
  // microseconds: admission never waits), and none delivers to it after this returns. A
  // schedule: it does not fire
  // again, but a fire already handed to the executor may still queue one invocation. NotFound
  // if no trigger or schedule has that id.
  [[nodiscard]] absl::Status unsubscribe(TriggerId id);
  // Every trigger with its counters, by id.
  [[nodiscard]] std::vector<TriggerInfo> triggers() const;
  // Routes `event` by its `topic` to every matching trigger: one asynchronous invocation per
  // trigger, all sharing one immutable copy of the event (the payload is not copied per
  // subscriber). OK means the event was routed: each invocation then ends like one from
  // invoke_async. A delivery that finds its function's queue full waits and is re-queued (a
  // throttle, counted in the trigger's `throttled`); one its function refuses (removed,
  // shutting down) is counted in the trigger's `refused`. An event no trigger takes is counted as
  // unrouted and, if set_unrouted_function() named one, queued for that function. InvalidArgument
  // for a bad topic, Unavailable after shutdown. Never blocks; no ordering between events is
  // promised.
  [[nodiscard]] absl::Status publish(Event event);
  // As publish(event), and `on_settled` is told once every delivery the event made has ended
  // (after retries; batch and ordered deliveries included): kDropped if any was dropped, else
  // kDeadLettered if any was dead-lettered, else kSucceeded (also at once when no trigger took
  // it and there is no catch-all). Not called when this returns a refusal.
  [[nodiscard]] absl::Status publish(Event event, SettledCallback on_settled);
  // Invokes `spec.function` asynchronously at every fire time of `spec.expression` (UTC), from
  // the host clock's time now on: the first fire is the first fire time after now. Returns the
  // schedule's id (shared with triggers: unsubscribe() removes it). After a stall the schedule
  // fires once for the fire times it passed over and counts them as missed; with
  // OverlapPolicy::kSkip a fire is skipped while the previous run is still queued or running.
  // Fires run nothing on the timer thread: each is handed to the executor, which queues the
  // invocation (a refusal is counted, and the schedule goes on). InvalidArgument for a bad
  // expression (the message names it), NotFound if the function is not registered,
  // ResourceExhausted past 1,000,000 schedules, Unavailable after shutdown. Shutdown stops
  // every schedule. Thread-safe; never blocks beyond a short lock.
  [[nodiscard]] absl::StatusOr<TriggerId> schedule(ScheduleSpec spec);
  // Every schedule with its next fire time and counters, by id.
  [[nodiscard]] std::vector<ScheduleInfo> schedules() const;
  // The catch-all: events no trigger takes are queued for function `name` (empty: none, they
  // are only counted). NotFound if `name` is not registered.
  [[nodiscard]] absl::Status set_unrouted_function(std::string_view name);
  // The router's counters.
  [[nodiscard]] RouterStats router_stats() const;

  // Dead letters (see HostOptions::dead_letter_store): up to `limit` of function `function`
  // (every function when empty), oldest first. Empty without a store.
  [[nodiscard]] std::vector<DeadLetter> dead_letters(std::string_view function = {},
                                                     size_t limit = 100) const;
  // One dead letter; NotFound if the store does not keep that id (or there is no store).
  [[nodiscard]] absl::StatusOr<DeadLetter> dead_letter(uint64_t id) const;
  // How many dead letters are kept for `function` (every function when empty).
  [[nodiscard]] int64_t dead_letter_count(std::string_view function = {}) const;
  // Deletes a dead letter; NotFound if it is not kept.
  [[nodiscard]] absl::Status delete_dead_letter(uint64_t id);
  // Takes dead letter `id` out of the store and queues its event again for its function, as a
  // new asynchronous event (attempts start over; counted in FunctionStats::redriven). If the
  // function refuses it (not registered, queue full, shutting down) the letter is put back,
  // under a new id the status names, and the refusal is returned. NotFound if not kept.
  [[nodiscard]] absl::Status redrive(uint64_t id);
  // Redrives up to `limit` dead letters of `function` (every function when empty), oldest
  // first; stops at the first refusal. Returns how many were redriven, or the refusal (its
  // message says how many were redriven before it).
  [[nodiscard]] absl::StatusOr<int64_t> redrive_all(std::string_view function = {},
                                                    size_t limit = 1000);

  // Access control (README, "Access control"). A Caller makes calls as `principal` (1..128 of
  // [A-Za-z0-9_.:@/-], not "host"): checked against the policy and the principal's rate limit.
  // InvalidArgument for a bad name, ResourceExhausted past HostLimits::max_principals distinct
  // principals. The Host's own methods act as the host's principal, which no policy or
  // principal rate limit restricts.
  [[nodiscard]] absl::StatusOr<Caller> caller(std::string_view principal);
  // Installs `policy` for every check that starts after this returns, atomically (a check sees
  // the old policy or the new one, never a mix). Until the first call, and after clear_policy(),
  // there is no policy and every principal may do everything.
  void set_policy(Policy policy);
  void clear_policy();
  // The installed policy; nullopt when there is none.
  [[nodiscard]] std::optional<Policy> policy() const;
  // The rate limit of `principal`'s calls (invoke, invoke_async, publish, through a Caller or
  // from its handlers), replacing HostOptions::principal_rate_limit for it; RateLimit{} removes
  // the limit. Errors as for caller(), and InvalidArgument for a bad limit.
  [[nodiscard]] absl::Status set_rate_limit(std::string_view principal, RateLimit limit);

  // Counters of function `name`. NotFound if it is not registered.
  [[nodiscard]] absl::StatusOr<FunctionStats> function_stats(std::string_view name) const;
  // The executor's counters.
  [[nodiscard]] ExecutorStats executor_stats() const;
  // Every function's, the executor's, the router's, each trigger's and each schedule's counters
  // at once (each part exact at some moment of the call); prometheus_text() formats it.
  [[nodiscard]] HostMetrics metrics() const;
  // Waits until every log record and span queued before the call has been handed to its sink
  // (records reach sinks on the host's "fnhost-export" thread, not on the caller's), or
  // `timeout` passed; returns whether they all were. shutdown() does this before it returns
  // (for its time left, at least a second), and the destructor once more, for up to a second. From
  // a sink (on that thread) it returns false at once.
  bool flush_telemetry(absl::Duration timeout = absl::Seconds(10)) const;
  // What each function's invocations cost since the host was created (HostOptions::metering;
  // empty when metering is off). Use CostReport::since() for a window.
  [[nodiscard]] CostReport cost_report() const;
  // The executor invocations run on.
  [[nodiscard]] Executor& executor() const;

  // Stops accepting (new calls get Unavailable), waits up to `timeout` for queued and running
  // invocations to finish, then drops what is still queued and cancels what still runs, and
  // reports the counts. Returns without waiting for cancelled handlers to return. A second call
  // reports zeros. Must not be called from a handler.
  ShutdownReport shutdown(absl::Duration timeout);
  // Whether the host still accepts invocations.
  [[nodiscard]] bool is_accepting() const;

 private:
  struct Impl;
  explicit Host(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fnhost
