// SPDX-License-Identifier: Apache-2.0
// Redacting secret env values (FunctionSpec::secret_env) from a function's log records.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fnhost/function.hpp"

namespace fnhost::detail {

inline constexpr std::string_view kRedacted = "[redacted]";

// The non-empty values of `spec.env` that `spec.secret_env` names, longest first (so a secret
// that contains another is redacted whole); null when there are none.
std::shared_ptr<const std::vector<std::string>> secret_values(const FunctionSpec& spec);

// `message` with every occurrence of each of `secrets` (longest first) replaced by kRedacted.
std::string redact(std::string_view message, const std::vector<std::string>& secrets);

}  // namespace fnhost::detail
