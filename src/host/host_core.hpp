// SPDX-License-Identifier: Apache-2.0
// HostCore: the state behind fnhost::Host. Its methods are defined by concept, one file each,
// in the order an invocation meets them:
//   registry.cpp   register / update / remove, versions, stats
//   admission.cpp  admit: count an invocation in and queue it
//   scheduler.cpp  the ring of runnable functions and the runner tasks on the executor
//   execution.cpp  run one invocation: instance, handler, deadline, result
//   shutdown.cpp   drain, drop, cancel, report
//   host.cpp       the Host facade, ids and logging
// and, for events published to topics, src/routing/publish.cpp (subscribe, publish); for
// schedules, src/routing/schedules.cpp.
// Context (context.cpp) and Completion (completion.cpp) are the handler's and the caller's
// views of one invocation; Context reaches the host through the invocation's slot.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/striped_counter.hpp"
#include "common/sync.hpp"
#include "delivery/retry_queue.hpp"
#include "fnhost/host.hpp"
#include "host/clock_access.hpp"
#include "host/function_table.hpp"
#include "host/host_internal.hpp"
#include "host/observers.hpp"
#include "host/queue_budget.hpp"
#include "host/ring.hpp"
#include "host/timer_service.hpp"
#include "observability/host_observer.hpp"
#include "observability/metering.hpp"
#include "observability/run_telemetry.hpp"
#include "observability/telemetry_counters.hpp"
#include "observability/telemetry_queue.hpp"
#include "platform/platform.hpp"
#include "routing/batcher.hpp"
#include "routing/ordering.hpp"
#include "routing/router.hpp"
#include "routing/schedules.hpp"
#include "security/principals.hpp"

namespace fnhost {

struct HostCore {
  explicit HostCore(HostOptions options, std::shared_ptr<Executor> executor, bool owns_executor);
  ~HostCore();

  // Registration.
  // `owner`: the Caller's principal registering it (null: the host); it becomes the
  // function's identity unless spec.identity names one, which must then be the owner itself.
  absl::Status register_function(FunctionSpec spec, const detail::Principal* owner = nullptr);
  absl::Status update_function(FunctionSpec spec, const detail::Principal* owner = nullptr);
  absl::Status remove_function(std::string_view name);
  bool has_function(std::string_view name) const;
  std::vector<std::string> function_names() const;
  absl::StatusOr<FunctionStats> function_stats(std::string_view name) const;
  HostMetrics metrics() const;

  // Admission: queues an invocation; with `completion` it is synchronous. `lineage` says where
  // it comes from (a handler's call passes its chain depth and remaining budget).
  absl::Status admit(std::string_view name, Event&& event,
                     std::shared_ptr<detail::CompletionState> completion,
                     const detail::Lineage& lineage = {});
  absl::Status admit_unobserved(std::string_view name, Event&& event,
                                std::shared_ptr<detail::CompletionState> completion,
                                const detail::Lineage& lineage);
  Completion invoke(std::string_view name, Event&& event, const detail::Lineage& lineage = {});
  // An asynchronous invocation whose end `on_settled` is told (delivery/settlement.hpp).
  absl::Status invoke_async_settled(std::string_view name, Event&& event,
                                    SettledCallback on_settled,
                                    const detail::Lineage& lineage = {});
  // Queues an asynchronous invocation of `slot`'s function with an event shared by others
  // (publish's fan-out); observed like admit(). A refusal for capacity is not returned: the
  // event waits and is re-queued (a throttle), and this returns OK.
  absl::Status admit_shared(detail::FunctionSlot& slot, const std::shared_ptr<const Event>& event,
                            const detail::Lineage& lineage, bool* throttled);

