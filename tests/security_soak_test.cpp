// SPDX-License-Identifier: Apache-2.0
// The security soak: for FNHOST_SOAK_SECONDS seconds (default 20) producers call a host as
// several tenants, a principal no policy allows and the host itself — invoke_async with
// settlement callbacks, publish, synchronous invoke — with payloads and attributes sometimes
// over the limits and bursts that fill the queue bounds, while one thread swaps the access
// policy every few milliseconds and another subscribes and unsubscribes triggers and hot-swaps
// functions. The functions succeed, fail with retryable errors, throw, time out, are
// rate-limited, reject their input, or (one with its own identity) call the others through
// Context, where the policy allows it. Then the producers stop and the host must drain by
// itself (retries and throttled deliveries included); a last short flurry of calls races
// host.shutdown(). The test then checks, exactly, that every accepted event settled once, that
// the host's refusal counters equal the refusals its callers saw (by reason), that nothing is
// left queued, and (without sanitizers) that the memory it used was given back.
//
// Hidden ([.soak]): run it with `fnhost_tests "[.soak][security]"`; ctest runs it as
// `security_soak` (label `soak`). Every count it asserts is exact whatever the timing; only the
// mix of outcomes varies from run to run. It prints one summary line to quote.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "fnhost/fnhost.hpp"
#include "host/invocation_pool.hpp"
#include "testing/host_helpers.hpp"
#include "testing/scale.hpp"
#include "testing/wait.hpp"
#include "testing/watchdog.hpp"

namespace {

using fnhost::Caller;
using fnhost::Context;
using fnhost::Event;
using fnhost::FunctionSpec;
using fnhost::Host;
using fnhost::HostOptions;
using fnhost::Result;
using fnhost::SettledEvent;
using fnhost::Settlement;
using fnhost::testing::kSanitized;
using fnhost::testing::wait_until;

// ---- Configuration ------------------------------------------------------------------------------

constexpr int64_t kMaxSyncPayload = 128 * 1024;
constexpr int64_t kMaxAsyncPayload = 64 * 1024;
constexpr int64_t kMaxAttribute = 256;
constexpr int64_t kMaxExtensions = 8;
constexpr int64_t kMaxFanout = 16;
constexpr int64_t kMaxCallsPerInvocation = 8;

// The fan-out triggers the churn thread keeps on "fanout/storm": around kMaxFanout, so that some
// publishes there are refused whole and some are delivered.
constexpr int kFewestFanoutTriggers = 10;
constexpr int kMostFanoutTriggers = 22;

int soak_seconds() {
  const char* text = std::getenv("FNHOST_SOAK_SECONDS");
  if (text == nullptr || *text == '\0') return 20;
  char* end = nullptr;
  const long seconds = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || seconds < 1 || seconds > 86'400) return 20;
  return static_cast<int>(seconds);
}

bool has(const absl::Status& status, std::string_view needle) {
  return fnhost::testing::message_contains(status, needle);
}

bool starts_with(const absl::Status& status, std::string_view prefix) {
  const absl::string_view message = status.message();
  return std::string_view(message.data(), message.size()).substr(0, prefix.size()) == prefix;
}

// ---- Outcome accounting -------------------------------------------------------------------------

// What became of one call, as its caller (a producer or a handler's Context call) saw it.
enum Kind : int {
  kAcceptedSettled,     // invoke_async / publish with on_settled: accepted
  kAcceptedUnsettled,   // accepted without a callback (Context calls, plain invoke_async)
  kSyncAnswered,        // a synchronous invoke answered by its handler (an expected result)
  kPermissionDenied,    // the policy refused it
  kPrincipalRate,       // a principal's rate limit (ResourceExhausted + retry-after, "principal")
  kFunctionRate,        // a function's rate_limit (ResourceExhausted + retry-after, "function")
  kQueueBound,          // max_queued_invocations / max_queued_bytes
  kFanout,              // max_fanout
  kCallsPerInvocation,  // max_calls_per_invocation (handlers only)
  kSizeRefused,         // payload or attribute over the limits
  kNotFoundExpected,    // a call to "ghost", which is never registered
  kUnavailableAtShutdown,  // a call made once shutdown began (the last flurry, handlers)
  kUnexpected,             // anything else: must stay zero
  kKinds
};

constexpr const char* kKindNames[kKinds] = {"accepted_settled",
                                            "accepted_unsettled",
                                            "sync_answered",
                                            "permission_denied",
                                            "principal_rate",
                                            "function_rate",
                                            "queue_bound",
                                            "fanout",
                                            "calls_per_invocation",
                                            "size_refused",
                                            "not_found_expected",
                                            "unavailable_at_shutdown",
                                            "unexpected"};

// Per-thread tallies (plain counters), summed after the threads are joined.
struct Tally {
  int64_t counts[kKinds] = {};
  Tally& operator+=(const Tally& other) {
    for (int i = 0; i < kKinds; ++i) counts[i] += other.counts[i];
    return *this;
  }
  int64_t operator[](Kind kind) const { return counts[kind]; }
};

// Handler-side tallies: handlers run on any executor thread, so these are atomics.
struct AtomicTally {
  std::atomic<int64_t> counts[kKinds] = {};
  void add(Kind kind) { counts[kind].fetch_add(1, std::memory_order_relaxed); }
  Tally load() const {
    Tally tally;
    for (int i = 0; i < kKinds; ++i) tally.counts[i] = counts[i].load(std::memory_order_relaxed);
    return tally;
  }
};

// Everything the threads and handlers report, created before the host and destroyed after it,
// so that a settlement or a handler running during the host's destruction still has it.
struct Record {
  // Settlement callbacks, by outcome; a callback told twice is counted in told_twice.
  std::atomic<int64_t> succeeded{0};
  std::atomic<int64_t> dead_lettered{0};
  std::atomic<int64_t> dropped{0};
  std::atomic<int64_t> told_twice{0};
  AtomicTally handler_calls;          // what the gateway's Context calls met
  std::atomic<bool> stopping{false};  // set before the host shuts down
  std::atomic<uint32_t> seeds{1};     // per-thread seeds for the handlers' generators

