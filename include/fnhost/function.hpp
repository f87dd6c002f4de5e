// SPDX-License-Identifier: Apache-2.0
// File: fnhost/function.hpp
// What a hosted function is made of:
//  - `FunctionSpec`: name, handler, optional per-instance `init`, and Lambda-style configuration
//    (timeout, reserved concurrency, queue bound, provisioned instances, memory size, env).
//  - `Handler`: `(const Event&, Context&) -> Result`, where `Result` is the output bytes or a
//    status. It must be safe to call from several threads at once (it is shared by instances).
//  - `Context`: what one invocation sees — its id, deadline, cancellation, environment, its
//    instance's state, and `invoke()` to call another function.
//  - `FunctionStats`: the per-function counters, read with `Host::function_stats()`.
//
//   fnhost::FunctionSpec spec{
//       .name = "greet",
//       .handler = [](const fnhost::Event& event, fnhost::Context& ctx) -> fnhost::Result {
//         return "hello " + event.data + " from " + std::string(ctx.function_name());
//       },
//       .timeout = absl::Seconds(1),
//   };
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "fnhost/delivery.hpp"
#include "fnhost/event.hpp"
#include "fnhost/limits.hpp"
#include "fnhost/observability.hpp"

namespace fnhost {

namespace detail {
struct CancelState;
struct Invocation;
}  // namespace detail

// What a handler returns: the response bytes, or a status (an error code and message).
using Result = absl::StatusOr<std::string>;

class Context;

// A function's code. Called concurrently from several threads; must not throw past its own
// frame (an escaping exception is caught and becomes Internal with its message).
using Handler = std::function<Result(const Event&, Context&)>;

// Environment variables of a function, visible to its handler and init.
using EnvMap = absl::flat_hash_map<std::string, std::string>;

// What `init` sees when it creates an instance.
class InitContext {
 public:
  InitContext(std::string_view function_name, int64_t version, const EnvMap& env)
      : function_name_(function_name), version_(version), env_(env) {}
  [[nodiscard]] std::string_view function_name() const { return function_name_; }
  [[nodiscard]] int64_t function_version() const { return version_; }
  // The value of environment variable `key`, if the spec set it.
  [[nodiscard]] std::optional<std::string_view> env(std::string_view key) const;

 private:
  std::string_view function_name_;
  int64_t version_;
  const EnvMap& env_;
};

// One instance's state as init returns it: a shared_ptr to anything, with its type remembered
// when it is known, so Context::instance_state<T>() can refuse a wrong T. Made implicitly from
// any std::shared_ptr<T>, so `return std::make_shared<Model>(...)` works. From a
// std::shared_ptr<void> the type is unknown and cannot be checked.
class InstanceState {
 public:
  InstanceState() = default;
  template <class T>
  InstanceState(std::shared_ptr<T> state)  // NOLINT(google-explicit-constructor): by design
      : state_(std::move(state)), type_(std::is_void_v<T> ? nullptr : &typeid(T)) {}

  [[nodiscard]] void* get() const { return state_.get(); }
  // The type it was made from; null when unknown (made from shared_ptr<void>) or empty.
  [[nodiscard]] const std::type_info* type() const { return state_ ? type_ : nullptr; }