  // HostLimits (host/event_limits.cpp). InvalidArgument, counted, for an event or attribute
  // over its limit (`sync`: Host::invoke's limit, else the asynchronous one).
  absl::Status check_event_limits(const Event& event, bool sync) const;
  // Counts one queued invocation of `bytes` against the host-wide bounds; ResourceExhausted,
  // counted, at either bound (nothing taken).
  absl::Status take_queue_budget(int64_t bytes);
  // Counts `count` events of `bytes` that wait outside the queues (behind an earlier event of
  // their ordering key) against the bounds, even past them: they were accepted already, and the
  // count makes publish refuse new events until they drain. Given back with
  // give_back_queue_budget.
  void take_queue_budget_anyway(int64_t count, int64_t bytes);
  // What one event counts against max_queued_bytes (0 when that bound is off).
  int64_t budget_bytes(const Event& event) const {
    return queued_bytes_budget_.enabled() ? detail::event_bytes(event) : 0;
  }
  // The same for an event held as its data alone.
  int64_t budget_bytes(const std::string& data) const {
    return queued_bytes_budget_.enabled() ? static_cast<int64_t>(data.size()) : 0;
  }
  // Gives back what `count` invocations holding `bytes` took.
  void give_back_queue_budget(int64_t count, int64_t bytes);
  // Whether one invocation of `bytes` could be queued now (take_queue_budget's answer, nothing
  // kept): publish checks it up front, so a full host refuses the event instead of accepting it
  // into deliveries that could only wait.
  absl::Status check_queue_room(int64_t bytes);
  LimitStats limit_stats() const;

  // Access control (security/access.cpp). A null principal is the host's own: always allowed.
  // PermissionDenied, counted, naming the deciding statement, unless the installed policy (if
  // any) lets `principal` do `action` to the resource.
  absl::Status authorize(const detail::Principal* principal, Action action, ResourceKind kind,
                         std::string_view name) const;
  // authorize(), then one token of the principal's rate limit (ResourceExhausted, counted, with
  // a retry-after hint).
  absl::Status authorize_call(const detail::Principal* principal, Action action, ResourceKind kind,
                              std::string_view name);
  absl::StatusOr<detail::Principal*> intern_principal(std::string_view name) {
    return principals_.intern(name);
  }
  absl::Status set_rate_limit(std::string_view principal, const RateLimit& limit);
  void set_policy(std::optional<Policy> policy);
  std::optional<Policy> policy() const;
  AccessStats access_stats() const;
  // A handler's call through Context: counts it against HostLimits::max_calls_per_invocation
  // (ResourceExhausted, counted, past it) and says which principal it is made as.
  absl::StatusOr<const detail::Principal*> begin_context_call(detail::Invocation& caller,
                                                              std::string_view callee);
  // What a Caller's unsubscribe checks: the function trigger or schedule `id` delivers to;
  // NotFound if there is none.
  absl::StatusOr<std::string> function_of_trigger(TriggerId id) const;

  ShutdownReport shutdown(absl::Duration timeout);
  bool is_accepting() const { return accepting_.load(); }

  // Triggers and publishing (routing/publish.cpp).
  // `owner`: whose trigger it is: its deliveries run as that principal (null: the host).
  absl::StatusOr<TriggerId> subscribe(TriggerSpec spec, const detail::Principal* owner = nullptr);
  absl::Status unsubscribe(TriggerId id);
  std::vector<TriggerInfo> triggers() const { return router_.list(); }
  // With `on_settled`, it is told once every delivery ended (delivery/settlement.hpp).
  absl::Status publish(Event&& event, const detail::Lineage& lineage = {},
                       SettledCallback on_settled = nullptr);
  absl::Status set_unrouted_function(std::string_view name);
  RouterStats router_stats() const;

  // Dead letters (delivery/dead_letters.cpp).
  std::vector<DeadLetter> dead_letters(std::string_view function, size_t limit) const;
  absl::StatusOr<DeadLetter> dead_letter(uint64_t id) const;
  int64_t dead_letter_count(std::string_view function) const;
  absl::Status delete_dead_letter(uint64_t id);
  absl::Status redrive(uint64_t id);
  absl::StatusOr<int64_t> redrive_all(std::string_view function, size_t limit);

  // Schedules (routing/schedules.cpp).
  // `owner`: whose schedule it is: its runs are made as that principal (null: the host).
  absl::StatusOr<TriggerId> schedule(ScheduleSpec spec, const detail::Principal* owner = nullptr);
  std::vector<ScheduleInfo> schedules() const;

