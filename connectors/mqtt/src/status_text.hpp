// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/status_text.hpp).
// A status's message as a std::string: Debian's absl::string_view is not std::string_view, and
// fmt cannot format it.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace fnhost::mqtt::detail {

inline std::string message_text(const absl::Status& status) {
  const absl::string_view message = status.message();
  return std::string(message.data(), message.size());
}

}  // namespace fnhost::mqtt::detail