 private:
  std::shared_ptr<void> state_;
  const std::type_info* type_ = nullptr;
};

// Creates one instance's state (a connection, a cache, a model). The handler reaches it with
// `ctx.instance_state<T>()`. Return an error to fail the invocation that needed the instance;
// the next invocation tries again. Returning `std::shared_ptr<T>` (or declaring the lambda's
// return type `absl::StatusOr<fnhost::InstanceState>`) lets instance_state<T>() check T.
using InitFn = std::function<absl::StatusOr<InstanceState>(const InitContext&)>;

// The configuration of one function. Field order is API: fields are only ever appended.
struct FunctionSpec {
  // Unique name: 1..128 characters from [A-Za-z0-9_.-].
  std::string name;
  // The code. Required.
  Handler handler;
  // Optional per-instance initialisation; runs once per instance (a cold start).
  InitFn init;
  // How long one invocation may run, counted from when it starts (init included). > 0, <= 1 h.
  absl::Duration timeout = absl::Seconds(3);
  // Reserved concurrency: at most this many invocations run at once. 0 = no per-function limit
  // (the executor's max_threads bounds it). >= 0.
  int max_concurrency = 0;
  // Invocations that may wait for a free slot; one more is refused with ResourceExhausted.
  // 0 = no limit. >= 0.
  int max_queued = 0;
  // Provisioned concurrency: instances initialised at registration so the first calls are warm.
  // >= 0, and <= max_concurrency when that is set.
  int min_instances = 0;
  // Memory size reported for the function, in MiB (metering). 1..65536.
  int memory_mb = 128;
  // Environment variables, read with Context::env().
  EnvMap env;
  // How failed asynchronous invocations are retried (synchronous ones never are). The default
  // is Lambda's: 3 attempts in all, within 6 hours.
  RetryPolicy retry;
  // Where each asynchronous event's outcome is sent: after a success, and after its last
  // failed attempt (besides the dead-letter store). Empty: nowhere.
  Destination on_success;
  Destination on_failure;
  // How long a success is remembered for its Event::idempotency_key: a duplicate within it is
  // answered with the first result instead of running (a failure is forgotten at once, so the
  // event may be sent again). 0 turns idempotency off for this function. 0..7 days.
  absl::Duration idempotency_window = absl::Hours(1);
  // Records the handler writes through Context::log() below this level are dropped (their
  // arguments are then not even formatted).
  LogLevel log_level = LogLevel::kInfo;
  // Keys of `env` whose values are secrets: every log record of this function (Context::log()
  // messages and the host's own records, such as a failed attempt's error) shows
  // "[redacted]" where such a value would appear. Each key must be set in `env`.
  std::vector<std::string> secret_env;
  // Optional: checks each event on the executor before the handler runs (and before an
  // instance is taken or initialised). A non-OK status refuses the event: the invocation fails
  // with InvalidArgument carrying the validator's message — never retried, so an asynchronous
  // event is dead-lettered at once — and the handler does not run. A validator that throws
  // refuses likewise. Counted in FunctionStats::validation_failures (and errors). Must be
  // thread-safe: it runs on any executor thread, concurrently.
  std::function<absl::Status(const Event&)> validator;
  // Every invocation of this function, whoever calls (retries, deliveries of published events
  // and re-queues included), takes a token first; without one a direct call is refused with
  // ResourceExhausted and a retry-after hint, and an accepted asynchronous event waits and is
  // re-queued (a throttle: no attempt used). Counted in FunctionStats::throttles and
  // rate_limited. Default: no limit. update_function keeps the bucket's state.
  RateLimit rate_limit;
  // Optional: the principal this function's own calls (Context::invoke, invoke_async and
  // publish) are made as, and checked against the host's policy as (Host::set_policy) — a
  // narrower identity, like a Lambda execution role. Empty: they are made as the principal of
  // the call that started the invocation (the host's own principal, which no policy restricts,
  // for calls through Host). A principal name (fnhost/policy.hpp): 1..128 of
  // [A-Za-z0-9_.:@/-], not "host".
  std::string identity;
};

// Checks `spec` without registering it: InvalidArgument naming the field and what to fix.
[[nodiscard]] absl::Status validate_function_spec(const FunctionSpec& spec);

// Lets a handler notice that its invocation should stop: its deadline passed or the host is
// shutting down. Valid for the duration of the handler call.
class CancellationToken {
 public:
  // True once cancellation was requested. Lock-free.
  [[nodiscard]] bool is_cancelled() const;
  // Sleeps for `duration` or until cancellation, whichever comes first; returns whether
  // cancellation was requested. Tells the executor the thread is blocked meanwhile.
  bool wait_for(absl::Duration duration) const;

