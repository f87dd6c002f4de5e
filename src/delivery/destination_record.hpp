// SPDX-License-Identifier: Apache-2.0
// The event a destination receives: the original event plus the fnhost* attributes that
// fnhost/delivery.hpp documents (read back with read_destination_record()).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/event.hpp"

namespace fnhost::detail {

struct OutcomeFacts {
  bool success = false;
  std::string_view function;
  int attempts = 0;
  absl::Time first_accepted = absl::InfinitePast();
  absl::Time last_attempt = absl::InfinitePast();
  const std::string* result = nullptr;   // on success
  const absl::Status* error = nullptr;   // on failure
};

// `original` with the outcome's attributes, its topic set to `topic` (kept when empty).
Event make_destination_event(Event original, const OutcomeFacts& facts, const std::string& topic);

}  // namespace fnhost::detail
