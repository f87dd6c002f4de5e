// SPDX-License-Identifier: Apache-2.0
// File: fnhost/delivery.hpp
// Reliable asynchronous delivery: how a failed asynchronous invocation is retried
// (`RetryPolicy`, `retry_class`, `retry_delay`), where its outcome is sent (`Destination`, read
// back with `read_destination_record`), and where an event goes after its last attempt
// (`DeadLetter`, the `DeadLetterStore` interface, and a bounded in-memory store). A function's
// FunctionSpec names its policy and destinations; HostOptions names the store; Host lists and
// redrives dead letters.
//
//   fnhost::FunctionSpec spec{.name = "thumbnail", .handler = ...,
//                             .retry = {.max_attempts = 5},
//                             .on_failure = {.topic = "thumbnails/failed"}};
//   // A handler says its own error must not be retried:
//   return fnhost::not_retryable(absl::InternalError("corrupt image"));
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/event.hpp"

namespace fnhost {

// How a failed asynchronous invocation is retried. Field order is API: fields are only ever
// appended. Delays follow exponential backoff with full jitter (see retry_delay).
struct RetryPolicy {
  // Attempts in all, the first included: 1 means no retry. 1..100.
  int max_attempts = 3;
  // The backoff before the first retry, before jitter. > 0.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  // The cap on any backoff, before jitter. >= initial_backoff.
  absl::Duration max_backoff = absl::Minutes(1);
  // Each retry's backoff is the previous one's times this. 1..100.
  double multiplier = 2.0;
  // An event is not retried once this much time has passed since it was first accepted (the
  // failure that finds it too old is its last). > 0; absl::InfiniteDuration() for no limit.
  absl::Duration max_event_age = absl::Hours(6);
};

// InvalidArgument naming the field that is out of range; OK otherwise.
[[nodiscard]] absl::Status validate_retry_policy(const RetryPolicy& policy);

// What a failure means for retrying.
enum class RetryClass {
  kRetry,     // try again after a backoff, if attempts and age allow
  kNever,     // final: the event goes to the dead letters at once
  kThrottle,  // refused for capacity: re-queued after a backoff without using an attempt
};

// Classifies a failure: Internal, Unknown, DeadlineExceeded, Unavailable, Aborted and DataLoss
// are retried; ResourceExhausted is a throttle; every other code (InvalidArgument, NotFound,
// PermissionDenied, FailedPrecondition, OutOfRange, Unimplemented, Unauthenticated,
// AlreadyExists, Cancelled) is never retried. A status marked by retryable() or
// not_retryable() is classified by its mark instead. OK is kNever (nothing to retry).
[[nodiscard]] RetryClass retry_class(const absl::Status& status);

// Marks a handler's error as retryable or not, whatever its code. Returns `status` with a
// payload recording the mark (an OK status is returned unchanged).
[[nodiscard]] absl::Status retryable(absl::Status status);
[[nodiscard]] absl::Status not_retryable(absl::Status status);

// The delay before the retry that follows `failed_attempts` failed attempts (>= 1): a uniform
// draw, from `random_bits`, in [0, min(max_backoff, initial_backoff * multiplier^(n-1))) —
// "full jitter", which spreads retries of many failed events instead of synchronising them.
[[nodiscard]] absl::Duration retry_delay(const RetryPolicy& policy, int failed_attempts,
                                         uint64_t random_bits);

// Where a function's outcome goes (FunctionSpec::on_success / on_failure): to a function, queued
// asynchronously, or published to a topic. Both empty: nowhere. Field order is API.
struct Destination {
  // A function name; need not be registered yet (a delivery to a missing function is counted
  // in FunctionStats::destination_errors and logged).
  std::string function;
  // A topic (no wildcards) to publish to.
  std::string topic;

