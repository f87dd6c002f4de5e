// SPDX-License-Identifier: Apache-2.0
// Reliable asynchronous delivery through the host: retries by class with backoff on the host's
// clock, throttles that use no attempt, max_event_age, dead letters and their API (list, get,
// delete, redrive), and the accounting of every accepted event.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "delivery/retry_queue.hpp"
#include "fnhost/fnhost.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::DeadLetter;
using fnhost::Event;
using fnhost::FunctionStats;
using fnhost::Host;
using fnhost::HostOptions;
using fnhost::Result;
using fnhost::RetryPolicy;
using fnhost::testing::ClockedHost;
using fnhost::testing::make_host;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// Counts the attempts a handler saw, by Context::attempt(); fails them as `fail` says.
struct Attempts {
  std::mutex mu;
  std::vector<int> seen;
  std::atomic<int> count{0};

  void record(int attempt) {
    {
      std::lock_guard lock(mu);
      seen.push_back(attempt);
    }
    count.fetch_add(1);
  }
  std::vector<int> snapshot() {
    std::lock_guard lock(mu);
    return seen;
  }
};

fnhost::Handler failing_handler(Attempts& attempts, absl::Status error) {
  return [&attempts, error](const Event&, Context& ctx) -> Result {
    attempts.record(ctx.attempt());
    return error;
  };
}

bool mentions(const absl::Status& status, std::string_view text) {
  return std::string(status.message()).find(text) != std::string::npos;
}

TEST_CASE("a failing event is retried with backoff up to max_attempts, then dead-lettered",
          "[retry]") {
  ClockedHost clocked;
  Host& host = clocked.host;
  Attempts attempts;
  REQUIRE(host.register_function({.name = "flaky",
                                  .handler = failing_handler(attempts, absl::InternalError("boom")),
                                  .retry = {.max_attempts = 3,
                                            .initial_backoff = absl::Seconds(1),
                                            .max_backoff = absl::Seconds(10)}})
              .ok());
  REQUIRE(host.invoke_async("flaky", Event{.id = "e1", .type = "t", .data = "payload"}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "flaky").retries == 1; }));
  FunctionStats stats = stats_of(host, "flaky");
  CHECK(attempts.count.load() == 1);
  CHECK(stats.events_accepted == 1);
  CHECK(stats.events_pending == 1);
  CHECK(stats.events_dead_lettered == 0);
  // Waiting for its backoff holds no thread.
  REQUIRE(wait_until([&] { return host.executor_stats().busy == 0; }));
  // Full jitter: the first retry comes within the initial backoff, not before time moves.
  clocked.clock->advance(absl::Seconds(1));
  REQUIRE(wait_until([&] { return stats_of(host, "flaky").retries == 2; }));
  CHECK(attempts.count.load() == 2);
  clocked.clock->advance(absl::Seconds(2));
  REQUIRE(wait_until([&] { return stats_of(host, "flaky").events_dead_lettered == 1; }));
  stats = stats_of(host, "flaky");
  CHECK(attempts.snapshot() == std::vector<int>{1, 2, 3});
  CHECK(stats.errors == 3);
  CHECK(stats.events_pending == 0);
  CHECK(stats.events_succeeded == 0);
  CHECK(stats.dead_letters_lost == 0);
  const std::vector<DeadLetter> letters = host.dead_letters("flaky");
  REQUIRE(letters.size() == 1);
  const DeadLetter& letter = letters[0];
  CHECK(letter.function == "flaky");
  CHECK(letter.attempts == 3);
  CHECK(letter.error.code() == absl::StatusCode::kInternal);
  CHECK(letter.event.id == "e1");
  CHECK(letter.event.data == "payload");
  CHECK(letter.first_accepted == fnhost::ManualClock::create()->now());
  CHECK(letter.last_attempt == letter.first_accepted + absl::Seconds(3));
  CHECK(host.dead_letter_count("flaky") == 1);
  CHECK(host.dead_letter_count() == 1);
}