  // The host's steady time in nanoseconds: the platform's steady clock, or the manual clock's
  // steady reading. Every point in an invocation's life (admission, start, deadline, end) is
  // read here, and the timer service reads the same clock.
  int64_t now_ns() const {
    return manual_clock_ == nullptr ? detail::platform::now_ns()
                                    : detail::ManualClockAccess::steady_ns(*manual_clock_);
  }
  // The host's wall time (UTC): absl::Now(), or the manual clock's.
  absl::Time wall_now() const {
    return manual_clock_ == nullptr ? absl::Now() : manual_clock_->now();
  }
  // A steady_clock time point at which to look at the host clock again when waiting for
  // `deadline_ns` (host time): the deadline itself with real time; with a manual clock, which
  // only moves when advanced, 10 ms from now.
  std::chrono::steady_clock::time_point wake_for(int64_t deadline_ns) const;

  // Formats the id of an invocation.
  std::string invocation_id(const detail::Invocation& invocation) const;
  detail::ShortText<32> invocation_id_text(const detail::Invocation& invocation) const;
  // What a record carries beside its message: the invocation's span, and fields.
  struct LogExtras {
    std::string_view trace_id;
    std::string_view span_id;
    std::span<const LogField> fields;
  };
  // Queues a record for the log sink (with the function's secrets redacted); counts it dropped
  // when the telemetry queue is full.
  void log(LogLevel level, std::string_view function, std::string_view invocation_id,
           std::string_view message, const LogExtras& extras) const;
  void log(LogLevel level, std::string_view function, std::string_view invocation_id,
           std::string_view message) const {
    log(level, function, invocation_id, message, LogExtras{});
  }
  // Waits until the log records and spans queued so far reached their sinks.
  bool flush_telemetry(absl::Duration timeout) const { return telemetry_->flush(timeout); }
  TelemetryStats telemetry_stats() const;
  // On the telemetry thread: hands `record` to the log sink and counts it.
  void write_log_record(const LogRecord& record) const;
  // HostOptions::invocation_logs' records and tracing's spans (null when both are off).
  std::unique_ptr<detail::RunTelemetry> make_run_telemetry();
  CostReport cost_report() const;
  // Tracing (host/spans.cpp): whether it is on; the span of an invocation as it starts; the
  // invocation's span written into an event it sends (as traceparent and tracestate), or into
  // its own event as it waits for a retry (the retry's span is then a child of this attempt).
  bool tracing() const { return options.tracing.span_sink != nullptr; }
  bool sample_new_trace() const;
  void begin_span(detail::Invocation& invocation) const;
  void inject_span(const detail::Invocation& invocation, Event& event) const;
  void carry_span(const detail::Invocation& invocation, std::string& data,
                  std::shared_ptr<const Event>& event) const;

  // Runners a function keeps waiting in the executor at most. The executor adds at most this
  // many threads per tick for one function's blocked backlog; the rest of a backlog is run by
  // runners that loop.
  static constexpr int kMaxWaitingRunners = 128;
  // How long a runner keeps taking turns before it ends its executor task.
  static constexpr int64_t kRunnerBudgetNs = 1'000'000;
  // Invocations one turn may claim at most (see Ring::take_turn), and how short a function's
  // last invocation must have been for it to be batched: a batch holds up at most a few of
  // these behind one another.
  static constexpr int kMaxBatch = 8;
  static constexpr int64_t kShortInvocationNs = 20'000;

  const HostOptions options;
  const std::shared_ptr<Executor> executor;
  // Log records and spans on their way to the sinks. Declared early: it is destroyed after
  // everything that may still queue into it.
  const std::unique_ptr<detail::TelemetryQueue> telemetry_;
  mutable detail::TelemetryCounters telemetry_counters_;
  // The host's own observers (HostObserver), told after the program's (options.observers) and
  // called by type: metering, and the records and spans of invocation_logs and tracing; null
  // when off.
  const std::unique_ptr<detail::Meter> meter_;
  const std::unique_ptr<detail::RunTelemetry> run_telemetry_;
  // Whether invocations' records or spans are queued (invocation_logs, tracing).
  const bool queues_telemetry_;
  // Whether a run is told to anyone: a program observer or one of the host's own.
  const bool observes_runs_;
  absl::Time created_at_;  // set by the constructor, once the clock is known
  const bool owns_executor;