 private:
  friend class Context;
  explicit CancellationToken(detail::CancelState* state) : state_(state) {}

  detail::CancelState* state_;
};

// The events of a batch invocation (TriggerSpec::batch_size), in arrival order. Valid while
// the handler runs.
class EventBatch {
 public:
  explicit EventBatch(const std::vector<std::shared_ptr<const Event>>& events) : events_(&events) {}
  [[nodiscard]] size_t size() const { return events_->size(); }
  [[nodiscard]] const Event& operator[](size_t index) const { return *(*events_)[index]; }

 private:
  const std::vector<std::shared_ptr<const Event>>* events_;
};

// A handler's log (Context::log()): fmt-style records at four levels, each carrying the
// function's name, the invocation's id and (when traced) its trace and span ids, queued for
// HostOptions::log_sink. Records below FunctionSpec::log_level are dropped before formatting;
// secret env values are redacted from the message and the fields.
//
//   ctx.log().info("resized {} to {}x{}", key, width, height);
//   ctx.log().with("key", key).with("bytes", size).warning("slow read");
class FunctionLog {
 public:
  // The same log with one more field on every record it writes; `value` is formatted with fmt
  // ("{}").
  template <class T>
  [[nodiscard]] FunctionLog with(std::string_view key, const T& value) const {
    FunctionLog copy = *this;
    copy.fields_.emplace_back(std::string(key), fmt::format("{}", value));
    return copy;
  }