  std::mutex mu;
  std::vector<std::string> unexpected;  // the first few unexpected statuses, for the report

  int64_t settled() const { return succeeded.load() + dead_lettered.load() + dropped.load(); }

  void note_unexpected(std::string what) {
    std::lock_guard<std::mutex> lock(mu);
    if (unexpected.size() < 20) unexpected.push_back(std::move(what));
  }

  // A callback that counts its outcome, and notices if it is called a second time.
  fnhost::SettledCallback recorder() {
    return [this, told = false](const SettledEvent& settled) mutable {
      if (told) {
        told_twice.fetch_add(1);
        return;
      }
      told = true;
      switch (settled.outcome) {
        case Settlement::kSucceeded:
          succeeded.fetch_add(1);
          break;
        case Settlement::kDeadLettered:
          dead_lettered.fetch_add(1);
          break;
        case Settlement::kDropped:
          dropped.fetch_add(1);
          break;
      }
    };
  }
};

// A generator for handler code: one per executor thread, seeded from a shared counter.
std::mt19937& handler_rng(Record& record) {
  thread_local std::mt19937 rng(record.seeds.fetch_add(1) * 7919u);
  return rng;
}

// Classifies a refused call. `oversized` says whether the caller sent an event over the limits
// (the size checks come before every other check, so such a call is always refused for it),
// `to_ghost` whether it named the function that is never registered.
Kind classify_refusal(const absl::Status& status, bool oversized, bool to_ghost,
                      const Record& record) {
  using absl::StatusCode;
  if (oversized) {
    return status.code() == StatusCode::kInvalidArgument && has(status, "HostLimits::max_")
               ? kSizeRefused
               : kUnexpected;
  }
  switch (status.code()) {
    case StatusCode::kPermissionDenied:
      return has(status, "may not") ? kPermissionDenied : kUnexpected;
    case StatusCode::kResourceExhausted: {
      const std::optional<absl::Duration> hint = fnhost::retry_after(status);
      if (hint.has_value()) {
        if (*hint <= absl::ZeroDuration()) return kUnexpected;
        if (starts_with(status, "principal")) return kPrincipalRate;
        if (starts_with(status, "function") && has(status, "rate_limit")) return kFunctionRate;
        return kUnexpected;
      }
      if (has(status, "HostLimits::max_fanout")) return kFanout;
      if (has(status, "HostLimits::max_queued_invocations") ||
          has(status, "HostLimits::max_queued_bytes")) {
        return kQueueBound;
      }
      if (has(status, "HostLimits::max_calls_per_invocation")) return kCallsPerInvocation;
      return kUnexpected;
    }
    case StatusCode::kNotFound:
      return to_ghost ? kNotFoundExpected : kUnexpected;
    case StatusCode::kUnavailable:
      // Only a call made once shutdown began (the last flurry's, a draining handler's).
      return record.stopping.load() ? kUnavailableAtShutdown : kUnexpected;
    default:
      return kUnexpected;
  }
}

// ---- The functions ------------------------------------------------------------------------------

// Every handler but the sleeper's gets far more time than it needs: only "sleeper" times out.
constexpr absl::Duration kRoomyTimeout = absl::Seconds(30);

fnhost::RetryPolicy quick_retries(int max_attempts) {
  return {.max_attempts = max_attempts,
          .initial_backoff = absl::Milliseconds(1),
          .max_backoff = absl::Milliseconds(4)};
}

FunctionSpec ok_spec() {
  return {.name = "ok",
          .handler = [](const Event& event, Context&) -> Result { return event.data.substr(0, 8); },
          .timeout = kRoomyTimeout,
          .retry = quick_retries(3)};
}

// Fails with a retryable error `percent` % of the time (update_function changes the odds).
FunctionSpec flaky_spec(Record& record, int percent) {
  return {.name = "flaky",
          .handler = [&record, percent](const Event&, Context&) -> Result {
            const auto draw = static_cast<uint32_t>(handler_rng(record)() % 100);
            if (draw < static_cast<uint32_t>(percent) / 2) {
              return absl::InternalError("flaky: internal");
            }
            if (draw < static_cast<uint32_t>(percent)) {
              return absl::UnavailableError("flaky: unavailable");
            }
            return std::string("fine");
          },
          .timeout = kRoomyTimeout,
          .retry = quick_retries(3)};
}

FunctionSpec thrower_spec(Record& record) {
  return {.name = "thrower",
          .handler = [&record](const Event&, Context&) -> Result {
            if (handler_rng(record)() % 100 < 30) throw std::runtime_error("thrower: boom");
            return std::string("survived");
          },
          .timeout = kRoomyTimeout,
          .retry = quick_retries(2)};
}

// Always outlives its 3 ms timeout: waits for the cancellation its deadline brings.
FunctionSpec sleeper_spec() {
  return {.name = "sleeper",
          .handler = [](const Event&, Context& ctx) -> Result {
            ctx.cancellation().wait_for(absl::Milliseconds(50));
            return std::string("late");
          },
          .timeout = absl::Milliseconds(3),
          .retry = quick_retries(2)};
}

// Rate-limited and always succeeds: no trigger delivers to it and it never fails, so nothing
// but a direct call (a producer's or the gateway's) ever meets its bucket, and the host's
// function_rate_limited counter must equal the refusals those callers saw.
FunctionSpec limited_spec(std::string output) {
  return {
      .name = "limited",
      .handler = [output = std::move(output)](const Event&, Context&) -> Result { return output; },
      .timeout = kRoomyTimeout,
      .retry = quick_retries(3),
      .rate_limit = {.per_second = 200, .burst = 20}};
}

// Refuses its input: never retried, so every asynchronous event is dead-lettered at once.
FunctionSpec reject_spec() {
  return {.name = "reject",
          .handler = [](const Event&, Context&) -> Result {
            return absl::InvalidArgumentError("reject: rejected by handler");
          },
          .timeout = kRoomyTimeout,
          .retry = quick_retries(3)};
}

FunctionSpec batcher_spec(Record& record) {
  return {.name = "batcher",
          .handler = [&record](const Event&, Context& ctx) -> Result {
            const fnhost::EventBatch* batch = ctx.batch();
            if (batch == nullptr) return std::string("single");
            for (size_t i = 0; i < batch->size(); ++i) {
              if (handler_rng(record)() % 100 >= 10) continue;
              if (!ctx.fail_batch_item(i, absl::InternalError("batcher: item failed")).ok()) {
                record.note_unexpected("fail_batch_item refused a valid index");
              }
            }
            return std::string("batched");
          },
          .timeout = kRoomyTimeout,
          .retry = quick_retries(3)};
}

// Runs as "svc-gateway" whoever calls it, and calls the others through its Context: some calls
// the policies allow, some they deny, some meet a rate limit, the fan-out bound or (past
// kMaxCallsPerInvocation calls) the per-invocation bound. It counts each call's outcome.
FunctionSpec gateway_spec(Record& record) {
  return {.name = "gateway",
          .handler = [&record](const Event&, Context& ctx) -> Result {
            static constexpr const char* kTargets[] = {"ok",     "flaky",   "limited", "sleeper",
                                                       "reject", "thrower", "ghost"};
            static constexpr const char* kTopics[] = {"orders/gw/created", "orders/gw/batch",
                                                      "alerts/gw", "fanout/storm", "misc/gw"};
            std::mt19937& rng = handler_rng(record);
            const int calls = 1 + static_cast<int>(rng() % (kMaxCallsPerInvocation + 3));
            for (int i = 0; i < calls; ++i) {
              absl::Status sent;
              bool to_ghost = false;
              if (rng() % 3 != 0) {
                const std::string_view target = kTargets[rng() % std::size(kTargets)];
                to_ghost = target == "ghost";
                sent = ctx.invoke_async(target, Event::with_data("from-gateway"));
              } else {
                sent = ctx.publish(Event{.subject = "gw",
                                         .topic = kTopics[rng() % std::size(kTopics)],
                                         .data = "from-gateway"});
              }
              if (sent.ok()) {
                record.handler_calls.add(kAcceptedUnsettled);
                continue;
              }
              const Kind kind = classify_refusal(sent, /*oversized=*/false, to_ghost, record);
              record.handler_calls.add(kind);
              if (kind == kUnexpected) record.note_unexpected("gateway: " + sent.ToString());
            }
            return std::string("relayed");
          },
          .timeout = kRoomyTimeout,
          .retry = quick_retries(3),
          .identity = "svc-gateway"};
}

// ---- Policies ----------------------------------------------------------------------------------

fnhost::Policy parse_policy(std::string_view text) {
  absl::StatusOr<fnhost::Policy> policy = fnhost::Policy::parse(text);
  INFO(policy.status().ToString());
  REQUIRE(policy.ok());
  return *std::move(policy);
}

// Tenants may call most functions and publish under most topics; tenant-2 may not invoke
// "reject" and tenant-1 may not publish sensor events (explicit denies); guests match no
// statement (implicit deny), nor does a tenant's publish to "sensors/3/humidity".
constexpr std::string_view kOpenPolicy = R"(
  tenant-invoke:    allow invoke on function:ok,function:flaky,function:thrower,function:sleeper,function:limited,function:reject,function:gateway,function:batcher,function:ghost for tenant-*
  tenant-publish:   allow publish on topic:orders/#,topic:sensors/+/temp,topic:alerts/+,topic:fanout/#,topic:misc/# for tenant-*
  no-reject:        deny invoke on function:reject for tenant-2
  no-sensors:       deny publish on topic:sensors/# for tenant-1
  gateway-invoke:   allow invoke on function:ok,function:flaky,function:limited,function:ghost for svc-gateway
  gateway-publish:  allow publish on topic:orders/#,topic:fanout/# for svc-gateway
  gateway-no-sleep: deny invoke on function:sleeper for svc-gateway
)";