 private:
  // The slot of registered function `name`; NotFound (not_registered) otherwise.
  absl::StatusOr<detail::FunctionSlot*> registered_slot(std::string_view name) const;
  // What admit_to() queues: the event, moved from `owned` or `*data` (a data-only event) or
  // shared from `*shared` (exactly one is non-null); with `completion` it is synchronous;
  // `on_end` (may be null) becomes its Invocation::on_end, with `on_end_context`.
  struct Admission {
    Event* owned = nullptr;
    std::string* data = nullptr;
    const std::shared_ptr<const Event>* shared = nullptr;
    std::shared_ptr<detail::CompletionState> completion;
    void (*on_end)(void*) = nullptr;
    void* on_end_context = nullptr;
    detail::Lineage lineage;
    // The caller re-queues the event if its queue is full (admit_or_wait): the event keeps the
    // idempotency key it claimed (lineage.owns_key).
    bool keeps_key_when_full = false;
    // Set by admit_to(): a duplicate of an idempotency key was answered, nothing was queued
    // (on_end will not be called).
    bool duplicate = false;
    // A duplicate whose settlement callback waits for the first copy (IdempotencyTable).
    bool settles_with_owner = false;
    // A batch invocation's events (`shared` is then the batch's summary).
    std::shared_ptr<const detail::BatchItems> batch;
  };
  // Counts an invocation of `slot`'s function in and queues it. Not observed. An event with
  // an idempotency key may be answered here instead (a duplicate: OK, nothing queued).
  absl::Status admit_to(detail::FunctionSlot& slot, Admission& admission);
  // Admits an asynchronous event the host has accepted already (a publish's fan-out, a
  // destination): a full queue is a throttle, and the event waits to be re-queued. Returns the
  // other refusals.
  absl::Status admit_or_wait(detail::FunctionSlot& slot, Admission& admission,
                             bool* throttled = nullptr);
  // A trigger's delivery of an event with an ordering key: admitted now if no event of its key
  // is in flight, else queued behind it (accepted); admit_shared() for one without a key.
  absl::Status deliver_ordered(detail::Trigger& trigger, const std::shared_ptr<const Event>& event,
                               const detail::Lineage& lineage, bool* throttled);
  // Invocation::on_end of an ordered event (context: its OrderingGroup): admits the next of its
  // key — on the executor when called on the timer thread.
  static void on_ordered_end(void* group);
  void advance_ordered(detail::OrderingGroup* group);
  // Admission's idempotency check for a fresh event with a key; OK with `*answered` set when a
  // duplicate was answered (or will be) without running.
  absl::Status claim_idempotency_key(detail::FunctionSlot& slot, const Event& event,
                                     Admission& admission, bool* answered);
  // What a registration's functions run their Context calls as (FunctionVersion::identity).
  absl::StatusOr<const detail::Principal*> identity_for(const FunctionSpec& spec,
                                                        const detail::Principal* owner);
  // Creates `count` instances of `version` by running its init on this thread; they count in
  // `*instances`.
  absl::Status provision(const detail::FunctionVersion& version, int count, int64_t* instances);
  // Makes `version` the latest of `slot` (under registration_mu_) and retires the one it
  // replaces; returns that one if it must be deleted (outside the lock).
  const detail::FunctionVersion* publish(detail::FunctionSlot& slot,
                                         std::unique_ptr<detail::FunctionVersion> version,
                                         int64_t provisioned)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(registration_mu_);
  // After remove_function, once nothing of `slot` is queued: releases its last version;
  // returns it if it must be deleted (outside the lock).
  const detail::FunctionVersion* release_removed(detail::FunctionSlot& slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(registration_mu_);
  // The same, taking the lock, for the paths that empty a removed function's queue.
  void release_if_removed(detail::FunctionSlot& slot);
  // If `slot` has invocations that may start now: lists it in the ring (unless it is listed
  // already) and tops up its waiting runners.
  void schedule(detail::FunctionSlot& slot);
  // Tops up the runner tasks waiting on `slot`'s behalf to the number of its invocations that
  // could start now (at most kMaxWaitingRunners), so the executor's backlog is the host's.
  void add_runners(detail::FunctionSlot& slot);
  // Submits one runner task; `origin` (may be null) is the function it is counted for. If the
  // executor refuses, answers every runnable invocation instead (none could ever run).
  void submit_runner(detail::FunctionSlot* origin);
  // An executor task: runs invocations of the functions at the head of the ring, one turn
  // each, until the ring is empty or its time budget is spent.
  void run_runner(detail::FunctionSlot* origin);
  // Claims a turn and takes its records: pinned, linked to the timer service (unarmed) and
  // visible to shutdown before this returns. Null slot: nothing to run, or shutting down.
  struct Turn {
    detail::FunctionSlot* slot = nullptr;
    int count = 0;
    bool waited = false;  // an admission had to be waited for: the clock read is stale
  };
  Turn claim_turn(int max_batch, detail::Invocation** out);
  // Ends `count` running invocations of `slot`: lists it again if that makes room under its
  // limit.
  void end_running(detail::FunctionSlot& slot, int count);
  struct Executed {
    bool timed_out = false;
    int64_t end_ns = 0;  // when the handler returned (platform::now_ns); 0 if it did not run
  };
  // An instance a runner keeps between the invocations of one batch, and its version.
  struct HeldInstance {
    detail::Instance* instance = nullptr;
    const detail::FunctionVersion* version = nullptr;
  };
  // Runs a claimed `invocation` (or, if shutdown abandoned it, only lets go of it); it starts
  // at `start_ns` (platform::now_ns), or now if that is 0. The instance is taken from `held` if
  // it fits (else `held` goes back to its pool); with `keep_instance`, for a function without
  // init, it is left in `held` afterwards (the next invocation of the batch runs on it, and
  // pins its version meanwhile); otherwise it goes back to its pool before the caller is
  // answered.
  Executed execute(detail::Invocation& invocation, int64_t start_ns, HeldInstance& held,
                   bool keep_instance);
  // Lets go of a claimed invocation that will not run here: unlinks its timer, unpins its
  // version and drops the runner's reference.
  void let_go(detail::Invocation& invocation);
  // Points a claimed invocation at the latest version if a hot swap happened since its claim.
  void repin_if_swapped(detail::Invocation& invocation);
  void release_held(HeldInstance& held);
  detail::Instance* acquire_instance(detail::Invocation& invocation, Result& failure);
  // Returns `instance` to `version`'s idle pool, or discards it.
  void release_instance(const detail::FunctionVersion& version, detail::Instance* instance,
                        bool discard);
  // Delivers the handler's result unless the deadline or shutdown answered first; a result
  // that arrives after the deadline is a timeout even if the timer has not fired yet.
  void finish(detail::Invocation& invocation, Result& result, int64_t end_ns);
  static absl::Status timeout_status(const detail::Invocation& invocation);
  // Ends a claimed asynchronous invocation whose event is older than its max_event_age
  // without running it: dead-lettered.
  void expire(detail::Invocation& invocation);
  // Answers a timed-out invocation (its answer already claimed) DeadlineExceeded and counts it.
  // On the timer thread: waiters are answered at once, the thread is marked stuck, and
  // callbacks and logging go to the executor.
  void deliver_timeout(detail::Invocation& invocation, bool on_timer_thread);
  static void on_deadline(detail::TimerNode* node);
  static void pin_for_firing(detail::TimerNode* node);
  // `count` invocations left `slot`'s queue: gives back what they counted against the host-wide
  // queue bounds, and remembers the acceptance time of the youngest (see
  // FunctionSlot::head_accepted_ns).
  void note_taken(detail::FunctionSlot& slot, detail::Invocation* const* taken, int count);
  // Runs the function's validator on the invocation's event; on a refusal sets `result` to the
  // InvalidArgument the caller gets, counts it, and returns false.
  static bool passes_validator(detail::Invocation& invocation, const FunctionSpec& spec,
                               Result& result);
  // Takes the records of `count` invocations already claimed from `slot`'s count, into `out`,
  // waiting out admissions that counted them but have not enqueued them yet; returns whether
  // any had to be waited for.
  bool take_claimed(detail::FunctionSlot& slot, detail::Invocation** out, int count);
  // Claims and takes one queued invocation of `slot` without running it (shutdown, refusal);
  // null when none is queued.
  detail::Invocation* take_unstarted(detail::FunctionSlot& slot);
  // Counts a queued invocation that will never run as dropped, answers it, releases it.
  void drop(detail::FunctionSlot& slot, detail::Invocation& invocation, absl::Status status);
  // Answers a running invocation shutdown abandoned (the caller claimed its answer).
  void deliver_abandoned(detail::Invocation& invocation, absl::Status status);
  // Settling an invocation's event once its attempt is over (delivery/outcomes.cpp): called by
  // the runner after the handler returned (whoever answered), or for an invocation that never
  // ran. A success records the idempotency key and goes to on_success; a failure of an
  // asynchronous event waits for a retry (or a throttle re-queue) or, after its last attempt,
  // goes to the dead letters and on_failure.
  void settle_success(detail::Invocation& invocation, const std::string& result);
  void settle_failure(detail::Invocation& invocation, const absl::Status& error, int64_t end_ns);
  // An invocation that never ran (dropped by shutdown, refused to run, expired in the queue).
  void settle_unstarted(detail::Invocation& invocation, const absl::Status& error);
  // Takes an invocation's event out of its record for what outlives it.
  static void take_event(detail::Invocation& invocation, std::string& data,
                         std::shared_ptr<const Event>& event);
  // Puts `waiting` in the retry queue for `delay_ns` (as a retry, or a throttle re-queue when
  // `throttle`); ends it as a dead letter if the host stopped accepting or the queue is full.
  void wait_to_retry(std::unique_ptr<detail::WaitingDelivery> waiting, int64_t delay_ns,
                     bool throttle);
  // An event refused for capacity (by a fan-out or a re-queue): waits for a throttle re-queue.
  void requeue_throttled(detail::FunctionSlot& slot, std::string data,
                         std::shared_ptr<const Event> event,
                         std::shared_ptr<const detail::BatchItems> batch,
                         const detail::Lineage& lineage, absl::Status refusal,
                         void (*on_end)(void*), void* on_end_context);
  // Ends a waiting event (or each item of a waiting batch) as a dead letter, and its on_end.
  void end_waiting(std::unique_ptr<detail::WaitingDelivery> waiting, const absl::Status& error);
  // A batch invocation's end: its items succeeded but for the failed ones (all of them with
  // `whole`, else those the handler reported), which wait together for a retry or end as dead
  // letters, each by its own error.
  void settle_batch(detail::Invocation& invocation, const absl::Status* whole, int64_t end_ns);
  // Tells the settlement trackers of a batch's items that did not fail that they succeeded.
  static void report_batch_successes(const detail::BatchItems& items,
                                     const detail::ItemFailures& failures, int attempts);
  // Batch triggers (routing/batch_delivery.cpp): collect a trigger's event, flush a batch as one
  // invocation, the window timer's hand-off, and shutdown's flush and stop.
  absl::Status deliver_batched(detail::Trigger& trigger, const std::shared_ptr<const Event>& event);
  void flush_batch(detail::Batcher& batcher, std::shared_ptr<detail::BatchItems> items);
  static void on_batch_window(detail::TimerNode* node);
  std::vector<detail::Batcher*> all_batchers();
  void flush_batches();
  void stop_batches();
  // The retry queue's hand-off (on the timer thread), and the executor task it hands to:
  // admits every due event again.
  static void on_retries_due(void* host);
  void redeliver_due();
  void redeliver(std::unique_ptr<detail::WaitingDelivery> waiting);
  // Ends an event for good as a dead letter: counted, kept by the store (or counted lost),
  // logged (with the id of the invocation it ends in, if any); the idempotency key is
  // forgotten. `attempts`: attempts made.
  void dead_letter(detail::FunctionSlot& slot, std::string data, std::shared_ptr<const Event> event,
                   const detail::Lineage& lineage, int attempts, const absl::Status& error,
                   int64_t last_attempt_ns, std::string_view invocation = {});
  // dead_letter() for an event, or for each item of `batch` when it is not null.
  void dead_letter_each(detail::FunctionSlot& slot, std::string data,
                        std::shared_ptr<const Event> event, const detail::BatchItems* batch,
                        const detail::Lineage& lineage, int attempts, const absl::Status& error,
                        int64_t last_attempt_ns, std::string_view invocation);
  // Sends an outcome to a destination; a refusal is counted on `slot` and logged.
  // Sent as `sender` (the function's principal: checked against the policy and its rate limit).
  void send_to_destination(detail::FunctionSlot& slot, const Destination& destination,
                           Event outcome, const detail::Lineage& lineage,
                           const detail::Principal* sender);
  // Shutdown's part: dead-letters every waiting retry and has none wait from now on; returns
  // how many it dead-lettered.
  int64_t stop_retries();
  // A host steady time as wall time.
  absl::Time wall_at(int64_t steady_ns) const {
    if (manual_clock_ != nullptr) return wall_now() - absl::Nanoseconds(now_ns() - steady_ns);
    return absl::FromUnixNanos(steady_ns + detail::platform::wall_minus_steady_ns(steady_ns));
  }
  // The host's steady time, coarsely (see platform::coarse_now_ns).
  int64_t coarse_now_ns() const {
    return manual_clock_ == nullptr ? detail::platform::coarse_now_ns()
                                    : detail::ManualClockAccess::steady_ns(*manual_clock_);
  }
  // What the calling thread's runner is doing, if it is one: shutdown() called from a then()
  // callback on that thread must not wait for its own turn or for the answer it is delivering.
  struct CurrentTurn {
    const HostCore* host = nullptr;
    int64_t running = 0;                             // invocations of the turn, counted as running
    const detail::Invocation* delivering = nullptr;  // whose callbacks run now
  };
  static CurrentTurn& current_turn();
  // The calling thread's turn's running count, if it is a runner of this host.
  int64_t own_running() const;
  // Whether the program installed observers (HostOptions::observers): admissions, refusals and
  // drops are told to them only.
  bool has_observers() const { return !options.observers.empty(); }
  void notify_refused(std::string_view name, const absl::Status& status, bool is_async) const;
  // Tells the program's observers and the host's own that an invocation starts, or how it
  // ended.
  // notify_started() clears `run.keeps_records` when START found no room.
  void notify_started(const detail::Invocation& invocation, detail::RunFacts& run) const;
  void notify_finished(const detail::Invocation& invocation, const detail::RunFacts& run) const;
  void notify_dropped(const detail::Invocation& invocation) const;
  // Runs `task` (host code that calls user code: callbacks, log sinks) on the executor, or
  // here if the executor refuses it.
  void run_off_timer(Task task);
  // Schedules: the timer's hooks (on the timer thread: they only pin the schedule and hand
  // the fire to the executor), the fire itself (on the executor), arming, stopping.
  static void on_schedule_taken(detail::TimerNode* node);
  static void on_schedule_due(detail::TimerNode* node);
  void fire_schedule(detail::Schedule& schedule);
  // A fire's run (claimed in `running` already): queues its invocation, counts it.
  void queue_run(detail::Schedule& schedule, absl::Time fire_time, int64_t number);
  // Links and arms `schedule`'s timer for its next_fire (unless that is never).
  void arm_schedule(detail::Schedule& schedule) ABSL_EXCLUSIVE_LOCKS_REQUIRED(schedules_mu_);
  // Removes schedule `id`; false if there is none.
  bool remove_schedule(TriggerId id);
  // Shutdown's part: no schedule fires once this returns (fires already handed to the executor
  // find them stopped), and no timer thread is still handing one over.
  void stop_schedules();
  void note_finished();
  int64_t outstanding() const;
  int64_t finished_total() const;
  std::vector<detail::FunctionSlot*> all_slots() const;

  std::atomic<bool> accepting_{true};
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};  // past the shutdown deadline: runners start nothing
  const uint32_t id_prefix_;
  // HostOptions::clock, or null for real time; and the same as the timer service's Clock.
  ManualClock* const manual_clock_;
  const detail::ManualClockAdapter manual_clock_adapter_;