  template <class... Args>
  void debug(fmt::format_string<Args...> format, Args&&... args) const {
    log(LogLevel::kDebug, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  void info(fmt::format_string<Args...> format, Args&&... args) const {
    log(LogLevel::kInfo, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  void warning(fmt::format_string<Args...> format, Args&&... args) const {
    log(LogLevel::kWarning, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  void error(fmt::format_string<Args...> format, Args&&... args) const {
    log(LogLevel::kError, format, std::forward<Args>(args)...);
  }
  // Whether a record at `level` would be written (the function's log_level, and a sink).
  [[nodiscard]] bool enabled(LogLevel level) const;
  // Writes `message` as it is (no formatting) if `level` is enabled.
  void write(LogLevel level, std::string_view message) const;

 private:
  friend class Context;
  explicit FunctionLog(const detail::Invocation* invocation) : invocation_(invocation) {}
  template <class... Args>
  void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) const {
    if (!enabled(level)) return;
    write(level, fmt::format(format, std::forward<Args>(args)...));
  }

  const detail::Invocation* invocation_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

// What one invocation sees. Created by the host for each handler call; valid until the handler
// returns; not thread-safe (use it from the handler's thread).
class Context {
 public:
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Unique id of this invocation within the process, e.g. "7f3a9c10-000000000000002a".
  [[nodiscard]] std::string invocation_id() const;
  [[nodiscard]] std::string_view function_name() const;
  // The registration's version: 1 at register_function, +1 at each update_function.
  [[nodiscard]] int64_t function_version() const;
  [[nodiscard]] int memory_mb() const;
  // Time left until the deadline; zero or negative once it passed.
  [[nodiscard]] absl::Duration remaining() const;
  // Fires at the deadline and at host shutdown.
  [[nodiscard]] CancellationToken cancellation() const;
  [[nodiscard]] bool is_cancelled() const { return cancellation().is_cancelled(); }
  // Sleeps up to `duration`, returning early on cancellation. Returns false if cancelled.
  bool sleep_for(absl::Duration duration) const { return !cancellation().wait_for(duration); }
  // The value of environment variable `key`, if the spec set it.
  [[nodiscard]] std::optional<std::string_view> env(std::string_view key) const;
  // This invocation's log (see FunctionLog).
  [[nodiscard]] FunctionLog log() const { return FunctionLog(invocation_); }
  // Whether this invocation created its instance (a cold start).
  [[nodiscard]] bool is_cold_start() const;
  // This invocation's span with tracing on (HostOptions::tracing), else null: its trace id,
  // span id, flags and tracestate, e.g. to send format_traceparent(span->context) on an
  // outgoing request. Context::invoke, invoke_async and publish pass it on by themselves.
  [[nodiscard]] const InvocationSpan* span() const;
  // The state `init` returned for this invocation's instance; nullptr without init, and
  // nullptr if init returned a std::shared_ptr of another type than T (a wrong T is never
  // undefined behaviour when init returned a typed pointer; a shared_ptr<void> is unchecked).
  template <class T>
  [[nodiscard]] T* instance_state() const {
    const InstanceState* state = instance_state_holder();
    if (state == nullptr) return nullptr;
    const std::type_info* type = state->type();
    if (type != nullptr && *type != typeid(T)) return nullptr;
    return static_cast<T*>(state->get());
  }

  // The three calls below chain: the callee runs with the smaller of its own timeout and this
  // invocation's remaining() at the time of the call (one end-to-end budget flows through a
  // chain; DeadlineExceeded at once if none is left), and one level deeper in the chain:
  // past HostOptions::max_chain_depth the call is refused with FailedPrecondition (a handler
  // calling itself in a loop). Asynchronous callees keep both through their retries.
  //
  // Invokes function `name` synchronously and waits for its result, at most until this
  // invocation's deadline (then DeadlineExceeded). Same status codes as Host::invoke. The wait
  // counts as blocking, so the executor can run the callee on another thread.
  Result invoke(std::string_view name, Event event);
  // Queues an asynchronous invocation of `name` (same rules as Host::invoke_async).
  [[nodiscard]] absl::Status invoke_async(std::string_view name, Event event);
  // Publishes `event` to its topic's triggers (same rules as Host::publish).
  [[nodiscard]] absl::Status publish(Event event);
  // How deep in a chain this invocation is: 0 when called from outside a handler.
  [[nodiscard]] int chain_depth() const;
  // Which attempt of its event this is: 1, then 2 for the first retry, ...
  [[nodiscard]] int attempt() const;
  // A batch invocation's events (TriggerSpec::batch_size); null for a single event (the
  // handler's `event` is then the event; for a batch it is a summary: type "fnhost.batch", the
  // first event's topic, and the count in `data`).
  [[nodiscard]] const EventBatch* batch() const;
  // Reports that item `index` of the batch failed with `error` (not OK) while the others
  // succeeded: when the handler returns OK, only the failed items are retried (as a smaller
  // batch) or dead-lettered, each by its own error's class. If the handler returns an error,
  // every item failed with it. InvalidArgument for a bad index, an OK error, or outside a batch.
  absl::Status fail_batch_item(size_t index, absl::Status error);

 private:
  // Made by the host for each handler call.
  friend struct HostCore;
  explicit Context(detail::Invocation& invocation);
  const InstanceState* instance_state_holder() const;

  detail::Invocation* invocation_;
  std::optional<EventBatch> batch_;
};

// Latency summary of a duration histogram. count and max are exact; each percentile
// (nearest rank) is within 1/128 (0.78%) of the exact one when that lies between 1 us and 1 h
// (a duration below 1 us counts as 1 us, one above 1 h as 1 h).
struct DurationSummary {
  int64_t count = 0;
  absl::Duration p50 = absl::ZeroDuration();
  absl::Duration p90 = absl::ZeroDuration();
  absl::Duration p99 = absl::ZeroDuration();
  absl::Duration max = absl::ZeroDuration();
  absl::Duration sum = absl::ZeroDuration();  // of every duration counted (exact)
  // Cumulative counts, as a Prometheus histogram's `le` buckets: buckets[i] counts the
  // durations at most kDurationBucketBounds[i] (within 1/128 of the bound: the histogram's
  // bucket around the bound counts in full when its midpoint is at most the bound), and the
  // last element, one past the bounds, counts them all (`+Inf`, equal to count).
  std::vector<int64_t> buckets;
};

// The upper bounds of DurationSummary::buckets: 1-2.5-5 steps from 1 us to 10 s, then 30 s,
// 1 min, 5 min, 15 min and 1 h.
inline constexpr std::array<absl::Duration, 27> kDurationBucketBounds = {
    absl::Microseconds(1),   absl::Nanoseconds(2500),  absl::Microseconds(5),
    absl::Microseconds(10),  absl::Microseconds(25),   absl::Microseconds(50),
    absl::Microseconds(100), absl::Microseconds(250),  absl::Microseconds(500),
    absl::Milliseconds(1),   absl::Microseconds(2500), absl::Milliseconds(5),
    absl::Milliseconds(10),  absl::Milliseconds(25),   absl::Milliseconds(50),
    absl::Milliseconds(100), absl::Milliseconds(250),  absl::Milliseconds(500),
    absl::Seconds(1),        absl::Milliseconds(2500), absl::Seconds(5),
    absl::Seconds(10),       absl::Seconds(30),        absl::Minutes(1),
    absl::Minutes(5),        absl::Minutes(15),        absl::Hours(1)};

// Per-function counters (cumulative since registration, across versions) and gauges (now).
struct FunctionStats {
  std::string name;
  int64_t version = 0;       // current version
  int64_t invocations = 0;   // accepted invocations (sync and async)
  int64_t successes = 0;     // handler returned a value
  int64_t errors = 0;        // handler or init returned an error or threw
  int64_t throttles = 0;     // refused with ResourceExhausted (queue full, rate limit)
  int64_t timeouts = 0;      // answered DeadlineExceeded at the deadline
  int64_t cold_starts = 0;   // instances created on demand (init ran for an invocation)
  int64_t late_results = 0;  // results that arrived after the deadline and were dropped
  int64_t dropped = 0;       // queued invocations dropped by shutdown, never run
  int64_t in_flight = 0;     // gauge: running now
  int64_t queued = 0;        // gauge: accepted, waiting to start
  int64_t instances = 0;     // gauge: instances alive (idle + busy)
  // Asynchronous events (invoke_async, triggers, schedules, destinations, redrives). Each
  // accepted event ends exactly once, as a success or a dead letter, however many attempts it
  // takes: events_accepted = events_succeeded + events_dead_lettered + events_pending.
  int64_t events_accepted = 0;
  int64_t events_succeeded = 0;
  int64_t events_dead_lettered = 0;  // kept by the store or not (see dead_letters_lost)
  int64_t events_pending = 0;        // gauge: queued, running or waiting to be retried
  int64_t retries = 0;               // attempts scheduled after a failed attempt
  int64_t throttle_requeues = 0;     // re-queued after a capacity refusal (no attempt used)
  int64_t duplicates = 0;            // answered from an idempotency record instead of running
  int64_t dead_letters_lost = 0;     // dead letters the store refused (full) or no store kept
  int64_t destination_errors = 0;    // outcomes a destination refused (missing function, ...)
  int64_t redriven = 0;              // dead letters redriven
  int64_t rate_limited = 0;          // of the throttles, refused by FunctionSpec::rate_limit
  int64_t validation_failures = 0;   // events FunctionSpec::validator refused (handler not run)
  DurationSummary duration;          // handler run time of finished invocations
  DurationSummary init_duration;     // init run time of cold starts
  // Gauge, approximate: how long the oldest queued invocation's event has waited since it was
  // first accepted (a retry's counts from its first attempt's acceptance, as Lambda's
  // AsyncEventAge does); zero when none is queued. Read from the acceptance time of the
  // invocation that was queued into an empty queue or started last, so it may overstate the
  // age by the gap between two admissions; to about 10 ms (a coarse clock).
  absl::Duration oldest_queued_age;
};

}  // namespace fnhost
