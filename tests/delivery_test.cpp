// SPDX-License-Identifier: Apache-2.0
// Tests for the delivery building blocks: RetryPolicy validation, which failures are retried,
// the full-jitter backoff, and the bounded in-memory dead-letter store.
#include "fnhost/delivery.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace {

using fnhost::DeadLetter;
using fnhost::DeadLetterStore;
using fnhost::RetryClass;
using fnhost::RetryPolicy;

bool mentions(const absl::Status& status, std::string_view text) {
  return std::string(status.message()).find(text) != std::string::npos;
}

TEST_CASE("the default retry policy is valid and each bad field is named", "[delivery]") {
  CHECK(fnhost::validate_retry_policy({}).ok());
  struct Case {
    RetryPolicy policy;
    const char* field;
  };
  const std::vector<Case> cases = {
      {{.max_attempts = 0}, "max_attempts"},
      {{.max_attempts = 101}, "max_attempts"},
      {{.initial_backoff = absl::ZeroDuration()}, "initial_backoff"},
      {{.initial_backoff = absl::InfiniteDuration()}, "initial_backoff"},
      {{.initial_backoff = absl::Seconds(2), .max_backoff = absl::Seconds(1)}, "max_backoff"},
      {{.max_backoff = absl::InfiniteDuration()}, "max_backoff"},
      {{.multiplier = 0.5}, "multiplier"},
      {{.multiplier = 1e9}, "multiplier"},
      {{.multiplier = std::nan("")}, "multiplier"},
      {{.max_event_age = absl::ZeroDuration()}, "max_event_age"},
  };
  for (const Case& c : cases) {
    const absl::Status status = fnhost::validate_retry_policy(c.policy);
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(mentions(status, c.field));
  }
  CHECK(fnhost::validate_retry_policy({.max_attempts = 1}).ok());
  CHECK(fnhost::validate_retry_policy({.max_event_age = absl::InfiniteDuration()}).ok());
}

TEST_CASE("failures are classified for retrying by code, or by the handler's mark", "[delivery]") {
  using absl::StatusCode;
  for (StatusCode code :
       {StatusCode::kInternal, StatusCode::kUnknown, StatusCode::kDeadlineExceeded,
        StatusCode::kUnavailable, StatusCode::kAborted, StatusCode::kDataLoss}) {
    CHECK(fnhost::retry_class(absl::Status(code, "x")) == RetryClass::kRetry);
  }
  CHECK(fnhost::retry_class(absl::ResourceExhaustedError("full")) == RetryClass::kThrottle);
  for (StatusCode code :
       {StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kPermissionDenied,
        StatusCode::kFailedPrecondition, StatusCode::kOutOfRange, StatusCode::kUnimplemented,
        StatusCode::kUnauthenticated, StatusCode::kAlreadyExists, StatusCode::kCancelled}) {
    CHECK(fnhost::retry_class(absl::Status(code, "x")) == RetryClass::kNever);
  }
  CHECK(fnhost::retry_class(absl::OkStatus()) == RetryClass::kNever);

  const absl::Status final_internal = fnhost::not_retryable(absl::InternalError("corrupt"));
  CHECK(final_internal.code() == absl::StatusCode::kInternal);
  CHECK(std::string(final_internal.message()) == "corrupt");
  CHECK(fnhost::retry_class(final_internal) == RetryClass::kNever);
  CHECK(fnhost::retry_class(fnhost::retryable(absl::InvalidArgumentError("later"))) ==
        RetryClass::kRetry);
  // The last mark wins; marking OK changes nothing.
  CHECK(fnhost::retry_class(fnhost::retryable(final_internal)) == RetryClass::kRetry);
  CHECK(fnhost::retryable(absl::OkStatus()).ok());
}