  mutable detail::Mutex registration_mu_;
  detail::Ring ring_;
  // Runners between the stop check and making their claimed records visible to shutdown
  // (claim_turn): after the deadline shutdown waits for none to be left, then drops exactly
  // what the runners left for it.
  alignas(detail::kCacheLine) std::atomic<int64_t> claims_in_flight_{0};
  // Tasks of this host in the executor (runners, deferred callbacks) submitted and not yet
  // returned: the host's destructor waits for them.
  std::atomic<int64_t> live_tasks_{0};
  // Runner tasks submitted and not yet started, for all functions.
  std::atomic<int64_t> waiting_runners_{0};
  // A ManualExecutor's user pumps one task at a time to bound a frame: there a runner runs one
  // invocation. Elsewhere it keeps going for up to kRunnerBudgetNs.
  const bool one_invocation_per_runner_;

  // Inserts and iteration hold registration_mu_; find() is lock-free by design. Read by every
  // admission: on its own line, not with the counters above that runners write all the time
  // (sharing one made every invoke_async miss the cache).
  alignas(detail::kCacheLine) detail::FunctionTable table_;

  detail::Mutex drain_mu_;
  detail::CondVar drain_cv_;
  bool shut_down_ ABSL_GUARDED_BY(drain_mu_) = false;

