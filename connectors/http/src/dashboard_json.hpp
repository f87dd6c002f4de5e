// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/dashboard_json.hpp).
// The body of GET /api/dashboard: what the dashboard page draws, from one metrics snapshot and
// the executor's recent samples. The README's "Dashboard" section documents its shape.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "executor_history.hpp"
#include "fnhost/metrics.hpp"

namespace fnhost::http::detail {

// Serialised JSON (valid UTF-8 whatever a name holds: invalid bytes become U+FFFD).
std::string dashboard_json(const HostMetrics& metrics, const std::vector<ExecutorSample>& history,
                           absl::Duration refresh);

}  // namespace fnhost::http::detail
