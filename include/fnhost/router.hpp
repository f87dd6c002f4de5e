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
#pragma once

#include <cstdint>
#include <string>

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
};

// One trigger as Host::triggers() lists it, with its counters.
struct TriggerInfo {
  TriggerId id = 0;
  std::string pattern;
  std::string function;
  std::string filter;        // Filter::to_string(); "all()" for every event
  int64_t delivered = 0;     // invocations it queued
  int64_t filtered_out = 0;  // events its pattern matched and its filter refused
  int64_t refused = 0;       // deliveries its function refused (removed, queue full, shut down)
};

// The router's counters (Host::router_stats()).
struct RouterStats {
  int64_t published = 0;   // events publish() accepted
  int64_t routed = 0;      // of those, events at least one trigger delivered or tried to
  int64_t unrouted = 0;    // events no trigger matched (after filters)
  int64_t catch_all = 0;   // unrouted events queued for the unrouted function
  int64_t deliveries = 0;  // invocations queued by triggers
  int64_t refused = 0;     // deliveries a function refused (see TriggerInfo::refused)
  int64_t triggers = 0;    // triggers subscribed now
};

}  // namespace fnhost