  [[nodiscard]] bool empty() const { return function.empty() && topic.empty(); }
};

// What a destination receives, as read_destination_record() decodes it. The destination's event
// is the original event (every attribute and its data) with its topic set to the destination
// topic (kept for a function destination), plus these extension attributes:
//   fnhostcondition      "success" or "failure"
//   fnhostfunction       the function whose outcome it is
//   fnhosttopic          the original event's topic (absent when it had none)
//   fnhostattempts       attempts made, e.g. "3"
//   fnhostfirstaccepted  RFC 3339 UTC time the event was first accepted
//   fnhostlastattempt    RFC 3339 UTC time its last attempt ended
//   fnhostresult         on success: the handler's response bytes
//   fnhosterrorcode      on failure: the absl::StatusCode number of the last error
//   fnhosterror          on failure: that error's message
struct DestinationRecord {
  bool success = false;
  std::string function;
  int attempts = 0;
  absl::Time first_accepted = absl::InfinitePast();
  absl::Time last_attempt = absl::InfinitePast();
  std::string result;   // success: the response
  absl::Status error;   // failure: the last error
  Event original;       // the event as accepted, without the fnhost* attributes above
};

// Decodes a destination's event. InvalidArgument naming the attribute if `event` is not one.
[[nodiscard]] absl::StatusOr<DestinationRecord> read_destination_record(const Event& event);

// An event that failed for good, with what is known about its failure.
struct DeadLetter {
  // Unique within one store; assigned by the store's put().
  uint64_t id = 0;
  // The function it was for.
  std::string function;
  // The event as first accepted.
  Event event;
  // The last attempt's error.
  absl::Status error;
  // Attempts made (throttles not counted).
  int attempts = 0;
  // When it was first accepted, and when its last attempt ended.
  absl::Time first_accepted = absl::InfinitePast();
  absl::Time last_attempt = absl::InfinitePast();
};

// Where dead letters are kept. The host calls put(); users list, inspect, delete and take
// them back (Host redrives what it takes). Implementations must be thread-safe; the host never
// calls them from its timer thread. Plug in a persistent one through HostOptions.
class DeadLetterStore {
 public:
  virtual ~DeadLetterStore() = default;
  // Keeps `letter` and returns its id. ResourceExhausted if the store is full: the letter is
  // not kept (the host counts and logs it).
  [[nodiscard]] virtual absl::StatusOr<uint64_t> put(DeadLetter letter) = 0;
  // Up to `limit` letters for `function` (every function when empty), oldest first.
  [[nodiscard]] virtual std::vector<DeadLetter> list(std::string_view function,
                                                     size_t limit) const = 0;
  // The letter with this id, if kept.
  [[nodiscard]] virtual std::optional<DeadLetter> get(uint64_t id) const = 0;
  // Removes and returns the letter with this id, if kept.
  [[nodiscard]] virtual std::optional<DeadLetter> take(uint64_t id) = 0;
  // Letters kept for `function` (every function when empty).
  [[nodiscard]] virtual int64_t count(std::string_view function) const = 0;
};

// How an accepted asynchronous event ended, for a caller that has to know before it lets go of
// its own copy: a connector acknowledging a broker's message (Host::invoke_async and
// Host::publish with an `on_settled` callback).
enum class Settlement : uint8_t {
  // It ran successfully, or its idempotency key had already succeeded (answered without
  // running). For publish: every delivery did, or no trigger took it (counted as unrouted).
  kSucceeded,
  // Its last attempt failed and it was dead-lettered (kept in the dead-letter store if the store
  // had room, and sent to on_failure) — also when its function was removed while it waited for
  // a retry. For publish: at least one delivery was, none dropped.
  kDeadLettered,
  // It ended without a success after shutdown began: dropped from a queue, cancelled at the
  // drain deadline, or failed while no retry could wait any more (each also goes to the
  // dead-letter store, as the host does at shutdown). A broker should deliver it again. For
  // publish: at least one delivery was.
  kDropped,
};

// What an `on_settled` callback is told.
struct SettledEvent {
  Settlement outcome = Settlement::kSucceeded;
  // kDeadLettered: the last attempt's error (for publish, the first dead-lettered delivery's);
  // kDropped: why it was dropped; OK otherwise.
  absl::Status error;
  // Attempts made (for publish, the most any delivery made); 0 when it never ran.
  int attempts = 0;
};

// Called exactly once, when an accepted event settles, on whichever host thread ended it (an
// executor thread, the timer thread, the thread calling Host::shutdown, or the caller's own
// thread when it settles during the call: a duplicate, or a publish no trigger took). Keep it
// short and non-blocking, and do not call the Host from it: hand the outcome to your own
// thread. An exception it throws is caught and dropped. Not called when the call that took the
// event refused it.
using SettledCallback = absl::AnyInvocable<void(const SettledEvent&)>;

// A DeadLetterStore in memory holding at most `capacity` letters (0 counts as 1); put() on a full
// store is ResourceExhausted. Thread-safe; list() and count() for one function cost O(its
// letters), ids are 1, 2, 3... in put() order.
[[nodiscard]] std::shared_ptr<DeadLetterStore> make_memory_dead_letter_store(
    size_t capacity = 10'000);

}  // namespace fnhost