  detail::TimerService timers_;

  detail::Router router_;
  // Where unrouted events go (set_unrouted_function); null: only counted.
  std::atomic<detail::FunctionSlot*> unrouted_slot_{nullptr};
  struct PublishCounters {
    std::atomic<int64_t> published{0};
    std::atomic<int64_t> routed{0};
    std::atomic<int64_t> unrouted{0};
    std::atomic<int64_t> catch_all{0};
    std::atomic<int64_t> deliveries{0};
    std::atomic<int64_t> refused{0};
    std::atomic<int64_t> throttled{0};
  };
  PublishCounters publish_counters_;

  // Every batch trigger's collector, kept for the host's lifetime (see routing/batcher.hpp).
  detail::Mutex batchers_mu_;
  std::vector<std::unique_ptr<detail::Batcher>> batchers_ ABSL_GUARDED_BY(batchers_mu_);

  // Events waiting for a retry or a throttle re-queue.
  detail::RetryQueue retries_;
  // Retry hand-offs in the executor (counted in live_tasks_ too): shutdown waits for none to
  // be left, so what they dead-letter is in its report.
  std::atomic<int64_t> retry_handoffs_{0};

  // Schedules by id, each holding one reference for this table (see detail::Schedule).
  mutable detail::Mutex schedules_mu_;
  absl::flat_hash_map<TriggerId, detail::Schedule*> schedules_ ABSL_GUARDED_BY(schedules_mu_);
  bool schedules_stopped_ ABSL_GUARDED_BY(schedules_mu_) = false;
  // Schedule timers taken out to fire whose fire is not yet in the executor (counted in
  // live_tasks_): stop_schedules() waits for none to be left.
  std::atomic<int64_t> schedule_handoffs_{0};