TEST_CASE("errors that are never retried go to the dead letters at once, marks override codes",
          "[retry]") {
  ClockedHost clocked;
  Host& host = clocked.host;
  Attempts invalid;
  Attempts marked_never;
  Attempts marked_retry;
  const RetryPolicy policy{.max_attempts = 2, .initial_backoff = absl::Seconds(1)};
  REQUIRE(host.register_function(
                  {.name = "invalid",
                   .handler = failing_handler(invalid, absl::InvalidArgumentError("bad input")),
                   .retry = policy})
              .ok());
  REQUIRE(host.register_function(
                  {.name = "never",
                   .handler = failing_handler(
                       marked_never, fnhost::not_retryable(absl::InternalError("corrupt"))),
                   .retry = policy})
              .ok());
  REQUIRE(host.register_function(
                  {.name = "again",
                   .handler = failing_handler(
                       marked_retry, fnhost::retryable(absl::NotFoundError("not yet"))),
                   .retry = policy})
              .ok());
  for (const char* name : {"invalid", "never", "again"}) {
    REQUIRE(host.invoke_async(name, Event::with_data(name)).ok());
  }
  REQUIRE(wait_until([&] {
    return stats_of(host, "invalid").events_dead_lettered == 1 &&
           stats_of(host, "never").events_dead_lettered == 1 &&
           stats_of(host, "again").retries == 1;
  }));
  CHECK(invalid.count.load() == 1);
  CHECK(marked_never.count.load() == 1);
  clocked.clock->advance(absl::Seconds(1));
  REQUIRE(wait_until([&] { return stats_of(host, "again").events_dead_lettered == 1; }));
  CHECK(marked_retry.count.load() == 2);
  CHECK(stats_of(host, "invalid").retries == 0);
}

TEST_CASE("a throttle re-queues the event without using an attempt and never dead-letters it",
          "[retry]") {
  ClockedHost clocked;
  Host& host = clocked.host;
  std::atomic<int> calls{0};
  REQUIRE(host.register_function(
                  {.name = "busy",
                   .handler = [&calls](const Event&, Context& ctx) -> Result {
                     // Capacity refusals first: a downstream says it is full.
                     if (calls.fetch_add(1) < 5) {
                       return absl::ResourceExhaustedError("downstream full");
                     }
                     return "done at attempt " + std::to_string(ctx.attempt());
                   },
                   .retry = {.max_attempts = 1, .initial_backoff = absl::Milliseconds(10)}})
              .ok());
  REQUIRE(host.invoke_async("busy", {}).ok());
  for (int round = 1; round <= 5; ++round) {
    REQUIRE(wait_until([&] { return stats_of(host, "busy").throttle_requeues == round; }));
    // Throttle backoffs grow like retries' (10 ms, 20 ms, ...), with full jitter.
    clocked.clock->advance(absl::Milliseconds(10 << (round - 1)));
  }
  REQUIRE(wait_until([&] { return stats_of(host, "busy").events_succeeded == 1; }));
  const FunctionStats stats = stats_of(host, "busy");
  CHECK(calls.load() == 6);
  CHECK(stats.retries == 0);
  CHECK(stats.events_dead_lettered == 0);
  CHECK(stats.events_pending == 0);
}

TEST_CASE("a timed-out attempt is retried once its handler returns", "[retry]") {
  Host host = make_host();
  std::atomic<int> calls{0};
  REQUIRE(host.register_function(
                  {.name = "slow_once",
                   .handler = [&calls](const Event&, Context& ctx) -> Result {
                     if (calls.fetch_add(1) == 0) {
                       ctx.sleep_for(absl::Seconds(30));  // cut short by the deadline
                     }
                     return "ok";
                   },
                   .timeout = absl::Milliseconds(20),
                   .retry = {.max_attempts = 2, .initial_backoff = absl::Milliseconds(1)}})
              .ok());
  REQUIRE(host.invoke_async("slow_once", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "slow_once").events_succeeded == 1; }));
  const FunctionStats stats = stats_of(host, "slow_once");
  CHECK(stats.timeouts == 1);
  CHECK(stats.retries == 1);
  CHECK(calls.load() == 2);
}

