// SPDX-License-Identifier: Apache-2.0
// File: fnhost/limits.hpp
// What a host accepts at most (HostOptions::limits): the size of an event, of its attributes,
// and how many invocations — and how many bytes of their events — may wait in its queues at
// once, host-wide. Over a limit, the call is refused before anything is queued (InvalidArgument
// for input that is too large, ResourceExhausted for a full host), and counted by reason
// (HostMetrics::limits).
//
//   fnhost::HostOptions options;
//   options.limits.max_async_payload_bytes = 256 * 1024;
//   options.limits.max_queued_bytes = 64 << 20;
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fnhost {

// A token bucket: `per_second` calls on average, up to `burst` at once after a quiet spell.
// Over it, a call is refused with ResourceExhausted carrying a retry-after hint (retry_after()).
// Used for FunctionSpec::rate_limit (every invocation of the function, whoever calls) and
// HostOptions::principal_rate_limit / Host::set_rate_limit (every invoke and publish a
// principal makes). Field order is API: fields are only ever appended.
struct RateLimit {
  // Calls per second, on average. 0: no limit. 0..1e9 (fractions allowed: 0.5 is one call
  // every two seconds).
  double per_second = 0;
  // Calls allowed at once when the bucket is full. 1..1e9.
  int64_t burst = 1;

  friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

// How long to wait before a call refused by a rate limit would pass, if `status` is such a
// refusal (it carries the hint as a payload); nullopt for any other status.
[[nodiscard]] std::optional<absl::Duration> retry_after(const absl::Status& status);

// Field order is API: fields are only ever appended.
struct HostLimits {
  // Largest event data (the payload) Host::invoke (and Context::invoke) takes: Lambda's 6 MB.
  // >= 1.
  int64_t max_sync_payload_bytes = 6 * 1024 * 1024;
  // Largest event data invoke_async and publish (and their Context forms, and destinations)
  // take: 1 MB. >= 1.
  int64_t max_async_payload_bytes = 1024 * 1024;
  // Longest attribute (id, source, type, subject, datacontenttype, an extension's name or
  // value), in bytes. >= 1. Topics (1024) and idempotency keys (256) have their own limits.
  int64_t max_attribute_bytes = 4096;
  // Most extension attributes on one event. 0..10000.
  int64_t max_extensions = 64;
  // Invocations waiting in the host's queues at once, all functions together (each costs
  // about 300 bytes besides its event), with the accepted events waiting for a retry or behind
  // an earlier event of their ordering key. One more new call or publish is refused with
  // ResourceExhausted; an accepted event coming back from its wait is counted even past the
  // bound (README, "Input and queue limits"). 0: no limit (only when asked for).
  int64_t max_queued_invocations = 1'000'000;
  // Bytes of the events of those queued invocations: data plus every attribute (each queued
  // delivery counts its event's size, so an event published to three triggers counts three
  // times). 0: no limit.
  int64_t max_queued_bytes = int64_t{512} * 1024 * 1024;
  // Deliveries one publish may make: a publish whose topic matches more triggers than this is
  // refused whole (ResourceExhausted, nothing delivered), so one event cannot be amplified
  // without bound. 0: no limit.
  int64_t max_fanout = 10'000;
  // Calls one handler invocation may make through its Context (invoke, invoke_async and
  // publish together); one more is refused with ResourceExhausted. With max_chain_depth it
  // bounds how far one event can multiply. 0: no limit.
  int64_t max_calls_per_invocation = 10'000;
  // Distinct principals a host keeps (Host::caller, Host::set_rate_limit,
  // FunctionSpec::identity): each keeps its rate-limit state for the host's lifetime, so the
  // number is bounded. One more is refused with ResourceExhausted. >= 1.
  int64_t max_principals = 100'000;
};

// Refusals by reason (HostMetrics::limits).
struct LimitStats {
  int64_t payload_too_large = 0;    // event data over max_sync/async_payload_bytes
  int64_t attribute_too_large = 0;  // an attribute over max_attribute_bytes, or too many extensions
  int64_t queued_invocations_full = 0;        // refused at max_queued_invocations
  int64_t queued_bytes_full = 0;              // refused at max_queued_bytes
  int64_t queued_invocations = 0;             // gauge: invocations counted against the bound now
  int64_t queued_bytes = 0;                   // gauge: their bytes
  int64_t function_rate_limited = 0;          // refused by a function's rate_limit
  int64_t principal_rate_limited = 0;         // refused by a principal's rate limit
  int64_t fanout_exceeded = 0;                // publishes refused at max_fanout
  int64_t calls_per_invocation_exceeded = 0;  // handler calls refused at max_calls_per_invocation
};

// Access checks (Host::set_policy) that refused a call, by reason (HostMetrics::access).
struct AccessStats {
  int64_t denied_explicitly = 0;  // a deny statement matched
  int64_t denied_implicitly = 0;  // no statement allowed it
  // Of the policy installed now, how many denials each statement decided, in statement order
  // (id, count); implicit denials are in denied_implicitly only.
  std::vector<std::pair<std::string, int64_t>> denials_by_statement;
};

}  // namespace fnhost