  // HostLimits (host/event_limits.cpp): the host-wide queue bounds, and refusals by reason.
  detail::QueueBudget queued_invocations_budget_{options.limits.max_queued_invocations};
  detail::QueueBudget queued_bytes_budget_{options.limits.max_queued_bytes};
  struct LimitCounters {
    std::atomic<int64_t> payload_too_large{0};
    std::atomic<int64_t> attribute_too_large{0};
    std::atomic<int64_t> queued_invocations_full{0};
    std::atomic<int64_t> queued_bytes_full{0};
    std::atomic<int64_t> function_rate_limited{0};
    std::atomic<int64_t> principal_rate_limited{0};
    std::atomic<int64_t> fanout_exceeded{0};
    std::atomic<int64_t> calls_per_invocation_exceeded{0};
  };
  mutable LimitCounters limit_counters_;

  // Access control (security/access.cpp): the principals, and the installed policy (null: none,
  // every call allowed) with how many denials each of its statements decided.
  detail::PrincipalTable principals_{options.limits.max_principals, options.principal_rate_limit};
  struct InstalledPolicy {
    explicit InstalledPolicy(Policy installed)
        : policy(std::move(installed)),
          denials(std::make_unique<std::atomic<int64_t>[]>(policy.statements().size())) {}
    Policy policy;
    std::unique_ptr<std::atomic<int64_t>[]> denials;
  };
  mutable std::shared_mutex policy_mu_;
  std::shared_ptr<const InstalledPolicy> policy_ ABSL_GUARDED_BY(policy_mu_);
  struct AccessCounters {
    std::atomic<int64_t> denied_explicitly{0};
    std::atomic<int64_t> denied_implicitly{0};
  };
  mutable AccessCounters access_counters_;
};

}  // namespace fnhost