TEST_CASE("no retry is made after max_event_age, an event older than it in the queue never runs",
          "[retry]") {
  SECTION("a failure after max_event_age is the last") {
    ClockedHost clocked;
    auto gate = std::make_shared<fnhost::testing::Gate>();
    fnhost::testing::GateOpener opener(gate);
    std::atomic<int> started{0};
    REQUIRE(clocked.host
                .register_function({.name = "aged",
                                    .handler = [&](const Event&, Context&) -> Result {
                                      started.fetch_add(1);
                                      gate->wait();
                                      return absl::UnavailableError("down");
                                    },
                                    .timeout = absl::Hours(1),
                                    .retry = {.max_attempts = 5,
                                              .max_event_age = absl::Seconds(30)}})
                .ok());
    REQUIRE(clocked.host.invoke_async("aged", {}).ok());
    REQUIRE(wait_until([&] { return started.load() == 1; }));
    clocked.clock->advance(absl::Seconds(31));
    gate->open();
    REQUIRE(wait_until([&] { return stats_of(clocked.host, "aged").events_dead_lettered == 1; }));
    CHECK(stats_of(clocked.host, "aged").retries == 0);
    const DeadLetter letter = clocked.host.dead_letters("aged")[0];
    CHECK(letter.attempts == 1);
    CHECK(letter.error.code() == absl::StatusCode::kUnavailable);
  }
  SECTION("queued past max_event_age: dead-lettered without running") {
    auto executor = std::make_shared<fnhost::ManualExecutor>();
    fnhost::testing::ClockedHost clocked(fnhost::testing::manual_options(executor));
    Host& host = clocked.host;
    const std::shared_ptr<fnhost::ManualClock>& clock = clocked.clock;
    std::atomic<int> calls{0};
    REQUIRE(host.register_function({.name = "late",
                                    .handler = [&calls](const Event&, Context&) -> Result {
                                      calls.fetch_add(1);
                                      return "";
                                    },
                                    .retry = {.max_event_age = absl::Minutes(1)}})
                .ok());
    REQUIRE(host.invoke_async("late", Event::with_data("old")).ok());
    clock->advance(absl::Minutes(2));
    executor->run_pending();
    CHECK(calls.load() == 0);
    const FunctionStats stats = stats_of(host, "late");
    CHECK(stats.events_dead_lettered == 1);
    CHECK(stats.events_pending == 0);
    const std::vector<DeadLetter> letters = host.dead_letters("late");
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].attempts == 0);
    CHECK(letters[0].error.code() == absl::StatusCode::kDeadlineExceeded);
    CHECK(mentions(letters[0].error, "max_event_age"));
    CHECK(letters[0].event.data == "old");
  }
}