// Narrower for tenants (tenant-2 may publish nothing), guests denied outright, the gateway
// allowed everything but two functions.
constexpr std::string_view kStrictPolicy = R"(
  tenant-invoke:   allow invoke on function:ok,function:gateway,function:limited,function:flaky for tenant-*
  tenant-publish:  allow publish on topic:orders/#,topic:fanout/# for tenant-0,tenant-1
  no-guests:       deny * on * for guest-*
  gateway-all:     allow invoke,publish on * for svc-gateway
  gateway-limits:  deny invoke on function:reject,function:thrower for svc-gateway
)";

// ---- Producers ---------------------------------------------------------------------------------

constexpr const char* kInvokeTargets[] = {"ok",     "flaky",   "thrower", "sleeper", "limited",
                                          "reject", "gateway", "batcher", "ghost"};
constexpr const char* kPublishTopics[] = {
    "orders/eu/created", "orders/us/created",  "orders/eu/batch", "orders/eu/paid", "orders",
    "sensors/3/temp",    "sensors/3/humidity", "alerts/fire",     "fanout/storm",   "misc/nothing"};
constexpr const char* kSubjects[] = {"a", "b", "c", "d"};

// Whether a synchronous answer is one `function`'s handler gives (or the host gives for it).
bool expected_sync_answer(std::string_view function, const Result& result) {
  using absl::StatusCode;
  if (function == "sleeper") return result.status().code() == StatusCode::kDeadlineExceeded;
  if (result.ok()) return true;
  const absl::Status& status = result.status();
  if (function == "flaky") {
    return status.code() == StatusCode::kInternal || status.code() == StatusCode::kUnavailable;
  }
  if (function == "thrower") return status.code() == StatusCode::kInternal;
  if (function == "reject") {
    return status.code() == StatusCode::kInvalidArgument && has(status, "rejected by handler");
  }
  return false;
}