TEST_CASE("retry delays are full-jitter draws under an exponential, capped ceiling", "[delivery]") {
  const RetryPolicy policy{.max_attempts = 10,
                           .initial_backoff = absl::Milliseconds(100),
                           .max_backoff = absl::Seconds(1),
                           .multiplier = 2.0};
  CHECK(fnhost::retry_delay(policy, 1, 0) == absl::ZeroDuration());
  std::mt19937_64 random(42);
  for (int failed = 1; failed <= 8; ++failed) {
    const absl::Duration ceiling =
        std::min(absl::Seconds(1), absl::Milliseconds(100) * (1 << (failed - 1)));
    absl::Duration largest = absl::ZeroDuration();
    absl::Duration sum = absl::ZeroDuration();
    constexpr int kDraws = 4000;
    for (int i = 0; i < kDraws; ++i) {
      const absl::Duration delay = fnhost::retry_delay(policy, failed, random());
      REQUIRE(delay >= absl::ZeroDuration());
      REQUIRE(delay < ceiling);
      largest = std::max(largest, delay);
      sum += delay;
    }
    INFO("after " << failed << " failures, ceiling " << ceiling);
    // Uniform over [0, ceiling): the largest draw is close to it, the mean about half.
    CHECK(largest > ceiling * 0.95);
    const double mean_share = absl::FDivDuration(sum / kDraws, ceiling);
    CHECK(mean_share > 0.45);
    CHECK(mean_share < 0.55);
  }
  // Many failures never overflow past the cap.
  CHECK(fnhost::retry_delay(policy, 1'000'000, ~uint64_t{0}) <= absl::Seconds(1));
}

DeadLetter letter(std::string function, std::string data) {
  return DeadLetter{.function = std::move(function),
                    .event = fnhost::Event::with_data(std::move(data)),
                    .error = absl::InternalError("boom"),
                    .attempts = 3};
}

TEST_CASE("the memory dead-letter store keeps, lists, takes and bounds letters", "[delivery]") {
  std::shared_ptr<DeadLetterStore> store = fnhost::make_memory_dead_letter_store(3);
  absl::StatusOr<uint64_t> a = store->put(letter("resize", "1"));
  absl::StatusOr<uint64_t> b = store->put(letter("index", "2"));
  absl::StatusOr<uint64_t> c = store->put(letter("resize", "3"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(*a < *b);
  CHECK(*b < *c);
  absl::StatusOr<uint64_t> full = store->put(letter("resize", "4"));
  CHECK(full.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(store->count("") == 3);
  CHECK(store->count("resize") == 2);
  CHECK(store->count("missing") == 0);

  std::vector<DeadLetter> resize = store->list("resize", 10);
  REQUIRE(resize.size() == 2);
  CHECK(resize[0].id == *a);
  CHECK(resize[0].event.data == "1");
  CHECK(std::string(resize[0].error.message()) == "boom");
  CHECK(resize[0].attempts == 3);
  CHECK(resize[1].event.data == "3");
  CHECK(store->list("", 2).size() == 2);
  CHECK(store->list("", 0).empty());

  std::optional<DeadLetter> got = store->get(*b);
  REQUIRE(got.has_value());
  CHECK(got->function == "index");
  CHECK(!store->get(999).has_value());

  std::optional<DeadLetter> taken = store->take(*a);
  REQUIRE(taken.has_value());
  CHECK(taken->event.data == "1");
  CHECK(!store->take(*a).has_value());
  CHECK(store->count("resize") == 1);
  // Room again, and ids are not reused.
  absl::StatusOr<uint64_t> d = store->put(letter("resize", "5"));
  REQUIRE(d.ok());
  CHECK(*d > *c);
  CHECK(fnhost::make_memory_dead_letter_store(0)->put(letter("f", "x")).ok());
}

TEST_CASE("the memory dead-letter store is consistent under concurrent puts and takes",
          "[delivery][stress]") {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::shared_ptr<DeadLetterStore> store = fnhost::make_memory_dead_letter_store(1'000'000);
  std::atomic<int64_t> taken{0};
  std::atomic<int64_t> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string function = "f" + std::to_string(t % 2);
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<uint64_t> id = store->put(letter(function, std::to_string(i)));
        if (!id.ok()) {
          failures.fetch_add(1);
          continue;
        }
        if (i % 2 == 0) {
          if (store->take(*id).has_value()) {
            taken.fetch_add(1);
          } else {
            failures.fetch_add(1);
          }
        }
        (void)store->count(function);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures.load() == 0);
  CHECK(taken.load() == kThreads * kPerThread / 2);
  CHECK(store->count("") == kThreads * kPerThread / 2);
  CHECK(store->count("f0") + store->count("f1") == store->count(""));
  std::set<uint64_t> ids;
  for (const DeadLetter& kept : store->list("", 1'000'000)) ids.insert(kept.id);
  CHECK(static_cast<int64_t>(ids.size()) == store->count(""));
}

}  // namespace