TEST_CASE("redrive queues a dead letter again as a new event, refused redrives keep it",
          "[retry][dead_letters]") {
  Host host = make_host();
  std::atomic<bool> fixed{false};
  std::atomic<int> successes{0};
  const auto spec = [&](bool works) {
    return fnhost::FunctionSpec{
        .name = "thumbnail",
        .handler = [&successes, works](const Event& event, Context&) -> Result {
          if (!works) return fnhost::not_retryable(absl::InternalError("cannot decode"));
          successes.fetch_add(1);
          return "thumb of " + event.data;
        }};
  };
  REQUIRE(host.register_function(spec(false)).ok());
  for (int i = 0; i < 5; ++i) REQUIRE(host.invoke_async("thumbnail", Event::with_data("img")).ok());
  // The store has a letter just before the counter counts it.
  REQUIRE(wait_until([&] {
    return host.dead_letter_count("thumbnail") == 5 &&
           stats_of(host, "thumbnail").events_dead_lettered == 5;
  }));
  std::vector<DeadLetter> letters = host.dead_letters("thumbnail", 2);
  REQUIRE(letters.size() == 2);
  CHECK(letters[0].id < letters[1].id);

  // Inspect and delete.
  absl::StatusOr<DeadLetter> first = host.dead_letter(letters[0].id);
  REQUIRE(first.ok());
  CHECK(first->event.data == "img");
  CHECK(host.delete_dead_letter(letters[0].id).ok());
  CHECK(host.delete_dead_letter(letters[0].id).code() == absl::StatusCode::kNotFound);
  CHECK(host.dead_letter(letters[0].id).status().code() == absl::StatusCode::kNotFound);
  CHECK(host.redrive(letters[0].id).code() == absl::StatusCode::kNotFound);

  // Hot swap the fix in, then redrive one and the rest.
  REQUIRE(host.update_function(spec(true)).ok());
  fixed = true;
  REQUIRE(host.redrive(letters[1].id).ok());
  REQUIRE(wait_until([&] { return successes.load() == 1; }));
  absl::StatusOr<int64_t> rest = host.redrive_all("thumbnail");
  REQUIRE(rest.ok());
  CHECK(*rest == 3);
  REQUIRE(wait_until([&] { return successes.load() == 4; }));
  const FunctionStats stats = stats_of(host, "thumbnail");
  CHECK(stats.redriven == 4);
  CHECK(stats.events_accepted == 9);  // 5 sent, 4 redriven
  CHECK(stats.events_dead_lettered == 5);
  REQUIRE(wait_until([&] { return stats_of(host, "thumbnail").events_succeeded == 4; }));
  CHECK(stats_of(host, "thumbnail").events_pending == 0);
  CHECK(host.dead_letter_count() == 0);

  // A redrive its function refuses is put back under a new id, which the status names.
  REQUIRE(host.update_function(spec(false)).ok());
  REQUIRE(host.invoke_async("thumbnail", Event::with_data("again")).ok());
  REQUIRE(wait_until([&] { return host.dead_letter_count() == 1; }));
  const uint64_t id = host.dead_letters()[0].id;
  REQUIRE(host.remove_function("thumbnail").ok());
  const absl::Status refused = host.redrive(id);
  CHECK(refused.code() == absl::StatusCode::kNotFound);
  CHECK(mentions(refused, "kept again as dead letter"));
  REQUIRE(host.dead_letters().size() == 1);
  CHECK(host.dead_letters()[0].id != id);
  CHECK(host.dead_letters()[0].event.data == "again");
}

TEST_CASE("a full dead-letter store, or none, loses letters visibly", "[retry][dead_letters]") {
  const bool with_store = GENERATE(true, false);
  HostOptions options = fnhost::testing::quiet_options();
  options.dead_letter_store = with_store ? fnhost::make_memory_dead_letter_store(2) : nullptr;
  Host host = make_host(std::move(options));
  REQUIRE(host.register_function({.name = "fails",
                                  .handler = [](const Event&, Context&) -> Result {
                                    return absl::InvalidArgumentError("no");
                                  }})
              .ok());
  for (int i = 0; i < 5; ++i) REQUIRE(host.invoke_async("fails", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "fails").events_dead_lettered == 5; }));
  const FunctionStats stats = stats_of(host, "fails");
  CHECK(stats.dead_letters_lost == (with_store ? 3 : 5));
  CHECK(host.dead_letter_count() == (with_store ? 2 : 0));
  CHECK(host.dead_letters().size() == (with_store ? 2u : 0u));
}

TEST_CASE("past max_pending_retries an event is dead-lettered instead of waiting", "[retry]") {
  HostOptions options = fnhost::testing::quiet_options();
  options.max_pending_retries = 2;
  ClockedHost clocked(std::move(options));
  Attempts attempts;
  REQUIRE(clocked.host
              .register_function({.name = "f",
                                  .handler = failing_handler(attempts, absl::InternalError("x")),
                                  .retry = {.initial_backoff = absl::Hours(1),
                                            .max_backoff = absl::Hours(1)}})
              .ok());
  for (int i = 0; i < 3; ++i) REQUIRE(clocked.host.invoke_async("f", {}).ok());
  REQUIRE(wait_until([&] {
    const FunctionStats stats = stats_of(clocked.host, "f");
    return stats.events_dead_lettered == 1 && stats.retries == 3;
  }));
  const std::vector<DeadLetter> letters = clocked.host.dead_letters("f");
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].error.code() == absl::StatusCode::kResourceExhausted);
  CHECK(mentions(letters[0].error, "max_pending_retries"));
  CHECK(stats_of(clocked.host, "f").events_pending == 2);
}