// A call's event: mostly small, sometimes a few KiB, rarely near or over the payload limits or
// with an attribute (or too many extensions) over the attribute limits. Sets `oversized`.
Event make_event(std::mt19937& rng, const std::string& filler, bool sync, bool* oversized) {
  Event event;
  const auto shape = static_cast<uint32_t>(rng() % 1000);
  const int64_t payload_limit = sync ? kMaxSyncPayload : kMaxAsyncPayload;
  size_t bytes = rng() % 256;
  *oversized = false;
  if (shape < 20) {  // over the payload limit (an async-sized one is fine for a sync call)
    bytes = static_cast<size_t>(kMaxAsyncPayload + 1 + static_cast<int64_t>(rng() % 4096));
    if (sync && rng() % 2 == 0) bytes += static_cast<size_t>(kMaxSyncPayload - kMaxAsyncPayload);
    *oversized = static_cast<int64_t>(bytes) > payload_limit;
  } else if (shape < 30) {  // at the limit exactly: allowed
    bytes = static_cast<size_t>(kMaxAsyncPayload);
  } else if (shape < 130) {
    bytes = 1024 + rng() % 8192;
  }
  event.data.assign(filler, 0, bytes);
  event.subject = kSubjects[rng() % std::size(kSubjects)];
  if (shape >= 200 && shape < 210) {
    event.subject.assign(static_cast<size_t>(kMaxAttribute + 1 + rng() % 64), 's');
    *oversized = true;
  } else if (shape >= 210 && shape < 215) {
    for (int64_t i = 0; i <= kMaxExtensions; ++i) {
      event.extensions.emplace_back("ext" + std::to_string(i), "v");
    }
    *oversized = true;
  } else if (shape >= 215 && shape < 220) {
    event.extensions.emplace_back("big", std::string(static_cast<size_t>(kMaxAttribute + 1), 'x'));
    *oversized = true;
  } else if (shape >= 300 && shape < 320) {
    event.idempotency_key = "key-" + std::to_string(rng() % 64);
  }
  return event;
}

