// SPDX-License-Identifier: Apache-2.0
// File: fnhost/router.hpp
// Triggers route published events to functions. A trigger binds an MQTT-style topic pattern,
// and optionally a Filter on the event's attributes, to a registered function;
// Host::publish queues one asynchronous invocation per matching trigger, all sharing one
// immutable copy of the event.
//
//   absl::StatusOr<fnhost::TriggerId> id = host.subscribe({
//       .pattern = "uploads/+/images/#",
//       .function = "thumbnail",
//       .filter = fnhost::Filter::suffix("subject", ".png")});
//   absl::Status published = host.publish({.subject = "cat.png",
//                                          .topic = "uploads/eu/images/2026"});
//
// Schedules invoke a function by the clock: `rate(5 minutes)`, a cron expression or a macro
// (see fnhost/schedule.hpp), in UTC. Schedule ids share the id space of triggers.
//
//   absl::StatusOr<fnhost::TriggerId> nightly = host.schedule({
//       .expression = "cron(0 2 * * *)",
//       .function = "compact",
//       .event = {.subject = "nightly"}});
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "fnhost/event.hpp"
#include "fnhost/filter.hpp"

namespace fnhost {

// Names a trigger; never reused by one host. 0 is never an id.
using TriggerId = uint64_t;

// What subscribe() binds. Field order is API: fields are only ever appended.
struct TriggerSpec {
  // Which topics: '/'-separated levels; a level "+" matches any one level; a last level "#"
  // matches the rest, including nothing ("a/#" matches "a" and "a/b/c"; "#" matches every
  // topic). Levels are non-empty; at most 1024 bytes and 64 levels.
  std::string pattern;
  // The function each matching event is queued for, asynchronously. Must be registered when
  // subscribing.
  std::string function;
  // Only events that pass it are delivered. Default: every event.
  Filter filter;
  // Optional: the name of an attribute (id, source, type, subject, datacontenttype, topic, or
  // an extension) whose value orders this trigger's events: events with the same value run one
  // at a time, in publish order, each after the previous one ended (succeeded, or was
  // dead-lettered after its retries); different values run in parallel. Events without the
  // attribute, and every event when this is empty, are not ordered. 1-64 of [A-Za-z0-9_.-].
  std::string ordering_key;
  // Batching: with batch_size >= 2, matching events are collected and the function is invoked
  // once per batch — when batch_size events are in, or batch_window after the first one came,
  // whichever is first (as Lambda reads SQS and Kinesis). The handler reads them with
  // Context::batch() and may fail single items with Context::fail_batch_item(). 0 or 1: one
  // invocation per event. 0..10000; not with ordering_key.
  int batch_size = 0;
  // 1 ms .. 5 min; used with batch_size >= 2.
  absl::Duration batch_window = absl::Seconds(1);
};

// One trigger as Host::triggers() lists it, with its counters.
struct TriggerInfo {
  TriggerId id = 0;
  std::string pattern;
  std::string function;
  std::string filter;        // Filter::to_string(); "all()" for every event
  int64_t delivered = 0;     // events it handed to its function (each then ends as a success
                             // or a dead letter)
  int64_t filtered_out = 0;  // events its pattern matched and its filter refused
  int64_t refused = 0;       // events its function refused (removed, shutting down): not taken
  int64_t throttled = 0;     // of the delivered, events that found the function's queue full
                             // and waited to be re-queued (no attempt used)
  std::string ordering_key;  // TriggerSpec::ordering_key
  int64_t ordered_waiting = 0;  // gauge: events waiting behind an earlier one of their key
  int batch_size = 0;           // TriggerSpec::batch_size (0: no batching)
  int64_t batches = 0;          // batch invocations it queued
  int64_t batched_waiting = 0;  // gauge: events collected for the next batch
};

// The router's counters (Host::router_stats()).
struct RouterStats {
  int64_t published = 0;   // events publish() accepted
  int64_t routed = 0;      // of those, events at least one trigger delivered or tried to
  int64_t unrouted = 0;    // events no trigger matched (after filters)
  int64_t catch_all = 0;   // unrouted events queued for the unrouted function
  int64_t deliveries = 0;  // events handed to functions by triggers
  int64_t refused = 0;     // deliveries a function refused (see TriggerInfo::refused)
  int64_t throttled = 0;   // deliveries (and catch-all events) that waited for a full queue
  int64_t triggers = 0;    // triggers subscribed now
};

// What a schedule's fire does when the previous run it queued is still queued or running.
enum class OverlapPolicy {
  // Skip this fire (counted in ScheduleInfo::skipped): at most one run of a schedule at a time.
  kSkip,
  // Queue it anyway: runs may overlap, up to the function's own limits.
  kQueue,
};

// What Host::schedule() sets up. Field order is API: fields are only ever appended.
struct ScheduleSpec {
  // When it fires: ScheduleExpression text (`rate(5 seconds)`, `cron(0 9 * * MON-FRI)`, the
  // bare cron fields, `@hourly` ...), UTC.
  std::string expression;
  // The function each fire queues an invocation of, asynchronously. Must be registered when
  // scheduling.
  std::string function;
  // The template of each fire's event, copied per fire: `time` is set to the fire time, and
  // an empty `id`, `type` or `source` becomes "<schedule id>-<fire number>", "fnhost.schedule"
  // or "fnhost/schedule/<schedule id>".
  Event event;
  // What a fire does while the previous run is still queued or running.
  OverlapPolicy overlap = OverlapPolicy::kSkip;
};

// One schedule as Host::schedules() lists it, with its counters.
struct ScheduleInfo {
  TriggerId id = 0;
  std::string expression;
  std::string function;
  // When it fires next (UTC); absl::InfiniteFuture() if never again (or stopped by shutdown).
  absl::Time next_fire = absl::InfiniteFuture();
  int64_t fired = 0;    // invocations it queued
  int64_t skipped = 0;  // fires skipped by OverlapPolicy::kSkip (the previous run had not ended)
  int64_t missed = 0;   // fire times passed over after a stall (one fire covered them)
  int64_t refused = 0;  // fires its function refused (removed, queue full, shutting down)
};

}  // namespace fnhost
