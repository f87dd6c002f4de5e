// SPDX-License-Identifier: Apache-2.0
// Internal (src/security/event_validation.hpp).
// The size checks every event passes before it is queued (HostLimits): its data against the
// sync or async payload limit, its extension count, and each attribute's length. Pure and
// allocation-free unless it refuses, so it runs on every admission and under a fuzzer alike.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "fnhost/event.hpp"
#include "fnhost/limits.hpp"

namespace fnhost::detail {

// Why check_event refused (for the host's counters).
enum class EventRefusal : uint8_t { kNone, kPayloadTooLarge, kAttributeTooLarge };

// OK if `event` is within `limits` (`sync`: Host::invoke's payload limit, else the asynchronous
// one). Otherwise InvalidArgument naming the limit, the attribute (quoted, at most 64 bytes of
// it) and the sizes, with `*refusal` saying which kind; `*refusal` is kNone on OK.
absl::Status check_event(const Event& event, const HostLimits& limits, bool sync,
                         EventRefusal* refusal);

// What an event counts against HostLimits::max_queued_bytes: its data and every attribute.
int64_t event_bytes(const Event& event);

}  // namespace fnhost::detail
