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

namespace fnhost {

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
  // about 300 bytes besides its event). One more is refused with ResourceExhausted. 0: no
  // limit (only when asked for).
  int64_t max_queued_invocations = 1'000'000;
  // Bytes of the events of those queued invocations: data plus every attribute (each queued
  // delivery counts its event's size, so an event published to three triggers counts three
  // times). 0: no limit.
  int64_t max_queued_bytes = int64_t{512} * 1024 * 1024;
};

// Refusals by reason (HostMetrics::limits).
struct LimitStats {
  int64_t payload_too_large = 0;    // event data over max_sync/async_payload_bytes
  int64_t attribute_too_large = 0;  // an attribute over max_attribute_bytes, or too many extensions
  int64_t queued_invocations_full = 0;  // refused at max_queued_invocations
  int64_t queued_bytes_full = 0;        // refused at max_queued_bytes
  int64_t queued_invocations = 0;       // gauge: invocations counted against the bound now
  int64_t queued_bytes = 0;             // gauge: their bytes
};

}  // namespace fnhost