TEST_CASE("shutdown dead-letters the events waiting for a retry and reports them", "[retry]") {
  ClockedHost clocked;
  Attempts attempts;
  REQUIRE(clocked.host
              .register_function({.name = "f",
                                  .handler = failing_handler(attempts, absl::InternalError("x")),
                                  .retry = {.initial_backoff = absl::Minutes(1)}})
              .ok());
  for (int i = 0; i < 4; ++i) REQUIRE(clocked.host.invoke_async("f", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(clocked.host, "f").retries == 4; }));
  const fnhost::ShutdownReport report = clocked.host.shutdown(absl::Seconds(10));
  CHECK(report.retries_dead_lettered == 4);
  CHECK_FALSE(report.drained());
  const FunctionStats stats = stats_of(clocked.host, "f");
  CHECK(stats.events_dead_lettered == 4);
  CHECK(stats.events_pending == 0);
  for (const DeadLetter& letter : clocked.host.dead_letters("f")) {
    CHECK(letter.error.code() == absl::StatusCode::kUnavailable);
    CHECK(letter.attempts == 1);
    CHECK(mentions(letter.error, "last error"));
  }
  // Time moving on after shutdown redelivers nothing.
  clocked.clock->advance(absl::Hours(1));
  CHECK(attempts.count.load() == 4);
}

TEST_CASE("an event whose function is removed while it waits is dead-lettered", "[retry]") {
  ClockedHost clocked;
  Attempts attempts;
  REQUIRE(clocked.host
              .register_function({.name = "gone",
                                  .handler = failing_handler(attempts, absl::InternalError("x")),
                                  .retry = {.initial_backoff = absl::Seconds(1)}})
              .ok());
  REQUIRE(clocked.host.invoke_async("gone", Event::with_data("keep me")).ok());
  REQUIRE(wait_until([&] { return stats_of(clocked.host, "gone").retries == 1; }));
  REQUIRE(clocked.host.remove_function("gone").ok());
  clocked.clock->advance(absl::Seconds(1));
  REQUIRE(wait_until([&] { return clocked.host.dead_letter_count("gone") == 1; }));
  const DeadLetter letter = clocked.host.dead_letters("gone")[0];
  CHECK(letter.error.code() == absl::StatusCode::kNotFound);
  CHECK(letter.attempts == 1);
  CHECK(letter.event.data == "keep me");
}

TEST_CASE("a waiting retry costs at most 256 bytes with a small payload", "[retry]") {
  STATIC_REQUIRE(fnhost::detail::RetryQueue::kBytesPerWaiting <= 256);
}

TEST_CASE("retry, destination and idempotency settings are validated", "[retry]") {
  Host host = make_host();
  const auto handler = [](const Event&, Context&) -> Result { return ""; };
  struct Case {
    fnhost::FunctionSpec spec;
    const char* names;
  };
  std::vector<Case> cases;
  cases.push_back({{.name = "a", .handler = handler, .retry = {.max_attempts = 0}},
                   "retry: RetryPolicy: max_attempts"});
  cases.push_back(
      {{.name = "a", .handler = handler, .on_success = {.function = "x", .topic = "y"}},
       "on_success: set function or topic, not both"});
  cases.push_back({{.name = "a", .handler = handler, .on_failure = {.function = "bad name"}},
                   "on_failure.function"});
  cases.push_back(
      {{.name = "a", .handler = handler, .on_failure = {.topic = "a/+/b"}}, "on_failure.topic"});
  cases.push_back({{.name = "a", .handler = handler, .idempotency_window = absl::Seconds(-1)},
                   "idempotency_window"});
  cases.push_back({{.name = "a", .handler = handler, .idempotency_window = absl::Hours(24 * 8)},
                   "idempotency_window"});
  for (Case& c : cases) {
    const absl::Status status = host.register_function(std::move(c.spec));
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(mentions(status, c.names));
  }
  for (int depth : {0, 1001}) {
    HostOptions options = fnhost::testing::quiet_options();
    options.max_chain_depth = depth;
    const absl::Status status = Host::create(std::move(options)).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(mentions(status, "max_chain_depth"));
  }
  HostOptions options = fnhost::testing::quiet_options();
  options.max_pending_retries = 0;
  CHECK(mentions(Host::create(std::move(options)).status(), "max_pending_retries"));
}

}  // namespace