// One producer: until `deadline` or `stop`, random calls as a random principal (nullopt: the
// host).
Tally produce(Host& host, const std::vector<std::optional<Caller>>& principals, Record& record,
              uint32_t seed, std::chrono::steady_clock::time_point deadline,
              const std::atomic<bool>& stop) {
  std::mt19937 rng(seed);
  const std::string filler(static_cast<size_t>(kMaxSyncPayload + kMaxSyncPayload / 2), 'p');
  Tally tally;
  while (std::chrono::steady_clock::now() < deadline && !stop.load()) {
    const std::optional<Caller>& caller = principals[rng() % principals.size()];
    const auto action = static_cast<uint32_t>(rng() % 100);
    if (action == 0 && rng() % 2 == 0) {
      // A burst of large events for slow functions, faster than the workers take them: fills
      // the host's queue bounds (max_queued_bytes, max_queued_invocations) now and then. A
      // tenant can do this too, within its rate limit's burst.
      const std::string_view name = rng() % 2 == 0 ? "sleeper" : "ok";
      for (int i = 0; i < 300; ++i) {
        Event event = Event::with_data(
            filler.substr(0, static_cast<size_t>(kMaxAsyncPayload / 2) + rng() % 16384));
        const absl::Status status =
            caller ? caller->invoke_async(name, std::move(event), record.recorder())
                   : host.invoke_async(name, std::move(event), record.recorder());
        if (status.ok()) {
          ++tally.counts[kAcceptedSettled];
          continue;
        }
        const Kind kind = classify_refusal(status, /*oversized=*/false, /*to_ghost=*/false, record);
        ++tally.counts[kind];
        if (kind == kUnexpected) record.note_unexpected("burst: " + status.ToString());
      }
    } else if (action < 45) {  // invoke_async with a settlement callback (a few without)
      const std::string_view name = kInvokeTargets[rng() % std::size(kInvokeTargets)];
      bool oversized = false;
      Event event = make_event(rng, filler, /*sync=*/false, &oversized);
      const bool settle = rng() % 10 != 0;
      absl::Status status;
      if (settle) {
        status = caller ? caller->invoke_async(name, std::move(event), record.recorder())
                        : host.invoke_async(name, std::move(event), record.recorder());
      } else {
        status = caller ? caller->invoke_async(name, std::move(event))
                        : host.invoke_async(name, std::move(event));
      }
      if (status.ok()) {
        if (oversized) record.note_unexpected("an oversized event was accepted by invoke_async");
        ++tally.counts[settle ? kAcceptedSettled : kAcceptedUnsettled];
        continue;
      }
      const Kind kind = classify_refusal(status, oversized, name == "ghost", record);
      ++tally.counts[kind];
      if (kind == kUnexpected) record.note_unexpected("invoke_async: " + status.ToString());
    } else if (action < 80) {  // publish with a settlement callback
      bool oversized = false;
      Event event = make_event(rng, filler, /*sync=*/false, &oversized);
      event.topic = kPublishTopics[rng() % std::size(kPublishTopics)];
      const absl::Status status = caller ? caller->publish(std::move(event), record.recorder())
                                         : host.publish(std::move(event), record.recorder());
      if (status.ok()) {
        if (oversized) record.note_unexpected("an oversized event was accepted by publish");
        ++tally.counts[kAcceptedSettled];
        continue;
      }
      const Kind kind = classify_refusal(status, oversized, /*to_ghost=*/false, record);
      ++tally.counts[kind];
      if (kind == kUnexpected) record.note_unexpected("publish: " + status.ToString());
    } else {  // synchronous invoke
      const std::string_view name = kInvokeTargets[rng() % std::size(kInvokeTargets)];
      bool oversized = false;
      Event event = make_event(rng, filler, /*sync=*/true, &oversized);
      const Result result = caller ? caller->invoke(name, std::move(event)).get()
                                   : host.invoke(name, std::move(event)).get();
      if (!oversized && expected_sync_answer(name, result)) {
        ++tally.counts[kSyncAnswered];
        continue;
      }
      const Kind kind = classify_refusal(result.status(), oversized, name == "ghost", record);
      ++tally.counts[kind];
      if (kind == kUnexpected) {
        record.note_unexpected(std::string("invoke ") + std::string(name) + ": " +
                               (result.ok() ? "OK" : result.status().ToString()));
      }
    }
  }
  return tally;
}

// ---- Churn -------------------------------------------------------------------------------------

// Swaps the policy every few milliseconds: open, strict, none.
void churn_policies(Host& host, const fnhost::Policy& open, const fnhost::Policy& strict,
                    std::chrono::steady_clock::time_point deadline, int64_t* swaps) {
  for (int64_t i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    switch (i % 3) {
      case 0:
        host.set_policy(open);
        break;
      case 1:
        host.set_policy(strict);
        break;
      default:
        host.clear_policy();
        break;
    }
    ++*swaps;
    // Pacing, not synchronisation: a new policy every ~2 ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

struct TriggerChurn {
  int64_t subscribed = 0;
  int64_t unsubscribed = 0;
  int64_t updates = 0;
};

// Subscribes and unsubscribes the fan-out triggers (wildcard patterns on "fanout/storm"), a
// second batch trigger now and then, and hot-swaps "flaky" and "limited".
TriggerChurn churn_triggers(Host& host, Record& record, uint32_t seed,
                            std::chrono::steady_clock::time_point deadline) {
  static constexpr const char* kFanoutPatterns[] = {"fanout/#", "fanout/+", "+/storm",
                                                    "fanout/storm"};
  std::mt19937 rng(seed);
  TriggerChurn churn;
  std::vector<fnhost::TriggerId> fanout;
  std::optional<fnhost::TriggerId> extra_batch;
  const auto subscribe = [&](fnhost::TriggerSpec spec) -> std::optional<fnhost::TriggerId> {
    absl::StatusOr<fnhost::TriggerId> id = host.subscribe(std::move(spec));
    if (!id.ok()) {
      record.note_unexpected("subscribe: " + id.status().ToString());
      return std::nullopt;
    }
    ++churn.subscribed;
    return *id;
  };
  const auto unsubscribe = [&](fnhost::TriggerId id) {
    const absl::Status removed = host.unsubscribe(id);
    if (!removed.ok()) record.note_unexpected("unsubscribe: " + removed.ToString());
    ++churn.unsubscribed;
  };
  for (int i = 0; i < kFewestFanoutTriggers + 4; ++i) {
    if (auto id = subscribe({.pattern = kFanoutPatterns[i % 4], .function = "ok"})) {
      fanout.push_back(*id);
    }
  }
  for (int64_t round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
    const bool grow = fanout.size() < static_cast<size_t>(kFewestFanoutTriggers) ||
                      (fanout.size() < static_cast<size_t>(kMostFanoutTriggers) && rng() % 2 == 0);
    if (grow) {
      if (auto id = subscribe(
              {.pattern = kFanoutPatterns[rng() % std::size(kFanoutPatterns)], .function = "ok"})) {
        fanout.push_back(*id);
      }
    } else {
      const size_t victim = rng() % fanout.size();
      unsubscribe(fanout[victim]);
      fanout.erase(fanout.begin() + static_cast<std::ptrdiff_t>(victim));
    }
    if (round % 25 == 0) {
      if (extra_batch.has_value()) {
        unsubscribe(*extra_batch);  // flushes what it collected as one last batch
        extra_batch.reset();
      } else {
        extra_batch = subscribe({.pattern = "orders/+/batch",
                                 .function = "batcher",
                                 .batch_size = 4,
                                 .batch_window = absl::Milliseconds(2)});
      }
    }
    if (round % 40 == 0) {
      const absl::Status updated =
          round % 80 == 0 ? host.update_function(flaky_spec(record, static_cast<int>(rng() % 60)))
                          : host.update_function(limited_spec("v" + std::to_string(round)));
      if (!updated.ok()) record.note_unexpected("update_function: " + updated.ToString());
      ++churn.updates;
    }
    // Pacing, not synchronisation.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return churn;
}

// ---- Memory ------------------------------------------------------------------------------------

// Bytes the allocator has handed out and not had back: heap chunks in use (uordblks, every
// arena) plus mmapped ones (hblkhd: large payloads are mmapped, not in uordblks).
int64_t allocated_bytes() {
#if defined(__GLIBC__)
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
#else
  return 0;
#endif
}

std::string describe(const Tally& tally) {
  std::string text;
  for (int i = 0; i < kKinds; ++i) {
    if (!text.empty()) text += ' ';
    text += std::string(kKindNames[i]) + "=" + std::to_string(tally.counts[i]);
  }
  return text;
}

// Empty when nothing is queued, running, waiting for a retry or counted against the queue
// bounds; otherwise what is.
std::string describe_backlog(const Host& host) {
  const fnhost::HostMetrics metrics = host.metrics();
  std::string backlog;
  if (metrics.limits.queued_invocations != 0 || metrics.limits.queued_bytes != 0) {
    backlog += "queued_invocations=" + std::to_string(metrics.limits.queued_invocations) +
               " queued_bytes=" + std::to_string(metrics.limits.queued_bytes) + ";";
  }
  for (const fnhost::FunctionStats& stats : metrics.functions) {
    if (stats.events_pending == 0 && stats.queued == 0 && stats.in_flight == 0) continue;
    backlog += " " + stats.name + ": pending=" + std::to_string(stats.events_pending) +
               " queued=" + std::to_string(stats.queued) +
               " in_flight=" + std::to_string(stats.in_flight) +
               " throttle_requeues=" + std::to_string(stats.throttle_requeues) + ";";
  }
  return backlog;
}

TEST_CASE(
    "security soak: tenants, policy swaps, limits and trigger churn settle every accepted "
    "event exactly once and count every refusal",
    "[.soak][security]") {
  const int seconds = soak_seconds();
  const int producers = fnhost::testing::scaled(8, 4);
  // A hang (a synchronous call never answered, a shutdown that never returns) aborts with this
  // message instead of sitting until ctest's timeout.
  fnhost::testing::Watchdog watchdog("the security soak", std::chrono::seconds(seconds + 600));

  // Outlives the host: a settlement or handler during its destruction still records here.
  auto record = std::make_shared<Record>();
  const fnhost::Policy open = parse_policy(kOpenPolicy);
  const fnhost::Policy strict = parse_policy(kStrictPolicy);

  Tally produced;
  Tally handled;
  int64_t policy_swaps = 0;
  TriggerChurn trigger_churn;
  fnhost::ShutdownReport report;
  fnhost::RouterStats router;
  // How long the host took to drain after phase 1, and to shut down (reported, not asserted).
  int64_t overrun_ms = 0;  // the last phase-1 thread returned this long after the deadline
  int64_t drain_ms = 0;
  int64_t shutdown_ms = 0;
  int64_t settled_after_shutdown_ms = 0;  // the last callback came this long after shutdown()
  int64_t destroy_ms = 0;                 // ~Host
  std::chrono::steady_clock::time_point destroy_start;
  std::vector<std::string> unexpected;

  // Memory in use before the host is created and after it is destroyed, every thread of the
  // run joined (the watchdog's exists at both points) and what the test itself keeps allocated
  // at both points too. The invocation pools are trimmed first: what they keep by design (up to
  // RecyclingPool::kMaxDepotBatches batches each) is well within the bound checked below.
  fnhost::detail::InvocationPool::trim_excess();
  const int64_t memory_before = allocated_bytes();
  {
    HostOptions options = fnhost::testing::quiet_options(16);
    options.drain_timeout = absl::Seconds(2);
    options.dead_letter_store = fnhost::make_memory_dead_letter_store(2000);
    options.limits = {.max_sync_payload_bytes = kMaxSyncPayload,
                      .max_async_payload_bytes = kMaxAsyncPayload,
                      .max_attribute_bytes = kMaxAttribute,
                      .max_extensions = kMaxExtensions,
                      .max_queued_invocations = 4'000,
                      .max_queued_bytes = int64_t{16} << 20,
                      .max_fanout = kMaxFanout,
                      .max_calls_per_invocation = kMaxCallsPerInvocation};
    options.principal_rate_limit = {.per_second = 2000, .burst = 200};
    Host host = fnhost::testing::make_host(std::move(options));

    for (FunctionSpec spec :
         {ok_spec(), flaky_spec(*record, 40), thrower_spec(*record), sleeper_spec(),
          limited_spec("v0"), reject_spec(), batcher_spec(*record), gateway_spec(*record)}) {
      const std::string name = spec.name;
      INFO(name);
      REQUIRE(host.register_function(std::move(spec)).ok());
    }
    const std::vector<fnhost::TriggerSpec> triggers = {
        {.pattern = "orders/#", .function = "ok"},
        {.pattern = "orders/+/created", .function = "flaky", .ordering_key = "subject"},
        {.pattern = "orders/+/batch",
         .function = "batcher",
         .batch_size = 8,
         .batch_window = absl::Milliseconds(5)},
        {.pattern = "sensors/+/temp", .function = "gateway"},
        {.pattern = "sensors/#", .function = "thrower"},
        {.pattern = "alerts/+", .function = "reject"},
        {.pattern = "alerts/#", .function = "sleeper"},
    };
    for (const fnhost::TriggerSpec& trigger : triggers) {
      INFO(trigger.pattern);
      REQUIRE(host.subscribe(trigger).ok());
    }

    // The host itself (nullopt), three tenants and a guest no statement allows.
    std::vector<std::optional<Caller>> principals = {std::nullopt};
    for (const char* name : {"tenant-0", "tenant-1", "tenant-2", "guest-0"}) {
      absl::StatusOr<Caller> caller = host.caller(name);
      REQUIRE(caller.ok());
      principals.emplace_back(*caller);
    }
    principals.push_back(std::nullopt);  // the host twice: about a third of the calls
    // Tighter buckets for one tenant and for the gateway's identity than the default, so that
    // principal rate limits refuse calls (the producers' and the gateway handler's) even in a
    // slow sanitizer build.
    REQUIRE(host.set_rate_limit("tenant-1", {.per_second = 100, .burst = 10}).ok());
    REQUIRE(host.set_rate_limit("svc-gateway", {.per_second = 200, .burst = 20}).ok());
    host.set_policy(open);

    // Phase 1, `seconds` long: producers, policy swaps, trigger churn.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    std::atomic<bool> stop_producers{false};
    std::vector<Tally> tallies(static_cast<size_t>(producers));
    std::vector<std::thread> threads;
    const auto start_producers = [&](std::chrono::steady_clock::time_point until,
                                     uint32_t seed_base) {
      for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p, until, seed_base] {
          tallies[static_cast<size_t>(p)] +=
              produce(host, principals, *record, seed_base + static_cast<uint32_t>(p), until,
                      stop_producers);
        });
      }
    };
    start_producers(deadline, 1000u);
    threads.emplace_back([&] { churn_policies(host, open, strict, deadline, &policy_swaps); });
    threads.emplace_back([&] { trigger_churn = churn_triggers(host, *record, 77u, deadline); });
    for (std::thread& thread : threads) thread.join();
    threads.clear();
    overrun_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - deadline)
                     .count();

    // Liveness: with the callers gone, everything accepted finishes by itself — retries and
    // throttled deliveries included, with every function's backoff in milliseconds — and
    // nothing stays counted against the queue bounds. A generous deadline, not a timing assert.
    std::string not_drained;
    const auto drain_start = std::chrono::steady_clock::now();
    const bool drained = wait_until([&] {
      not_drained = describe_backlog(host);
      int64_t accepted_so_far = 0;
      for (const Tally& tally : tallies) accepted_so_far += tally[kAcceptedSettled];
      if (not_drained.empty() && record->settled() != accepted_so_far) {
        not_drained = "settled " + std::to_string(record->settled()) + " of " +
                      std::to_string(accepted_so_far) + " accepted";
      }
      return not_drained.empty();
    });
    drain_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - drain_start)
                   .count();
    {
      INFO("after the producers stopped, the host did not drain: " << not_drained);
      CHECK(drained);
    }

    // Phase 2: shutdown races a short last flurry of calls (those after it began are refused
    // with Unavailable, or accepted and then drained, dropped or settled by it).
    start_producers(std::chrono::steady_clock::now() + std::chrono::minutes(10), 2000u);
    // Pacing, not synchronisation: let the flurry fill the queues before shutdown begins.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    record->stopping.store(true);
    const auto shutdown_start = std::chrono::steady_clock::now();
    report = host.shutdown(absl::Seconds(120));
    shutdown_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - shutdown_start)
                      .count();
    stop_producers.store(true);
    for (std::thread& thread : threads) thread.join();
    threads.clear();
    for (const Tally& tally : tallies) produced += tally;
    CHECK(report.dropped == 0);
    CHECK(report.unfinished == 0);
    // Every accepted event with a callback is told once. Shutdown tells the ones it ends before
    // it returns, but a publish of the flurry accepted while shutdown ran settles as its call
    // returns, which may be a moment later.
    CHECK(wait_until([&] { return record->settled() >= produced[kAcceptedSettled]; }));
    settled_after_shutdown_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - shutdown_start)
                                    .count() -
                                shutdown_ms;

    const fnhost::HostMetrics metrics = host.metrics();
    handled = record->handler_calls.load();
    router = metrics.router;
    const Tally all = [&] {
      Tally sum = produced;
      sum += handled;
      return sum;
    }();

    INFO("producers: " << describe(produced));
    INFO("handlers:  " << describe(handled));
    // Refusals the host counted, by reason, are exactly the ones its callers saw.
    CHECK(metrics.access.denied_explicitly + metrics.access.denied_implicitly ==
          all[kPermissionDenied]);
    CHECK(metrics.limits.principal_rate_limited == all[kPrincipalRate]);
    CHECK(metrics.limits.function_rate_limited == all[kFunctionRate]);
    CHECK(metrics.limits.payload_too_large + metrics.limits.attribute_too_large ==
          all[kSizeRefused]);
    CHECK(metrics.limits.fanout_exceeded == all[kFanout]);
    CHECK(metrics.limits.calls_per_invocation_exceeded == all[kCallsPerInvocation]);
    // Deliveries and retries that find the host full wait instead of failing, and publish
    // checks for room before it routes: the host counts those too, so at least these.
    CHECK(metrics.limits.queued_invocations_full + metrics.limits.queued_bytes_full >=
          all[kQueueBound]);
    // Nothing is left counted against the bounds, or waiting, anywhere.
    CHECK(metrics.limits.queued_invocations == 0);
    CHECK(metrics.limits.queued_bytes == 0);
    for (const fnhost::FunctionStats& stats : metrics.functions) {
      INFO(fnhost::testing::describe(stats)
           << " events_accepted=" << stats.events_accepted << " events_succeeded="
           << stats.events_succeeded << " events_dead_lettered=" << stats.events_dead_lettered);
      CHECK(stats.events_pending == 0);
      CHECK(stats.queued == 0);
      CHECK(stats.in_flight == 0);
      CHECK(stats.events_accepted == stats.events_succeeded + stats.events_dead_lettered);
    }
    // The run exercised what it is about.
    CHECK(produced[kAcceptedSettled] > 0);
    CHECK(all[kPermissionDenied] > 0);
    CHECK(all[kPrincipalRate] > 0);
    CHECK(all[kSizeRefused] > 0);
    CHECK(metrics.access.denied_explicitly > 0);
    CHECK(metrics.access.denied_implicitly > 0);
    destroy_start = std::chrono::steady_clock::now();
  }
  destroy_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - destroy_start)
                   .count();
  // The host is gone: nothing more may be told, and nothing twice.
  const int64_t memory_after = [] {
    fnhost::detail::InvocationPool::trim_excess();
    return allocated_bytes();
  }();
  {
    std::lock_guard<std::mutex> lock(record->mu);
    unexpected = record->unexpected;
  }

  const int64_t accepted = produced[kAcceptedSettled];
  const int64_t settled = record->settled();
  // One line a long run's figures can be quoted from (ctest shows it with -V or on failure).
  const std::string summary = fmt::format(
      "security soak ({}s, {} producers): accepted with callback {} -> succeeded {}, "
      "dead-lettered {}, dropped {} (told twice {}); accepted without {}; sync answered {}; "
      "refused: permission {}, principal rate {}, function rate {}, queue bound {}, fan-out {}, "
      "size {}, not found (ghost) {}, at shutdown {}; handler calls: accepted {}, permission {}, "
      "principal rate {}, function rate {}, fan-out {}, per-invocation {}, queue bound {}, at "
      "shutdown {}; unexpected {}; policy swaps {}, triggers +{}/-{}, updates {}; published {}; "
      "phase 1 overran by {} ms, drained in {} ms; shutdown took {} ms (last callback {} ms later, "
      "~Host {} ms), retries "
      "dead-lettered {}; memory growth {} bytes",
      seconds, producers, accepted, record->succeeded.load(), record->dead_lettered.load(),
      record->dropped.load(), record->told_twice.load(), produced[kAcceptedUnsettled],
      produced[kSyncAnswered], produced[kPermissionDenied], produced[kPrincipalRate],
      produced[kFunctionRate], produced[kQueueBound], produced[kFanout], produced[kSizeRefused],
      produced[kNotFoundExpected], produced[kUnavailableAtShutdown], handled[kAcceptedUnsettled],
      handled[kPermissionDenied], handled[kPrincipalRate], handled[kFunctionRate], handled[kFanout],
      handled[kCallsPerInvocation], handled[kQueueBound], handled[kUnavailableAtShutdown],
      produced[kUnexpected] + handled[kUnexpected], policy_swaps, trigger_churn.subscribed,
      trigger_churn.unsubscribed, trigger_churn.updates, router.published, overrun_ms, drain_ms,
      shutdown_ms, settled_after_shutdown_ms, destroy_ms, report.retries_dead_lettered,
      memory_after - memory_before);
  std::printf("%s\n", summary.c_str());
  std::fflush(stdout);

  for (const std::string& what : unexpected) UNSCOPED_INFO("unexpected: " << what);
  CHECK(produced[kUnexpected] == 0);
  CHECK(handled[kUnexpected] == 0);
  CHECK(unexpected.empty());
  // Exactly once: the outcomes add up to the accepted events, and no callback was told twice.
  CHECK(settled == accepted);
  CHECK(record->told_twice.load() == 0);

  // The memory a long run used is given back once the host is gone. Skipped under sanitizers:
  // their allocators keep freed memory in quarantine and their own bookkeeping, so the figure
  // says nothing about the library there.
  if (!kSanitized) {
    CHECK(memory_after - memory_before < int64_t{4} << 20);
  }
}

}  // namespace
